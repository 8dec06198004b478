/**
 * What an operator watches on a real pair of trackers: GET /metrics carries the
 * replication lag and link, the online peers, and the snapshot's age and tail.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TrackerConnection } from '../../src/client/tracker-connection.js';
import { Cluster, waitFor } from '../helpers/cluster.js';
import { connectAs } from './admin-cli.js';

let cluster: Cluster;
let alice: TrackerConnection;

async function metrics(id: number): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${cluster.trackers[id - 1]!.port}/metrics`, { signal: AbortSignal.timeout(2000) });
  expect(res.status).toBe(200);
  return res.text();
}

/** The value of one sample, e.g. sample(text, 'tracker_peers_online'). */
function sample(text: string, name: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${name} `) || l === name);
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
}

beforeAll(async () => {
  cluster = await Cluster.create(2);
  await cluster.start(1, ['--snapshot-every', '4']);
  await cluster.start(2, ['--snapshot-every', '4']);
});
afterAll(async () => {
  alice?.close();
  await cluster?.destroy();
});

describe('GET /metrics', () => {
  it('shows no snapshot yet, and the link to the twin up with no lag', async () => {
    const text = await waitFor('the replication link', async () => {
      const t = await metrics(1);
      return sample(t, 'tracker_replication_link_up{twin="2"}') === 1 ? t : undefined;
    });
    expect(sample(text, 'tracker_replication_lag_events{twin="2"}')).toBe(0);
    expect(sample(text, 'tracker_snapshot_age_seconds')).toBe(-1);
    expect(sample(text, 'tracker_events_since_snapshot')).toBe(0);
    expect(sample(text, 'tracker_peers_online')).toBe(0);
  });

  it('counts online peers, events since the snapshot, and the snapshot age', async () => {
    alice = await connectAs(cluster.infoFile, 'alice', 'alice-secret-pw'); // 2 events
    await alice.request('create_group', { group: 'g1' }); // 3
    let text = await metrics(1);
    expect(sample(text, 'tracker_peers_online')).toBe(1);
    expect(sample(text, 'tracker_events_since_snapshot')).toBe(3);
    await alice.request('create_group', { group: 'g2' }); // 4: a snapshot, taken in the background
    await alice.request('create_group', { group: 'g3' }); // 5
    text = await waitFor('the snapshot to be stored', async () => {
      const t = await metrics(1);
      return sample(t, 'tracker_snapshot_age_seconds')! >= 0 ? t : undefined;
    });
    expect(sample(text, 'tracker_events_since_snapshot')).toBe(1);
    const age = sample(text, 'tracker_snapshot_age_seconds')!;
    expect(age).toBeGreaterThanOrEqual(0);
    expect(age).toBeLessThan(60);
    // The twin has the same picture once replicated.
    const twin = await waitFor('the twin to hold every event', async () => {
      const t = await metrics(2);
      return sample(t, 'tracker_peers_online') === 1 && sample(t, 'tracker_replication_lag_events{twin="1"}') === 0 ? t : undefined;
    });
    expect(sample(twin, 'tracker_replication_link_up{twin="1"}')).toBe(1);
  });

  it('shows the lag and the link down while the twin is away', async () => {
    await cluster.kill(2, 'SIGKILL');
    await alice.request('create_group', { group: 'g4' });
    const text = await waitFor('the link to drop', async () => {
      const t = await metrics(1);
      return sample(t, 'tracker_replication_link_up{twin="2"}') === 0 ? t : undefined;
    });
    expect(sample(text, 'tracker_replication_lag_events{twin="2"}')).toBeGreaterThanOrEqual(1);
  });
});
