/**
 * Both trackers down, as a user of the real client sees it: one line when its tracker is
 * gone and it switched, one line when no tracker is reachable (and no more while it keeps
 * retrying), commands meanwhile refused at once with a clear NO_TRACKER error, and one
 * line when a tracker is back, with the session still on: no login again.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { ScriptedClient } from '../../src/demo/scripted-client.js';
import { CLIENT_BIN, Cluster, freePort } from '../helpers/cluster.js';
import { waitConverged } from '../helpers/replication.js';

let cluster: Cluster;
let client: ScriptedClient;

beforeAll(async () => {
  cluster = await Cluster.create(2);
  await Promise.all([cluster.start(1), cluster.start(2)]);
  await waitConverged(cluster);
  client = new ScriptedClient(CLIENT_BIN, `127.0.0.1:${await freePort()}`, cluster.infoFile, [], cluster.dir);
});

afterAll(async () => {
  await client?.kill('SIGKILL');
  await cluster?.destroy();
});

const kinds = () => client.events.map((e) => e.event);

describe('both trackers down', () => {
  test('the client says so once, refuses commands at once with NO_TRACKER, and says when a tracker is back, still logged in', async () => {
    await client.must('create_user frank pw');
    await client.must('login frank pw');
    await client.must('create_group before');
    await waitConverged(cluster); // tracker 2 holds the session too

    await cluster.kill(1);
    expect(await client.waitForEvent('tracker_switched', 10_000)).toMatchObject({ to: `127.0.0.1:${cluster.trackers[1]!.port}` });
    await cluster.kill(2);
    const down = await client.waitForEvent('tracker_down', 10_000);
    // Why, for each tracker: nothing listens on either port now.
    const why = cluster.trackers.map((t) => `127.0.0.1:${t.port}: connection refused`);
    for (const w of why) expect(down.message).toContain(w);

    const t0 = performance.now();
    const read = await client.send('list_groups');
    const write = await client.send('create_group during');
    expect(performance.now() - t0).toBeLessThan(2000); // refused, not left waiting
    for (const refused of [read, write]) {
      expect(refused.ok).toBe(false);
      expect(refused.error?.code).toBe('NO_TRACKER');
      expect(refused.error?.message).toContain('no tracker reachable');
      for (const w of why) expect(refused.error?.message).toContain(w);
    }
    await new Promise((r) => setTimeout(r, 3000)); // several reconnect attempts
    expect(kinds().filter((k) => k === 'tracker_down')).toHaveLength(1);

    await cluster.start(2);
    expect(await client.waitForEvent('tracker_back', 15_000)).toMatchObject({ to: `127.0.0.1:${cluster.trackers[1]!.port}` });
    expect(kinds().filter((k) => k === 'tracker_switched')).toHaveLength(1); // the back line only, not another switch
    const groups = (await client.must('list_groups')) as { group: string; role: string | null }[];
    expect(groups.map((g) => g.group).sort()).toEqual(['before']); // the refused create_group never applied
    expect(groups[0]!.role).toBe('owner'); // still logged in as frank: no login again
    await client.must('create_group after');
  });
});
