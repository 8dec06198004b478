/**
 * Helpers for the replication tests: clients that prefer a given tracker, waiting until
 * both trackers agree, and reading a tracker's folded state straight from its log.
 */
import { join } from 'node:path';
import { TrackerConnection } from '../../src/client/tracker-connection.js';
import type { State } from '../../src/events/state.js';
import { EventStore } from '../../src/events/log/event-store.js';
import { Ledger } from '../../src/events/log/ledger.js';
import { DB_FILE } from '../../src/tracker/tracker.js';
import { waitFor, type Cluster } from './cluster.js';
import { TcpProxy } from './tcp-proxy.js';

export interface ReplicationHealth {
  readonly link: 'up' | 'down' | 'connecting';
  readonly inSync: boolean;
  readonly lagEvents: number | null;
  readonly localMarks: Record<string, number>;
  readonly peerMarks: Record<string, number>;
  readonly caughtUp: { events: number; ms: number } | null;
  readonly holdingCommits: boolean;
  readonly lagging: boolean;
  readonly refolding: boolean;
  readonly twinAck: 'flush' | 'write';
  readonly problem: { code: string; detail: string; at: string; times: number } | null;
  readonly restoredFrom: { file: string; at: string } | null;
  readonly twinClockAheadMs: number | null;
}

export type Health = Awaited<ReturnType<Cluster['health']>> & { originMarks: Record<string, number>; replication: ReplicationHealth };

export async function health(cluster: Cluster, id: number): Promise<Health> {
  return (await cluster.health(id)) as Health;
}

/** A client that tries the trackers in `order` (tracker ids). */
export async function clientOf(cluster: Cluster, order: number[]): Promise<TrackerConnection> {
  const c = new TrackerConnection(order.map((id) => ({ id, host: '127.0.0.1', port: cluster.trackers[id - 1]!.port })));
  await c.connect();
  return c;
}

/** Waits until both trackers are linked, in sync, and print the same state hash. */
export async function waitConverged(cluster: Cluster, timeoutMs = 10_000): Promise<[Health, Health]> {
  return waitFor(
    'both trackers in sync with equal state hashes',
    async () => {
      const [a, b] = await Promise.all([health(cluster, 1), health(cluster, 2)]).catch(() => [undefined, undefined]);
      if (!a || !b) return undefined;
      const same = a.stateHash === b.stateHash && JSON.stringify(a.originMarks) === JSON.stringify(b.originMarks);
      return same && a.replication.inSync && b.replication.inSync ? ([a, b] as [Health, Health]) : undefined;
    },
    timeoutMs,
  );
}

/** The folded state of tracker `id`, read from its log (safe while it runs: WAL). */
export function stateOf(cluster: Cluster, id: number): State {
  const store = EventStore.openReadOnly(join(cluster.trackers[id - 1]!.dataDir, DB_FILE));
  try {
    const ledger = new Ledger(store, { origin: id });
    ledger.open();
    return ledger.current;
  } finally {
    void store.close(); // read-only: closes at once
  }
}

/** The two trackers dial each other through these proxies, so a test can cut the link. */
export interface Partitionable {
  /** proxies[i] forwards to tracker i+1; the other tracker dials it. */
  readonly proxies: [TcpProxy, TcpProxy];
  cut(): void;
  heal(): void;
  /** Extra start arguments for tracker `id`: dial the twin through its proxy. */
  args(id: number): string[];
  close(): Promise<void>;
}

export async function partitionable(cluster: Cluster): Promise<Partitionable> {
  const proxies: [TcpProxy, TcpProxy] = [await TcpProxy.start(cluster.trackers[0]!.port), await TcpProxy.start(cluster.trackers[1]!.port)];
  return {
    proxies,
    cut: () => proxies.forEach((p) => p.cut()),
    heal: () => proxies.forEach((p) => p.restore()),
    args: (id) => ['--peer', `127.0.0.1:${proxies[id === 1 ? 1 : 0].port}`],
    close: async () => {
      await Promise.all(proxies.map((p) => p.close()));
    },
  };
}
