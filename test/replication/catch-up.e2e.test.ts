/**
 * Guarantee 3: a tracker that restarts catches up everything it missed, and then both
 * print the same state hash (Guarantee 4). And the safety rule: a tracker that lost its
 * log catches up its own origin before committing anything new (no reused seq, no fork).
 */
import { afterEach, describe, expect, test } from 'vitest';
import { TrackerConnection } from '../../src/client/tracker-connection.js';
import { Cluster, waitFor } from '../helpers/cluster.js';
import { writeSyntheticLog } from '../helpers/synthetic-log.js';
import { clientOf, health, partitionable, stateOf, waitConverged, type Partitionable } from '../helpers/replication.js';

describe('catch-up', () => {
  let cluster: Cluster | undefined;
  const clients: TrackerConnection[] = [];
  let net: Partitionable | undefined;

  afterEach(async () => {
    for (const c of clients.splice(0)) c.close();
    await cluster?.destroy();
    cluster = undefined;
    await net?.close();
    net = undefined;
  });

  /** Both trackers up, then tracker 2 killed while alice (on tracker 1) creates `groups` groups. */
  async function groupsWhileTwoIsDown(groups: number, trackerOneArgs: string[] = []): Promise<Cluster> {
    const c = (cluster = await Cluster.create(2));
    await Promise.all([c.start(1, trackerOneArgs), c.start(2)]);
    await waitConverged(c);
    await c.kill(2, 'SIGKILL');
    const alice = await clientOf(c, [1]);
    clients.push(alice);
    await alice.request('create_user', { user: 'alice', password: 'pw' });
    await alice.request('login', { user: 'alice', password: 'pw', peer: '127.0.0.1:7201' });
    for (let i = 0; i < groups; i += 50) {
      // in flight at once: below what one client connection may have outstanding
      await Promise.all(Array.from({ length: Math.min(50, groups - i) }, (_, j) => alice.request('create_group', { group: `g${i + j}` })));
    }
    return c;
  }

  test('tracker 2, killed while tracker 1 runs 1,000 commands, catches up on restart', async () => {
    cluster = await groupsWhileTwoIsDown(998);
    const before = await health(cluster, 1);
    expect(before.originMarks['1']).toBeGreaterThanOrEqual(1000);
    expect(before.replication.link).not.toBe('up');

    await cluster.start(2);
    const [one, two] = await waitConverged(cluster, 15_000);
    expect(two.stateHash).toBe(one.stateHash);
    expect(two.originMarks).toEqual(one.originMarks);
    expect(two.replication.caughtUp?.events).toBeGreaterThanOrEqual(1000);
    expect(cluster.trackers[1]!.output).toMatch(/caught up with tracker 1: \d+ events in \d+ ms/);
    expect(stateOf(cluster, 2).groups.size).toBe(998);
    // while tracker 2 was down tracker 1 kept dialling: one line when the link dropped, one when it came back
    const lines = cluster.trackers[0]!.output.split('\n');
    expect(lines.filter((l) => l.includes('replication link to tracker 2 is down')).length).toBe(1);
    expect(lines.filter((l) => l.includes('replication link to tracker 2 is back')).length).toBe(1);
    expect(lines.filter((l) => /"level":(40|50)/.test(l)).length).toBe(1); // the drop is the only warning
  });

  test('a tracker far behind takes its twin\'s state ahead of the catch-up (--twin-state-min), stores the events without folding them, and both converge', async () => {
    cluster = await groupsWhileTwoIsDown(600, ['--twin-state-min', '500']);

    await cluster.start(2);
    const [one, two] = await waitConverged(cluster, 15_000);
    expect(two.stateHash).toBe(one.stateHash);
    expect(two.originMarks).toEqual(one.originMarks);
    expect(cluster.trackers[1]!.output).toMatch(/took the twin's state as the fold of the caught-up events \(\d+ events, taken in \d+ ms\)/);
    expect(stateOf(cluster, 2).groups.size).toBe(600);
    // and the state it took is its newest snapshot: a restart loads it
    await cluster.kill(2, 'SIGTERM');
    await cluster.start(2);
    const [, again] = await waitConverged(cluster, 15_000);
    expect(again.stateHash).toBe(one.stateHash);
    const loaded = [...cluster.trackers[1]!.output.matchAll(/"fromSnapshot":(\d+)/g)].map((m) => Number(m[1]));
    expect(loaded.at(-1)).toBeGreaterThanOrEqual(600);
  });

  test('after a partition, each tracker catches up on the other\'s events, which sort among its own, and both converge', async () => {
    // Each side wrote its own events during the partition, interleaved in time: tracker 2's
    // 5,000 start after the first 1,000 of tracker 1's 30,000, so almost every frame it
    // catches up on sorts before events it has folded (a catch-up of several frames).
    const start = Date.now() * 1000 - 60_000_000;
    cluster = await Cluster.create(2);
    await writeSyntheticLog(cluster.trackers[0]!.dataDir, { origin: 1, count: 30_000, startHlc: start });
    await writeSyntheticLog(cluster.trackers[1]!.dataDir, { origin: 2, count: 5_000, startHlc: start + 1000 });
    await Promise.all([cluster.start(1), cluster.start(2)]);

    const [one, two] = await waitConverged(cluster, 30_000);
    expect(two.stateHash).toBe(one.stateHash);
    expect(one.originMarks).toEqual({ '1': 30_000, '2': 5_000 });
    expect(two.originMarks).toEqual({ '1': 30_000, '2': 5_000 });
    expect(two.replication.caughtUp?.events).toBe(30_000);
    for (const t of cluster.trackers) expect(t.output).not.toContain('is down'); // no link dropped on the way
  });

  test('after a big partition, the re-fold that ends the catch-up goes on in the background: the tracker answers its clients meanwhile, and reports in sync only after it', async () => {
    const start = Date.now() * 1000 - 600_000_000;
    cluster = await Cluster.create(2);
    await writeSyntheticLog(cluster.trackers[0]!.dataDir, { origin: 1, count: 200_000, startHlc: start });
    await writeSyntheticLog(cluster.trackers[1]!.dataDir, { origin: 2, count: 20_000, startHlc: start + 1000 });
    await cluster.start(2);
    const bob = await clientOf(cluster, [2]);
    clients.push(bob);
    await cluster.start(1);

    const two = cluster.trackers[1]!;
    await waitFor('tracker 2 to re-fold in the background', () => (two.output.includes('re-folding') ? true : undefined), 60_000, 5);
    await bob.request('create_user', { user: 'bob', password: 'pw' });
    const during = await health(cluster, 2);
    const doneYet = two.output.includes('re-fold done');

    expect(doneYet).toBe(false); // answered while the re-fold went on
    expect(during.replication).toMatchObject({ inSync: false, refolding: true });
    expect(bob.tracker?.id).toBe(2); // no failover
    const [one, after] = await waitConverged(cluster, 60_000);
    expect(after.stateHash).toBe(one.stateHash);
    expect(two.output).toMatch(/re-folding \d+ events in the background/);
    expect(two.output).toMatch(/re-fold done in \d+ ms/);
    expect(stateOf(cluster, 1).users.has('bob')).toBe(true);
  }, 90_000);

  test('a link cut in the middle of a big catch-up: the next link goes on from what tracker 2 stored, and both converge', async () => {
    // Tracker 2 stores catch-up frames on its frame checker's thread; the cut comes while
    // some are stored and not yet folded. Folded twice, its state would list conflicts
    // (each user created twice); not taken up, the next link would send them again.
    const count = 300_000;
    cluster = await Cluster.create(2);
    net = await partitionable(cluster);
    await writeSyntheticLog(cluster.trackers[0]!.dataDir, { origin: 1, count });
    await cluster.start(1, net.args(1));
    await cluster.start(2, net.args(2));
    await waitFor('tracker 2 part of the way', async () => {
      const held = (await health(cluster!, 2)).originMarks['1'] ?? 0;
      return held > 0 && held < count ? true : undefined;
    }, 60_000, 2);
    net.cut();
    await waitFor('the link down on tracker 2', async () => ((await health(cluster!, 2)).replication.link !== 'up' ? true : undefined), 10_000);
    const cutAt = (await health(cluster, 2)).originMarks['1'] ?? 0;
    net.heal();

    const [one, two] = await waitConverged(cluster, 60_000);
    expect(cutAt).toBeLessThan(count);
    expect(two.stateHash).toBe(one.stateHash);
    expect(two.originMarks).toEqual({ '1': count });
    expect(stateOf(cluster, 2).conflicts).toEqual([]);
    for (const t of cluster.trackers) expect(t.output).not.toMatch(/LOCAL_ERROR|CHAIN_BROKEN/);
  }, 90_000);

  test('a tracker stopped (SIGTERM) in the middle of a big catch-up stops cleanly, and after a restart goes on to converge', async () => {
    const count = 300_000;
    cluster = await Cluster.create(2);
    await writeSyntheticLog(cluster.trackers[0]!.dataDir, { origin: 1, count });
    await cluster.start(1);
    await cluster.start(2);
    await waitFor('tracker 2 part of the way', async () => {
      const held = (await health(cluster!, 2)).originMarks['1'] ?? 0;
      return held > 0 && held < count ? true : undefined;
    }, 60_000, 2);

    expect(await cluster.kill(2, 'SIGTERM')).toBe(0);
    await new Promise((resolve) => setTimeout(resolve, 500)); // its last lines may come after its exit
    const stopped = cluster.trackers[1]!.output;
    expect(stopped).toContain('tracker 2 stopped');
    expect(stopped).not.toMatch(/uncaught|unclean stop|not open/i);

    await cluster.start(2);
    const [one, two] = await waitConverged(cluster, 60_000);
    expect(two.stateHash).toBe(one.stateHash);
    expect(two.originMarks).toEqual({ '1': count });
  }, 90_000);

  test('a tracker that lost its log catches up its own origin before it commits again', async () => {
    // tracker 2 holds 20,000 events of origin 1 that tracker 1 lost with its disk
    cluster = await Cluster.create(2);
    await writeSyntheticLog(cluster.trackers[1]!.dataDir, { origin: 1, count: 20_000 });
    await cluster.start(2);

    // bob's command reaches tracker 1 as soon as it listens, long before it has caught up
    const starting = cluster.start(1);
    const bob = await waitFor('a client on the restarted tracker 1', () => connectOnce(cluster!, 1), 10_000, 5);
    clients.push(bob);
    await bob.request('create_user', { user: 'bob', password: 'pw' });
    await starting;

    const [one, two] = await waitConverged(cluster);
    expect(one.stateHash).toBe(two.stateHash);
    // bob's event continued tracker 1's chain after what tracker 2 held: nothing forked
    expect(one.originMarks['1']).toBe(20_001);
    expect(cluster.trackers[0]!.output).toContain('catching up before accepting commands');
    for (const t of cluster.trackers) expect(t.output).not.toContain('CHAIN_BROKEN');
    expect(stateOf(cluster, 2).users.has('bob')).toBe(true);
  });
});

/** One connection attempt to tracker `id` only; undefined (and nothing left running) if it is not up. */
async function connectOnce(cluster: Cluster, id: number): Promise<TrackerConnection | undefined> {
  const c = new TrackerConnection([{ id, host: '127.0.0.1', port: cluster.trackers[id - 1]!.port }]);
  try {
    await c.connect();
    return c;
  } catch {
    c.close();
    return undefined;
  }
}
