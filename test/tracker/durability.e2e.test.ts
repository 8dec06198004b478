/**
 * Acknowledged means durable: a kill -9 of the tracker loses no acknowledged event,
 * with 20 clients committing concurrently (group commit), and the restarted tracker
 * folds back to the same state hash.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { TrackerConnection } from '../../src/client/tracker-connection.js';
import { Cluster } from '../helpers/cluster.js';

const CLIENTS = 20;
let cluster: Cluster | undefined;
const connections: TrackerConnection[] = [];

afterEach(async () => {
  for (const c of connections.splice(0)) c.close();
  await cluster?.destroy();
  cluster = undefined;
});

async function connectClients(c: Cluster): Promise<TrackerConnection[]> {
  const trackers = [{ id: 1, host: '127.0.0.1', port: c.trackers[0]!.port }];
  const list = await Promise.all(
    Array.from({ length: CLIENTS }, async (_, i) => {
      const conn = new TrackerConnection(trackers);
      connections.push(conn);
      await conn.connect();
      await conn.request('create_user', { user: `u${i}`, password: 'pw' });
      await conn.request('login', { user: `u${i}`, password: 'pw', peer: `127.0.0.1:${20000 + i}` });
      return conn;
    }),
  );
  return list;
}

describe('durability under kill -9', () => {
  it('after a burst from 20 clients, a kill -9 loses nothing and the state hash is unchanged', async () => {
    cluster = await Cluster.create(1);
    await cluster.start(1);
    const clients = await connectClients(cluster);
    await Promise.all(
      clients.map(async (conn, i) => {
        for (let n = 0; n < 25; n++) await conn.request('create_group', { group: `g${i}-${n}` });
        await conn.request('join_group', { group: `g${(i + 1) % CLIENTS}-0` });
      }),
    );
    const before = await cluster.health(1);
    // At least every command; a client that failed over under load adds a session_resumed event.
    expect(before.events).toBeGreaterThanOrEqual(CLIENTS * (2 + 25 + 1));
    await cluster.kill(1, 'SIGKILL');
    // The clients would reconnect and resume their sessions (new events) after the restart.
    for (const c of connections.splice(0)) c.close();
    await cluster.start(1);
    const after = await cluster.health(1);
    expect(after.events).toBe(before.events);
    expect(after.stateHash).toBe(before.stateHash);
  });

  it('a kill -9 in the middle of a burst keeps every acknowledged command', async () => {
    cluster = await Cluster.create(1);
    await cluster.start(1);
    const clients = await connectClients(cluster);
    const acknowledged: string[] = [];
    let stop = false;
    const bursts = clients.map(async (conn, i) => {
      for (let n = 0; !stop && n < 10_000; n++) {
        const group = `k${i}-${n}`;
        try {
          await conn.request('create_group', { group });
          acknowledged.push(group);
        } catch {
          return; // the tracker is gone: this request was not acknowledged
        }
      }
    });
    await new Promise((r) => setTimeout(r, 700));
    await cluster.kill(1, 'SIGKILL');
    stop = true;
    for (const c of connections.splice(0)) c.close();
    await Promise.all(bursts);
    expect(acknowledged.length).toBeGreaterThan(100);

    await cluster.start(1);
    const reader = new TrackerConnection([{ id: 1, host: '127.0.0.1', port: cluster.trackers[0]!.port }]);
    connections.push(reader);
    await reader.connect();
    await reader.request('login', { user: 'u0', password: 'pw', peer: '127.0.0.1:30000' });
    const groups = new Set(((await reader.request('list_groups', {})) as { group: string }[]).map((g) => g.group));
    const missing = acknowledged.filter((g) => !groups.has(g));
    expect(missing).toEqual([]);
  });
});
