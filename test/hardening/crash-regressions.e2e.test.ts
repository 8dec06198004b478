/**
 * Frames the fuzzer found that crashed a tracker (Guarantee 7), kept as plain regressions:
 * deeply nested JSON where a string was expected, echoed back in the error message
 * through JSON.stringify, which throws RangeError past V8's stack limit, and the throw
 * escaped the WebSocket message handler. Both listeners, unauthenticated.
 */
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cluster } from '../helpers/cluster.js';
import { quiescentHash } from './kit.js';

const DEPTH = 200_000; // 400 KB of brackets: under every frame limit
const nested = (): string => '['.repeat(DEPTH) + ']'.repeat(DEPTH);

let cluster: Cluster;
beforeAll(async () => {
  cluster = await Cluster.create(2);
  await Promise.all([cluster.start(1), cluster.start(2)]);
}, 30_000);
afterAll(async () => cluster?.destroy());

/** Sends one text frame on `path`; resolves with the first reply (if any) once the socket closes or 1 s passes. */
function sendOnce(id: number, path: string, frame: string): Promise<string | undefined> {
  return new Promise((resolve) => {
    const ws = new WebSocket(`ws://127.0.0.1:${cluster.trackers[id - 1]!.port}${path}`);
    let reply: string | undefined;
    ws.on('message', (d) => (reply ??= d.toString()));
    ws.on('open', () => ws.send(frame));
    ws.on('error', () => undefined);
    const done = (): void => (ws.terminate(), resolve(reply));
    ws.on('close', done);
    setTimeout(done, 1_000);
  });
}

describe('deeply nested JSON', () => {
  it('as the op on /client gets an error, not a crash', async () => {
    const before = await quiescentHash(cluster);
    const reply = await sendOnce(1, '/client', `{"id":1,"op":${nested()},"args":{}}`);
    expect(JSON.parse(reply!)).toMatchObject({ id: 1, ok: false, error: { code: 'BAD_REQUEST' } });
    expect(JSON.parse(reply!).error.message.length).toBeLessThan(100);
    expect(cluster.trackers[0]!.proc!.exitCode).toBeNull();
    expect((await cluster.health(1)).status).toBe('ok');
    expect(await quiescentHash(cluster)).toBe(before);
  });

  it('as the message type on /replicate closes that connection, not the tracker', async () => {
    await sendOnce(2, '/replicate', `{"t":${nested()}}`);
    await new Promise((r) => setTimeout(r, 200));
    expect(cluster.trackers[1]!.proc!.exitCode).toBeNull();
    expect((await cluster.health(2)).status).toBe('ok');
  });
});
