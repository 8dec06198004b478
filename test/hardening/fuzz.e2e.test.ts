/**
 * Guarantee 7 under a fuzzer: FUZZ_CASES (default 100,000) random and mutated frames,
 * from a seeded PRNG (FUZZ_SEED), at every listener of a real cluster: /client and
 * /replicate on both trackers, and the peer port of a real client process. Throughout,
 * honest clients use both trackers and the peer (every command must succeed); at the end
 * no process has crashed, their memory is bounded, and the trackers' state hash is what
 * it was. Frames that cannot legitimately change state only: the fuzzing connections are
 * anonymous, or logged in and limited to well-formed reads (see fuzz-frames.ts).
 */
import { createHash, randomBytes } from 'node:crypto';
import { connect } from 'node:net';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ScriptedClient } from '../../src/demo/scripted-client.js';
import { PIECE_SIZE } from '../../src/wire/manifest.js';
import { encodeHandshake, encodeRequest } from '../../src/wire/peer-frames.js';
import { CLIENT_BIN, Cluster, freePort } from '../helpers/cluster.js';
import { clientFrame, Gen, peerBadHandshake, peerBenignFrame, peerHostileFrame, replicationFrame, type ClientFrame } from './fuzz-frames.js';
import { loginTo, MiB, peerExchange, prng, quiescentHash, rssOf, type TrackerConnection } from './kit.js';

const CASES = Number(process.env.FUZZ_CASES ?? 100_000);
const SEED = Number(process.env.FUZZ_SEED ?? 7_2024);
const ATTACKER = '127.0.0.2';
/** Shares of the cases per listener. */
const SHARE = { client: 0.72, replicate: 0.04, peer: 0.24 };
/** Growth of a process's RSS over the whole run that counts as unbounded. */
const MAX_RSS_GROWTH = 200 * MiB;
const FILE_SIZE = PIECE_SIZE + 5_000; // the last piece is small: requests for it are cheap

let cluster: Cluster;
let seeder: ScriptedClient;
let seederPort: number;
let sha1: string;
const honest: TrackerConnection[] = [];

beforeAll(async () => {
  cluster = await Cluster.create(2);
  await Promise.all([cluster.start(1), cluster.start(2)]);
  const bytes = randomBytes(FILE_SIZE);
  const path = join(cluster.dir, 'f.bin');
  writeFileSync(path, bytes);
  sha1 = createHash('sha1').update(bytes).digest('hex');
  seederPort = await freePort();
  seeder = new ScriptedClient(CLIENT_BIN, `127.0.0.1:${seederPort}`, cluster.infoFile, ['--state-dir', join(cluster.dir, 'seeder')], cluster.dir);
  for (const line of ['create_user alice Real-Pass-9f2c', 'login alice Real-Pass-9f2c', 'create_group g', `upload_file ${path} g`]) await seeder.must(line);
  for (const t of [1, 2]) {
    const c = await loginTo(cluster, t, `honest${t}`, 'Honest-Pass-77', `127.0.0.1:${await freePort()}`, true);
    honest.push(c);
    await c.request('join_group', { group: 'g' });
    await seeder.must(`accept_request g honest${t}`);
    await c.request('create_user', { user: `fuzzer${t}`, password: 'Fuzz-Pass-1' });
  }
}, 60_000);
afterAll(async () => {
  for (const c of honest) c.close();
  await seeder?.kill('SIGKILL');
  await cluster?.destroy();
});

/** Counts what was sent and what the honest side saw. */
const tally = { client: 0, replicate: 0, peer: 0, clientConnections: 0, replicateConnections: 0, peerConnections: 0, honestOk: 0, honestFailed: [] as string[], honestPeerOk: 0 };

// ------------------------------------------------------------------ /client

class FuzzSocket {
  private waiting: ((ok: boolean) => void) | undefined;
  closed = false;
  private constructor(readonly ws: WebSocket) {
    ws.on('message', (d) => {
      if ((JSON.parse(d.toString()) as { id: number }).id === 0x7fff_ffff) this.waiting?.(true);
    });
    ws.on('error', () => undefined);
    ws.on('close', () => ((this.closed = true), this.waiting?.(false)));
  }
  static async open(port: number): Promise<FuzzSocket> {
    for (;;) {
      const ws = new WebSocket(`ws://127.0.0.1:${port}/client`, { localAddress: ATTACKER, maxPayload: 64 * MiB });
      const ok = await new Promise<boolean>((r) => (ws.once('open', () => r(true)), ws.once('error', () => r(false))));
      if (ok) {
        tally.clientConnections++;
        return new FuzzSocket(ws);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  send(frame: ClientFrame): void {
    this.ws.send(frame.data, { binary: frame.binary });
  }
  /** A ping after the batch: resolves true when answered, false if the tracker closed the socket. */
  sync(): Promise<boolean> {
    if (this.closed) return Promise.resolve(false);
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), 10_000);
      this.waiting = (ok) => (clearTimeout(timer), (this.waiting = undefined), resolve(ok));
      this.ws.send(JSON.stringify({ id: 0x7fff_ffff, op: 'ping', args: {} }));
    });
  }
}

/** Sends `count` frames to tracker `id`: batches of non-fatal frames, each maybe ending with a fatal one. */
async function fuzzClient(g: Gen, id: number, count: number, loggedInSocket?: FuzzSocket): Promise<void> {
  const port = cluster.trackers[id - 1]!.port;
  const loggedIn = loggedInSocket !== undefined;
  let socket = loggedInSocket ?? (await FuzzSocket.open(port));
  let sent = 0;
  while (sent < count) {
    let fatal = false;
    for (let i = 0; i < 50 && sent < count && !fatal; i++) {
      const frame = clientFrame(g, loggedIn, 'alice');
      if (frame.fatal && loggedIn) continue; // fatal frames go to anonymous connections: this one must stay open
      socket.send(frame);
      sent++;
      fatal = frame.fatal;
    }
    const alive = await socket.sync();
    if (!alive) {
      expect(loggedIn, 'the logged-in fuzz connection was closed').toBe(false);
      socket.ws.terminate();
      socket = await FuzzSocket.open(port);
    }
  }
  tally.client += sent;
  if (!loggedIn) socket.ws.terminate();
}

/** A fuzz connection logged in as fuzzer<id> (before the baseline: logging in is an event). */
async function loggedInSocket(id: number): Promise<FuzzSocket> {
  const socket = await FuzzSocket.open(cluster.trackers[id - 1]!.port);
  const reply = await new Promise<string>((resolve) => {
    socket.ws.once('message', (d) => resolve(d.toString()));
    socket.ws.send(JSON.stringify({ id: 1, op: 'login', args: { user: `fuzzer${id}`, password: 'Fuzz-Pass-1', peer: `127.0.0.2:${9000 + id}` } }));
  });
  expect(JSON.parse(reply)).toMatchObject({ ok: true });
  return socket;
}

// ------------------------------------------------------------------ /replicate

async function fuzzReplicate(g: Gen, count: number): Promise<void> {
  let sent = 0;
  while (sent < count) {
    const id = 1 + g.int(2);
    const ws = new WebSocket(`ws://127.0.0.1:${cluster.trackers[id - 1]!.port}/replicate`, { localAddress: ATTACKER });
    ws.on('error', () => undefined);
    const opened = await new Promise<boolean>((r) => (ws.once('open', () => r(true)), ws.once('error', () => r(false)), ws.once('unexpected-response', () => r(false))));
    if (!opened) {
      ws.terminate();
      await new Promise((r) => setTimeout(r, 20));
      continue;
    }
    tally.replicateConnections++;
    const closed = new Promise<void>((r) => ws.once('close', () => r()));
    for (let n = 1 + g.int(4); n > 0 && sent < count; n--) {
      const frame = replicationFrame(g, 3 - id);
      ws.send(frame.data, { binary: frame.binary });
      sent++;
    }
    await Promise.race([closed, new Promise((r) => setTimeout(r, 300))]);
    ws.terminate();
  }
  tally.replicate += sent;
}

// ------------------------------------------------------------------ peer TCP

async function fuzzPeer(g: Gen, count: number, ticket: string): Promise<void> {
  let sent = 0;
  while (sent < count) {
    const frames: Buffer[] = [];
    if (g.chance(0.15)) frames.push(peerBadHandshake(g, sha1, ticket));
    else {
      frames.push(encodeHandshake(sha1, ticket));
      for (let n = g.int(30); n > 0; n--) frames.push(peerBenignFrame(g, 2));
      if (g.chance(0.8)) frames.push(peerHostileFrame(g, 2, sha1, ticket));
    }
    const take = frames.slice(0, count - sent);
    sent += take.length;
    tally.peerConnections++;
    await new Promise<void>((resolve) => {
      const socket = connect({ port: seederPort, host: '127.0.0.1', localAddress: ATTACKER });
      socket.on('error', () => undefined);
      socket.on('data', () => undefined); // read and drop what it serves
      socket.once('connect', () => socket.end(Buffer.concat(take)));
      const timer = setTimeout(() => socket.destroy(), 300);
      socket.once('close', () => (clearTimeout(timer), resolve()));
    });
  }
  tally.peer += sent;
}

// ------------------------------------------------------------------ honest users

async function honestUsers(done: () => boolean, ticket: () => Promise<string>): Promise<void> {
  const trackers = (async () => {
    for (let i = 0; !done(); i++) {
      for (const c of honest) {
        const [op, args] = ([['list_groups', {}], ['list_files', { group: 'g' }], ['download_file', { group: 'g', name: 'f.bin' }]] as const)[i % 3]!;
        try {
          await c.request(op, args as never);
          tally.honestOk++;
        } catch (error) {
          tally.honestFailed.push(`${op}: ${(error as Error).message}`);
        }
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  })();
  const peer = (async () => {
    while (!done()) {
      const r = await peerExchange(seederPort, [encodeHandshake(sha1, await ticket()), encodeRequest(1)], { waitMs: 400 });
      if (r.messages.includes('bitfield') && r.messages.includes('piece')) tally.honestPeerOk++;
      else tally.honestFailed.push(`peer: ${JSON.stringify(r)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  await Promise.all([trackers, peer]);
}

describe('fuzzing every listener', () => {
  it(`${CASES} frames (seed ${SEED}): no crash, bounded memory, unchanged state, honest users served`, async () => {
    const ticketOf = async (): Promise<string> => ((await honest[0]!.request('download_file', { group: 'g', name: 'f.bin' })) as { ticket: string }).ticket;
    const fuzzTicket = await ticketOf();
    const pids = { 'tracker 1': cluster.trackers[0]!.proc!.pid!, 'tracker 2': cluster.trackers[1]!.proc!.pid!, seeder: seeder.pid! };
    const fuzzLoggedIn = [await loggedInSocket(1), await loggedInSocket(2)];
    const before = await quiescentHash(cluster);
    const marks = [1, 2].map(lastEventId);
    let reconnects = 0;
    for (const c of honest) c.on('up', () => reconnects++);
    const rssBefore = Object.fromEntries(Object.entries(pids).map(([k, pid]) => [k, rssOf(pid)]));
    const started = Date.now();

    const g = (n: number): Gen => new Gen(prng(SEED + n));
    const perClientRun = Math.floor((CASES * SHARE.client) / 6);
    const replicateCases = Math.floor(CASES * SHARE.replicate);
    const peerCases = CASES - 6 * perClientRun - replicateCases;
    let finished = false;
    const users = honestUsers(() => finished, ticketOf);
    await Promise.all([
      ...[1, 2].flatMap((id) => [fuzzClient(g(id), id, perClientRun), fuzzClient(g(10 + id), id, perClientRun), fuzzClient(g(20 + id), id, perClientRun, fuzzLoggedIn[id - 1])]),
      fuzzReplicate(g(30), replicateCases),
      fuzzPeer(g(40), Math.ceil(peerCases / 2), fuzzTicket),
      fuzzPeer(g(41), Math.floor(peerCases / 2), fuzzTicket),
    ]);
    finished = true;
    await users;
    const fuzzMs = Date.now() - started;

    for (const s of fuzzLoggedIn) expect(await s.sync(), 'a logged-in fuzz connection was dropped').toBe(true);
    const after = await quiescentHash(cluster);
    const appended = [1, 2].flatMap((id) => eventsSince(id, marks[id - 1]!));
    const rssAfter = Object.fromEntries(Object.entries(pids).map(([k, pid]) => [k, rssOf(pid)]));
    const total = tally.client + tally.replicate + tally.peer;
    console.log(JSON.stringify({ seed: SEED, cases: total, fuzzMs, ...tally, honestFailed: tally.honestFailed.length, rssBeforeMiB: mib(rssBefore), rssAfterMiB: mib(rssAfter) }));

    expect(total).toBe(CASES);
    expect(cluster.trackers.map((t) => t.proc!.exitCode)).toEqual([null, null]);
    expect((await seeder.send('list_groups')).ok).toBe(true);
    expect(tally.honestFailed).toEqual([]);
    expect(tally.honestOk).toBeGreaterThan(10);
    expect(tally.honestPeerOk).toBeGreaterThan(3);
    // No fuzz frame appended an event. The only events allowed are an honest client's own
    // reconnection (session_lost + session_resumed: its heartbeat gave up on a busy machine).
    const honestSessions = new Set([1, 2].flatMap((id) => sessionsOf(id, ['alice', 'honest1', 'honest2'])));
    const lifecycle = appended.filter((e) => /^tracker \d holds \d+:\d+ session_(lost|resumed) /.test(e) && honestSessions.has(/"session":"([0-9a-f]+)"/.exec(e)?.[1] ?? ''));
    expect(appended.filter((e) => !lifecycle.includes(e)), `events appended during the fuzz (honest reconnects: ${reconnects})`).toEqual([]);
    if (lifecycle.length === 0) expect(after).toBe(before);
    else console.log(`fuzz: the state hash moved only by honest clients reconnecting: ${lifecycle.join('; ')}`);
    for (const [name, rss] of Object.entries(rssAfter)) expect(rss - rssBefore[name]!, `${name} RSS growth`).toBeLessThan(MAX_RSS_GROWTH);
    for (const s of fuzzLoggedIn) s.ws.close();
  }, 300_000);
});

function lastEventId(id: number): number {
  const db = new Database(join(cluster.trackers[id - 1]!.dataDir, 'events.db'), { readonly: true, fileMustExist: true });
  try {
    return (db.prepare('SELECT max(id) AS id FROM events').get() as { id: number }).id;
  } finally {
    db.close();
  }
}

/** Session ids of these users' logins, from the log. */
function sessionsOf(id: number, users: string[]): string[] {
  const db = new Database(join(cluster.trackers[id - 1]!.dataDir, 'events.db'), { readonly: true, fileMustExist: true });
  try {
    const rows = db.prepare("SELECT data FROM events WHERE type = 'session_started'").all() as { data: string }[];
    return rows.map((r) => JSON.parse(r.data) as { session: string; user: string }).filter((d) => users.includes(d.user)).map((d) => d.session);
  } finally {
    db.close();
  }
}

function eventsSince(id: number, after: number): string[] {
  const db = new Database(join(cluster.trackers[id - 1]!.dataDir, 'events.db'), { readonly: true, fileMustExist: true });
  try {
    return (db.prepare('SELECT origin, seq, type, data FROM events WHERE id > ? ORDER BY id').all(after) as { origin: number; seq: number; type: string; data: string }[]).map(
      (e) => `tracker ${id} holds ${e.origin}:${e.seq} ${e.type} ${e.data.slice(0, 120)}`,
    );
  } finally {
    db.close();
  }
}

function mib(values: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(values).map(([k, v]) => [k, Math.round(v / MiB)]));
}
