/**
 * A TrackerConnection closed while it is still opening a socket (its first connect; a
 * reconnect after its tracker went away takes the same path) leaves no connection
 * behind. Before, the socket that was opening finished its handshake after close() and
 * stayed up, heartbeat and all, holding one of the tracker's per-address slots (the
 * replication bench's clients, closed while they redialled a restarted tracker, filled
 * them: 503 for the next ones).
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { TrackerConnection, TrackerError } from '../../src/client/tracker-connection.js';
import { Cluster } from '../helpers/cluster.js';

let cluster: Cluster;
beforeAll(async () => {
  cluster = await Cluster.create(1);
  await cluster.start(1);
});
afterAll(async () => cluster?.destroy());

const tracker = () => [{ id: 1, host: '127.0.0.1', port: cluster.trackers[0]!.port }];
const clientsOfTracker = async () => (await cluster.health(1)).clients as number;

/** Some time for a handshake that should not happen, then what the tracker holds. */
async function settledClients(): Promise<number> {
  await new Promise((r) => setTimeout(r, 300));
  return clientsOfTracker();
}

it('closed during its first connect: connect() fails with CLOSED and the tracker holds no connection', async () => {
  const conn = new TrackerConnection(tracker());
  const connecting = conn.connect();
  conn.close();
  const error = await connecting.then(() => undefined, (e: unknown) => e);
  expect(error).toBeInstanceOf(TrackerError);
  expect((error as TrackerError).code).toBe('CLOSED');
  expect(await settledClients()).toBe(0);
});

it('closed once connected: the tracker counts it out', async () => {
  const conn = new TrackerConnection(tracker());
  await conn.connect();
  expect(await clientsOfTracker()).toBe(1);
  conn.close();
  expect(await settledClients()).toBe(0);
});
