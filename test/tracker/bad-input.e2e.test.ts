/**
 * Bad input never crashes the tracker and never changes state: malformed JSON, unknown
 * operations, wrong argument types, oversize and binary frames, and a client that
 * vanishes in the middle of a request.
 */
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cluster } from '../helpers/cluster.js';
import { runClient } from '../helpers/client-process.js';

let cluster: Cluster;
let url: string;

beforeAll(async () => {
  cluster = await Cluster.create(1);
  await cluster.start(1);
  url = `ws://127.0.0.1:${cluster.trackers[0]!.port}/client`;
  await runClient(cluster.infoFile, ['create_user alice pw', 'login alice pw', 'create_group g'], { cwd: cluster.dir });
});
afterAll(async () => cluster?.destroy());

async function open(): Promise<WebSocket> {
  const ws = new WebSocket(url);
  await new Promise((resolve, reject) => (ws.once('open', resolve), ws.once('error', reject)));
  return ws;
}

function next(ws: WebSocket): Promise<{ id: number | null; ok: boolean; error?: { code: string; message: string } }> {
  return new Promise((resolve) => ws.once('message', (d) => resolve(JSON.parse(d.toString()))));
}

function closed(ws: WebSocket): Promise<number> {
  return new Promise((resolve) => (ws.readyState === ws.CLOSED ? resolve(-1) : ws.once('close', (code) => resolve(code))));
}

describe('bad input on /client', () => {
  it('malformed JSON gets a clear error and a closed connection', async () => {
    const before = (await cluster.health(1)).stateHash;
    const ws = await open();
    const reply = next(ws);
    ws.send('{"id": 1, "op": "create_group", "args": {"group": "x"');
    expect(await reply).toMatchObject({ ok: false, error: { code: 'BAD_REQUEST', message: 'the message is not valid JSON' } });
    expect(await closed(ws)).toBe(1008);
    expect((await cluster.health(1)).stateHash).toBe(before);
  });

  it('unknown ops and wrong argument types get an error and the connection stays usable', async () => {
    const before = (await cluster.health(1)).stateHash;
    const ws = await open();
    const cases: [unknown, string][] = [
      [{ id: 1, op: 'drop_tables', args: {} }, 'unknown operation'],
      [{ id: 2, op: 'create_user', args: { user: 7, password: 'x' } }, 'user must be a string'],
      [{ id: 3, op: 'create_user', args: { user: 'x'.repeat(5000), password: 'x' } }, 'at most'],
      [{ id: 4, op: 'upload_file', args: { group: 'g', name: 'n', size: -1, pieceSize: 1, pieceHashes: [], sha1: 'x' } }, 'non-negative integer'],
      [{ id: 5, op: 'create_group', args: { group: 'g2' } }, 'not logged in'],
      [{ id: 6, op: 'create_user', args: { user: '../etc', password: 'x' } }, 'a user id is'],
    ];
    for (const [message, expected] of cases) {
      const reply = next(ws);
      ws.send(JSON.stringify(message));
      const r = await reply;
      expect(r.ok).toBe(false);
      expect(r.error!.message).toContain(expected);
    }
    const pong = next(ws);
    ws.send(JSON.stringify({ id: 9, op: 'ping', args: {} }));
    expect(await pong).toMatchObject({ id: 9, ok: true });
    ws.close();
    expect((await cluster.health(1)).stateHash).toBe(before);
  });

  it('a frame over 1 MiB closes the connection (1009) and changes nothing', async () => {
    const before = (await cluster.health(1)).stateHash;
    const ws = await open();
    ws.send(JSON.stringify({ id: 1, op: 'create_user', args: { user: 'big', password: 'x'.repeat(1024 * 1024 + 10) } }));
    expect(await closed(ws)).toBe(1009);
    expect((await cluster.health(1)).stateHash).toBe(before);
  });

  it('binary frames are refused and close the connection', async () => {
    const ws = await open();
    const reply = next(ws);
    ws.send(Buffer.from([0, 1, 2, 3]));
    expect((await reply).error!.code).toBe('BAD_REQUEST');
    expect(await closed(ws)).toBe(1008);
  });

  it('a client that vanishes mid-request does not hurt the tracker', async () => {
    for (let i = 0; i < 20; i++) {
      const ws = await open();
      ws.send(JSON.stringify({ id: 1, op: 'create_user', args: { user: `ghost${i}`, password: 'pw' } }));
      ws.terminate();
    }
    const ws = await open();
    const reply = next(ws);
    ws.send(JSON.stringify({ id: 1, op: 'ping', args: {} }));
    expect((await reply).ok).toBe(true);
    ws.close();
    expect((await cluster.health(1)).status).toBe('ok');
    expect(cluster.trackers[0]!.proc!.exitCode).toBeNull();
  });
});
