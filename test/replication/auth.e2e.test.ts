/**
 * The link is authenticated with the cluster secret: a tracker started with another
 * secret is refused (and the refusal logged), and none of its events reach the cluster.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import type { TrackerConnection } from '../../src/client/tracker-connection.js';
import { Cluster, waitFor } from '../helpers/cluster.js';
import { clientOf, health } from '../helpers/replication.js';

describe('link authentication', () => {
  let cluster: Cluster | undefined;
  const clients: TrackerConnection[] = [];

  afterAll(async () => {
    for (const c of clients) c.close();
    await cluster?.destroy();
  });

  test('a tracker with a different cluster secret cannot replicate', async () => {
    cluster = await Cluster.create(2);
    const otherSecret = join(cluster.dir, 'other.secret');
    writeFileSync(otherSecret, 'not-the-cluster-secret-at-all-0123\n');
    await cluster.start(1);
    await cluster.start(2, ['--cluster-secret-file', otherSecret]);

    const mallory = await clientOf(cluster, [2]);
    clients.push(mallory);
    await mallory.request('create_user', { user: 'mallory', password: 'pw' });
    const alice = await clientOf(cluster, [1]);
    clients.push(alice);
    await alice.request('create_user', { user: 'alice', password: 'pw' });

    // both sides refuse each other, and say so once, not on every retry
    await waitFor('the refusal in tracker 1 log', () => (/refused a replication link from .*AUTH_FAILED/.test(cluster!.trackers[0]!.output) ? true : undefined));
    await waitFor('the refusal in tracker 2 log', () => (cluster!.trackers[1]!.output.includes('AUTH_FAILED') ? true : undefined));
    await new Promise((r) => setTimeout(r, 1500)); // several dial attempts
    const [one, two] = [await health(cluster, 1), await health(cluster, 2)];
    expect(one.originMarks['2']).toBeUndefined();
    expect(two.originMarks['1']).toBeUndefined();
    expect(one.replication.link).not.toBe('up');
    expect(two.replication.link).not.toBe('up');
    expect(one.stateHash).not.toBe(two.stateHash);
    const refusals = cluster.trackers[0]!.output.split('\n').filter((l) => l.includes('refused a replication link'));
    expect(refusals.length).toBe(1);
  });
});
