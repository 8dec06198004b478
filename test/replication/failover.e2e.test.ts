/**
 * Client failover reads its own writes: kill -9 the tracker a logged-in client uses right
 * after it acknowledged a command; the client's next command succeeds on the other
 * tracker, without a new login, within a second of the kill, and sees the change.
 */
import { afterAll, describe, expect, test } from 'vitest';
import type { TrackerConnection } from '../../src/client/tracker-connection.js';
import { Cluster } from '../helpers/cluster.js';
import { clientOf, waitConverged } from '../helpers/replication.js';

describe('client failover', () => {
  let cluster: Cluster | undefined;
  const clients: TrackerConnection[] = [];

  afterAll(async () => {
    for (const c of clients) c.close();
    await cluster?.destroy();
  });

  test('the next command after a kill -9 succeeds on the twin within 1 s and sees the acknowledged change', async () => {
    cluster = await Cluster.create(2);
    await Promise.all([cluster.start(1), cluster.start(2)]);
    await waitConverged(cluster);
    const alice = await clientOf(cluster, [1, 2]);
    clients.push(alice);
    await alice.request('create_user', { user: 'alice', password: 'pw' });
    await alice.request('login', { user: 'alice', password: 'pw', peer: '127.0.0.1:7301' });
    expect(alice.tracker?.id).toBe(1);

    await alice.request('create_group', { group: 'acked-just-before-the-kill' });
    const killedAt = Date.now();
    await cluster.kill(1, 'SIGKILL');

    await alice.request('create_group', { group: 'after-the-kill' });
    const groups = (await alice.request('list_groups', {})) as { group: string; role: string }[];
    const elapsed = Date.now() - killedAt;
    expect(alice.tracker?.id).toBe(2);
    expect(groups.map((g) => g.group)).toEqual(['acked-just-before-the-kill', 'after-the-kill']);
    expect(groups.every((g) => g.role === 'owner')).toBe(true);
    expect(elapsed).toBeLessThan(1000);
  });
});
