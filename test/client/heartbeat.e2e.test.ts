/**
 * The heartbeat tells a dead tracker from a busy client: when the client's own event loop
 * stalls past the heartbeat timeout, it must not drop a healthy tracker (which would log a
 * lost-and-resumed session for nothing); a tracker that really goes silent is still left.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HEARTBEAT_TIMEOUT_MS, TrackerConnection } from '../../src/client/tracker-connection.js';
import { Cluster, waitFor } from '../helpers/cluster.js';

let cluster: Cluster;
beforeAll(async () => {
  cluster = await Cluster.create(1);
  await cluster.start(1);
});
afterAll(async () => cluster?.destroy());

function busyFor(ms: number): void {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    // the client's own event loop is stuck (a long synchronous task, a slow machine)
  }
}

describe('client heartbeat', () => {
  it('keeps a healthy tracker through a stall of its own event loop', async () => {
    const conn = new TrackerConnection([{ id: 1, host: '127.0.0.1', port: cluster.trackers[0]!.port }]);
    let ups = 0;
    conn.on('up', () => (ups += 1));
    await conn.connect();
    expect(ups).toBe(1);
    busyFor(HEARTBEAT_TIMEOUT_MS * 2);
    await new Promise((r) => setTimeout(r, HEARTBEAT_TIMEOUT_MS * 2));
    expect(ups).toBe(1);
    await conn.request('ping', {});
    conn.close();
  });

  it('still leaves a tracker that goes silent', async () => {
    const conn = new TrackerConnection([{ id: 1, host: '127.0.0.1', port: cluster.trackers[0]!.port }]);
    let down = false;
    conn.on('down', () => (down = true));
    await conn.connect();
    cluster.trackers[0]!.proc!.kill('SIGSTOP'); // alive but silent
    try {
      await waitFor('the client to give up on the silent tracker', () => (down ? true : undefined), 5_000);
    } finally {
      cluster.trackers[0]!.proc!.kill('SIGCONT');
      conn.close();
    }
  });
});
