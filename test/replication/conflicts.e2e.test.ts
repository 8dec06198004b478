/**
 * A partition: both trackers accept `create_user alice`. Once the link is back both hold
 * both events and resolve them the same way: first claim in (hlc, origin, seq) order
 * wins, the other stays in the log and is listed as a conflict, identically on both.
 */
import { afterAll, describe, expect, test } from 'vitest';
import type { TrackerConnection } from '../../src/client/tracker-connection.js';
import { Cluster, waitFor } from '../helpers/cluster.js';
import { clientOf, health, partitionable, stateOf, waitConverged, type Partitionable } from '../helpers/replication.js';

describe('conflicts from a partition', () => {
  let cluster: Cluster | undefined;
  let net: Partitionable | undefined;
  const clients: TrackerConnection[] = [];

  afterAll(async () => {
    for (const c of clients) c.close();
    await cluster?.destroy();
    await net?.close();
  });

  test('both trackers accept create_user alice while cut off; after healing they list the same conflict', async () => {
    cluster = await Cluster.create(2);
    net = await partitionable(cluster);
    await Promise.all([cluster.start(1, net.args(1)), cluster.start(2, net.args(2))]);
    await waitConverged(cluster);

    net.cut();
    await waitFor('both links down', async () => ((await health(cluster!, 1)).replication.link !== 'up' && (await health(cluster!, 2)).replication.link !== 'up' ? true : undefined));
    const one = await clientOf(cluster, [1]);
    const two = await clientOf(cluster, [2]);
    clients.push(one, two);
    await one.request('create_user', { user: 'alice', password: 'first' });
    await new Promise((r) => setTimeout(r, 5)); // a later hlc on tracker 2
    await two.request('create_user', { user: 'alice', password: 'second' });
    await two.request('login', { user: 'alice', password: 'second', peer: '127.0.0.1:7401' }); // tracker 2 believes its alice

    net.heal();
    const [a, b] = await waitConverged(cluster, 15_000);
    expect(a.stateHash).toBe(b.stateHash);
    const [s1, s2] = [stateOf(cluster, 1), stateOf(cluster, 2)];
    expect(s1.conflicts).toEqual(s2.conflicts);
    expect(s1.conflicts).toEqual([
      { origin: 2, seq: 1, type: 'user_created', reason: 'user alice already exists' },
      // tracker 2's login named alice too; it folds after the winning user_created, so it stands
    ]);
    expect(s1.users.get('alice')).toEqual(s2.users.get('alice'));

    // the first claim's password works on both trackers; the loser's on neither
    for (const id of [1, 2]) {
      const fresh = await clientOf(cluster, [id]);
      clients.push(fresh);
      await expect(fresh.request('login', { user: 'alice', password: 'second', peer: '127.0.0.1:7402' })).rejects.toMatchObject({ code: 'WRONG_PASSWORD' });
      await fresh.request('login', { user: 'alice', password: 'first', peer: '127.0.0.1:7403' });
    }
  });
});
