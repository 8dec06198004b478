/**
 * Peer-to-peer transfer with real processes: two trackers, seeding and downloading
 * clients driven through their scripted mode. Byte-identical results; seeders, trackers
 * and the downloader itself killed mid-transfer; a leecher that serves what it has; a
 * non-member refused by the tracker and by the peers.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ScriptedClient } from '../../src/demo/scripted-client.js';
import { PROGRESS_FLUSH_INTERVAL_MS } from '../../src/client/piece-store.js';
import { encodeHandshake } from '../../src/wire/peer-frames.js';
import { CLIENT_BIN, Cluster, freePort, waitFor } from '../helpers/cluster.js';

const MiB = 1024 * 1024;
let cluster: Cluster | undefined;
let clients: ScriptedClient[] = [];

afterEach(async () => {
  await Promise.all(clients.map((c) => c.kill('SIGKILL')));
  clients = [];
  await cluster?.destroy();
  cluster = undefined;
});

interface Swarm {
  cluster: Cluster;
  file: string;
  sha1: string;
  owner: ScriptedClient;
  seeders: ScriptedClient[];
}

async function client(c: Cluster, name: string, opts: { port?: number; args?: string[]; create?: boolean } = {}): Promise<ScriptedClient> {
  const port = opts.port ?? (await freePort());
  const sc = new ScriptedClient(CLIENT_BIN, `127.0.0.1:${port}`, c.infoFile, ['--state-dir', join(c.dir, `state-${name}-${port}`), ...(opts.args ?? [])], c.dir);
  clients.push(sc);
  if (opts.create !== false) await sc.must(`create_user ${name} pw`);
  await sc.must(`login ${name} pw`);
  return sc;
}

/** Two trackers, `seeders` clients sharing one random file of `sizeMiB` in group g. */
async function swarm(seeders: number, sizeMiB: number, seederArgs: string[] = []): Promise<Swarm> {
  const c = await Cluster.create(2);
  cluster = c;
  await c.start(1);
  await c.start(2);
  const file = join(c.dir, 'data.bin');
  const content = randomBytes(sizeMiB * MiB);
  writeFileSync(file, content);
  const sha1 = createHash('sha1').update(content).digest('hex');
  const list: ScriptedClient[] = [];
  for (let i = 0; i < seeders; i++) list.push(await client(c, `seed${i}`, { args: seederArgs }));
  const owner = list[0]!;
  await owner.must('create_group g');
  for (let i = 1; i < seeders; i++) {
    await list[i]!.must('join_group g');
    await owner.must(`accept_request g seed${i}`);
  }
  for (const s of list) await s.must(`upload_file ${file} g`);
  return { cluster: c, file, sha1, owner, seeders: list };
}

async function member(s: Swarm, name: string, opts: { port?: number; args?: string[] } = {}): Promise<ScriptedClient> {
  const c = await client(s.cluster, name, opts);
  await c.must('join_group g');
  await s.owner.must(`accept_request g ${name}`);
  return c;
}

function sha1File(path: string): string {
  return createHash('sha1').update(readFileSync(path)).digest('hex');
}

async function progress(c: ScriptedClient): Promise<{ status: string; piecesDone: number; pieceCount: number } | undefined> {
  const r = await c.send('show_downloads');
  return (r.data as { status: string; piecesDone: number; pieceCount: number }[] | undefined)?.[0];
}

async function untilFraction(c: ScriptedClient, fraction: number): Promise<void> {
  await waitFor(`download at ${fraction * 100}%`, async () => {
    const p = await progress(c);
    return p && p.status === 'downloading' && p.piecesDone >= p.pieceCount * fraction ? true : undefined;
  }, 30_000, 50);
}

function dest(s: Swarm, name: string): string {
  const dir = join(s.cluster.dir, `dl-${name}`);
  mkdirSync(dir, { recursive: true });
  return dir;
}

describe('transfer between real client processes', () => {
  it('three seeders, one leecher: byte-identical, pieces drawn from all three, then it seeds', async () => {
    const s = await swarm(3, 24);
    const leecher = await member(s, 'leech');
    await leecher.must(`download_file g data.bin ${dest(s, 'leech')}`);
    const done = await leecher.waitForEvent('download_done');
    expect(sha1File(String(done.path))).toBe(s.sha1);
    for (const seeder of s.seeders) {
      const rows = (await seeder.must('show_shares')) as { name: string; piecesServed: number }[];
      expect(rows.find((r) => r.name === 'data.bin')!.piecesServed).toBeGreaterThan(0);
    }
    const files = (await leecher.must('list_files g')) as { seeders: number }[];
    expect(files[0]!.seeders).toBe(4);
  });

  it('a seeder killed mid-download costs only its pieces in flight', async () => {
    const s = await swarm(3, 24, ['--max-upload-rate', '4M']);
    const leecher = await member(s, 'leech');
    await leecher.must(`download_file g data.bin ${dest(s, 'leech')}`);
    await untilFraction(leecher, 0.25);
    await s.seeders[1]!.kill('SIGKILL');
    const done = await leecher.waitForEvent('download_done');
    expect(sha1File(String(done.path))).toBe(s.sha1);
  });

  it('the tracker dying mid-download does not interrupt the transfer', async () => {
    const s = await swarm(2, 16, ['--max-upload-rate', '4M']);
    const leecher = await member(s, 'leech');
    await leecher.must(`download_file g data.bin ${dest(s, 'leech')}`);
    await untilFraction(leecher, 0.2);
    await s.cluster.kill(1, 'SIGKILL');
    const done = await leecher.waitForEvent('download_done');
    expect(sha1File(String(done.path))).toBe(s.sha1);
    await leecher.waitForEvent('tracker_switched', 5_000);
  });

  it('a second leecher downloads from the first while the first is still downloading', async () => {
    const s = await swarm(1, 16, ['--max-upload-rate', '3M']);
    const first = await member(s, 'first');
    await first.must(`download_file g data.bin ${dest(s, 'first')}`);
    await untilFraction(first, 0.3);
    const second = await member(s, 'second');
    await second.must(`download_file g data.bin ${dest(s, 'second')}`);
    const done2 = await second.waitForEvent('download_done');
    expect(sha1File(String(done2.path))).toBe(s.sha1);
    const served = (await first.must('show_shares')) as { name: string; piecesServed: number }[];
    expect(served.find((r) => r.name === 'data.bin')!.piecesServed).toBeGreaterThan(0);
    const done1 = await first.waitForEvent('download_done');
    expect(sha1File(String(done1.path))).toBe(s.sha1);
  });

  it('a downloader killed mid-download resumes from its verified pieces after a restart', async () => {
    const s = await swarm(2, 32, ['--max-upload-rate', '3M']);
    const port = await freePort();
    let leecher = await member(s, 'leech', { port });
    await leecher.must(`download_file g data.bin ${dest(s, 'leech')}`);
    await untilFraction(leecher, 0.4);
    // Progress is recorded at most once per PROGRESS_FLUSH_INTERVAL_MS: let one record land.
    await new Promise((r) => setTimeout(r, PROGRESS_FLUSH_INTERVAL_MS + 300));
    await leecher.kill('SIGKILL');
    leecher = await client(s.cluster, 'leech', { port, create: false });
    // The first reading with any piece is already past what it had before the kill: resumed, not restarted.
    const first = await waitFor('the resumed download to report progress', async () => {
      const p = await progress(leecher);
      return p && p.piecesDone > 0 ? p : undefined;
    });
    expect(first.piecesDone).toBeGreaterThan(first.pieceCount * 0.3);
    const done = await leecher.waitForEvent('download_done');
    expect(sha1File(String(done.path))).toBe(s.sha1);
  });

  it('a non-member is refused by the tracker, and a peer refuses a connection without a valid ticket', async () => {
    const s = await swarm(1, 2);
    const outsider = await client(s.cluster, 'outsider');
    const r = await outsider.send(`download_file g data.bin ${dest(s, 'outsider')}`);
    expect(r.error?.code).toBe('NOT_MEMBER');
    expect((await outsider.send('list_files g')).error?.code).toBe('NOT_MEMBER');
    // Straight to the seeder's peer port, with a forged ticket: it closes the connection and sends no piece.
    const [host, port] = s.owner.address.split(':');
    const received = await new Promise<Buffer>((resolve) => {
      const socket = connect(Number(port), host!, () => socket.write(encodeHandshake(s.sha1, 'forged.ticket')));
      const chunks: Buffer[] = [];
      socket.on('data', (d) => chunks.push(d));
      socket.on('close', () => resolve(Buffer.concat(chunks)));
      socket.on('error', () => undefined);
      setTimeout(() => socket.destroy(), 5_000);
    });
    expect(received.length).toBeLessThan(64); // at most a REJECT frame, never a piece
  });
});
