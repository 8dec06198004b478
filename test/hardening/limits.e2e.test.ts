/**
 * Resource limits against hostile clients, on real processes:
 * - /client: a slowloris (connections that send nothing, or headers that never end) is cut
 *   off after --handshake-timeout; one address gets at most --max-connections-per-address,
 *   the tracker at most --max-connections; a WebSocket that sends nothing for
 *   --idle-timeout is closed, while a real client (it pings) stays; requests pipelined on
 *   one connection are throttled by backpressure, never refused; a client that does not
 *   read its replies is dropped before they pile up in the tracker's memory; an error
 *   never echoes more than a few characters of the request.
 * - the peer port of a real client process: connections that send nothing are closed
 *   after the peer server's HANDSHAKE_TIMEOUT_MS, one address gets at most
 *   MAX_CONNECTIONS_PER_ADDRESS, and an honest peer is served throughout.
 * The attackers connect from other loopback addresses (127.0.0.2, ...), so the honest
 * client on 127.0.0.1 shows what a legitimate user sees.
 */
import { randomBytes, createHash } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ScriptedClient } from '../../src/demo/scripted-client.js';
import { HANDSHAKE_TIMEOUT_MS as PEER_HANDSHAKE_TIMEOUT_MS, MAX_CONNECTIONS_PER_ADDRESS as PEER_PER_ADDRESS } from '../../src/client/peer-server.js';
import { MAX_PENDING_REQUESTS } from '../../src/tracker/limits.js';
import { MAX_ECHO } from '../../src/wire/client-protocol.js';
import { PIECE_SIZE } from '../../src/wire/manifest.js';
import { encodeHandshake, RejectReason } from '../../src/wire/peer-frames.js';
import { CLIENT_BIN, Cluster, freePort, waitFor } from '../helpers/cluster.js';
import { loginTo, MiB, outcome, peerExchange, RawClient, rssOf, syntheticFile, type TrackerConnection } from './kit.js';

const PER_ADDRESS = 8;
const TOTAL = 40;
let cluster: Cluster;
let port: number;
let honest: TrackerConnection;

beforeAll(async () => {
  cluster = await Cluster.create(1);
  await cluster.start(1, ['--handshake-timeout', '1', '--idle-timeout', '2', '--max-connections-per-address', String(PER_ADDRESS), '--max-connections', String(TOTAL)]);
  port = cluster.trackers[0]!.port;
  honest = await loginTo(cluster, 1, 'honest', 'pw', '127.0.0.1:7001', true);
  await honest.request('create_group', { group: 'hg' });
}, 30_000);
afterAll(async () => {
  honest?.close();
  await cluster?.destroy();
});

/** A TCP connection from `localAddress` that sends `first` (or nothing); resolves when it is open. */
function rawSocket(localAddress: string, first?: string): Promise<{ socket: Socket; closedAt: Promise<number>; received: () => string }> {
  return new Promise((resolve, reject) => {
    let received = '';
    const socket = connect({ port, host: '127.0.0.1', localAddress });
    const closedAt = new Promise<number>((r) => socket.once('close', () => r(Date.now())));
    socket.on('data', (d: Buffer) => (received += d.toString()));
    socket.on('error', () => undefined);
    socket.once('connect', () => {
      if (first) socket.write(first);
      resolve({ socket, closedAt, received: () => received });
    });
    socket.once('error', reject);
  });
}

function wsFrom(localAddress: string): Promise<WebSocket | undefined> {
  return new Promise((resolve) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/client`, { localAddress });
    ws.once('open', () => resolve(ws));
    ws.once('error', () => resolve(undefined));
    ws.once('unexpected-response', () => (ws.terminate(), resolve(undefined)));
  });
}

describe('tracker /client limits', () => {
  it('a slowloris is cut off after the handshake timeout and capped per address; the honest client keeps working', async () => {
    const started = Date.now();
    const silent = await Promise.all(Array.from({ length: 20 }, () => rawSocket('127.0.0.2')));
    const dripping = await rawSocket('127.0.0.3', 'GET /client HTTP/1.1\r\nHost: x\r\n'); // headers that never end
    expect(await outcome(honest, 'list_groups', {})).toBe('ok');
    const closed = await Promise.all([...silent, dripping].map((s) => s.closedAt));
    expect(Math.max(...closed) - started).toBeLessThan(4_000);
    // Past the per-address cap: refused at once with 503; the rest: closed by the timeout.
    const busy = silent.filter((s) => s.received().startsWith('HTTP/1.1 503'));
    expect(busy).toHaveLength(20 - PER_ADDRESS);
    expect(await outcome(honest, 'list_groups', {})).toBe('ok');
    const fresh = await loginTo(cluster, 1, 'honest', 'pw', '127.0.0.1:7002');
    expect(await outcome(fresh, 'list_files', { group: 'hg' })).toBe('ok');
    fresh.close();
  }, 15_000);

  it('a WebSocket that sends nothing is closed after the idle timeout; a real client is not', async () => {
    const idle = await RawClient.open(port);
    await waitFor('the idle connection to be closed', () => idle.closedWith, 5_000);
    expect(idle.closedWith).toBe(1001);
    // honest has sent nothing but pings for longer than the idle timeout meanwhile.
    expect(await outcome(honest, 'list_groups', {})).toBe('ok');
  }, 10_000);

  it(`at most ${PER_ADDRESS} connections per address and ${TOTAL} in total`, async () => {
    const opened: (WebSocket | undefined)[] = [];
    for (const address of ['127.0.0.5', '127.0.0.6', '127.0.0.7', '127.0.0.8', '127.0.0.9', '127.0.0.10']) {
      for (let i = 0; i < PER_ADDRESS + 2; i++) opened.push(await wsFrom(address));
    }
    const accepted = opened.filter((ws) => ws !== undefined);
    // 6 addresses x 8 allowed each would be 48; the total cap (less the honest client's) stops it first.
    expect(accepted.length).toBeLessThanOrEqual(TOTAL - 1);
    expect(accepted.length).toBeGreaterThanOrEqual(TOTAL - 4);
    expect(await outcome(honest, 'list_groups', {})).toBe('ok'); // already connected: unaffected
    for (const ws of accepted) ws!.terminate();
    await new Promise((r) => setTimeout(r, 300));
    const after = await RawClient.open(port);
    expect((await after.request('ping')).ok).toBe(true);
    after.close();
  }, 15_000);

  it(`requests pipelined past ${MAX_PENDING_REQUESTS} on one connection wait (backpressure) and all get answered`, async () => {
    const c = await RawClient.open(port);
    await c.request('login', { user: 'honest', password: 'pw', peer: '127.0.0.1:7003' });
    const replies = await Promise.all(Array.from({ length: 10 * MAX_PENDING_REQUESTS }, () => c.request('list_files', { group: 'hg' })));
    expect(replies.filter((r) => !r.ok)).toEqual([]);
    c.close();
  });

  it('a client that does not read its replies is dropped; the tracker stays small and keeps serving', async () => {
    const f = syntheticFile('huge', 20_000 * PIECE_SIZE); // 20,000 piece hashes: ~900 KB per download_file reply
    await honest.request('upload_file', { group: 'hg', name: 'huge.bin', ...f });
    const pid = cluster.trackers[0]!.proc!.pid!;
    const rssBefore = rssOf(pid);
    const reader = await RawClient.open(port);
    await reader.request('login', { user: 'honest', password: 'pw', peer: '127.0.0.1:7004' });
    reader.ws.pause(); // stop reading: replies pile up in the kernel, then in the tracker
    for (let i = 0; i < 60; i++) reader.ws.send(JSON.stringify({ id: 1000 + i, op: 'download_file', args: { group: 'hg', name: 'huge.bin' } }));
    await waitFor('the tracker to drop the non-reader', () => (cluster.trackers[0]!.output.includes('does not read its replies') ? true : undefined), 10_000);
    expect(rssOf(pid) - rssBefore).toBeLessThan(100 * MiB);
    expect(await outcome(honest, 'list_files', { group: 'hg' })).toBe('ok');
    reader.close();
  }, 20_000);

  it('an error message never echoes more than a few characters of the request', async () => {
    const c = await RawClient.open(port);
    const r = await c.request('x'.repeat(100_000));
    expect(r.error?.code).toBe('BAD_REQUEST');
    expect(r.error!.message.length).toBeLessThan(MAX_ECHO + 40);
    c.close();
  });
});

describe('peer port limits, on a real client process', () => {
  let seeder: ScriptedClient;
  let seederPort: number;
  let sha1: string;
  beforeAll(async () => {
    const bytes = randomBytes(PIECE_SIZE + 10);
    const path = join(cluster.dir, 'served.bin');
    writeFileSync(path, bytes);
    sha1 = createHash('sha1').update(bytes).digest('hex');
    seederPort = await freePort();
    seeder = new ScriptedClient(CLIENT_BIN, `127.0.0.1:${seederPort}`, cluster.infoFile, ['--state-dir', join(cluster.dir, 'seeder')], cluster.dir);
    for (const line of ['login honest pw', `upload_file ${path} hg`]) await seeder.must(line);
  }, 20_000);
  afterAll(async () => seeder?.kill('SIGKILL'));

  it(`connections that send nothing are closed after ${PEER_HANDSHAKE_TIMEOUT_MS / 1000} s, at most ${PEER_PER_ADDRESS} per address; honest peers are served meanwhile`, async () => {
    const started = Date.now();
    const attempts = PEER_PER_ADDRESS + 8;
    const slow = Array.from({ length: attempts }, () => peerExchange(seederPort, [], { waitMs: PEER_HANDSHAKE_TIMEOUT_MS + 5_000, localAddress: '127.0.0.2' }));
    await new Promise((r) => setTimeout(r, 500));
    const { ticket } = (await honest.request('download_file', { group: 'hg', name: 'served.bin' })) as { ticket: string };
    expect(await peerExchange(seederPort, [encodeHandshake(sha1, ticket)], { waitMs: 500 })).toEqual({ messages: ['bitfield'], rejects: [], closed: false });
    const results = await Promise.all(slow);
    const elapsed = Date.now() - started;
    expect(results.every((r) => r.closed)).toBe(true);
    expect(results.filter((r) => r.rejects[0] === RejectReason.BUSY)).toHaveLength(attempts - PEER_PER_ADDRESS);
    expect(elapsed).toBeGreaterThanOrEqual(PEER_HANDSHAKE_TIMEOUT_MS - 100);
    expect(elapsed).toBeLessThan(PEER_HANDSHAKE_TIMEOUT_MS + 4_000);
    expect(await peerExchange(seederPort, [encodeHandshake(sha1, ticket)], { waitMs: 500 })).toEqual({ messages: ['bitfield'], rejects: [], closed: false });
  }, 30_000);
});
