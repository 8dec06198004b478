/**
 * A tracker that stalls (here SIGSTOP) while a command waits in its socket: the client
 * gives it up after its heartbeat, sends the command again to the twin, which runs it,
 * and goes on. When the stalled tracker wakes up it must not run its copy too: that
 * copy would apply the command a second time, after (in fold order) what the client did
 * next, e.g. bring back a group the client has since left (QA round 2, finding 1).
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { TrackerConnection } from '../../src/client/tracker-connection.js';
import { Cluster, waitFor } from '../helpers/cluster.js';
import { clientOf, health, stateOf, waitConverged } from '../helpers/replication.js';

let cluster: Cluster | undefined;
const clients: TrackerConnection[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  if (cluster) for (const t of cluster.trackers) t.proc?.kill('SIGCONT');
  await cluster?.destroy();
  cluster = undefined;
});

describe('a command left in a stalled tracker', () => {
  it('runs once: on the twin the client moved to, not again when the stalled tracker wakes', async () => {
    const c = await Cluster.create(2);
    cluster = c;
    await Promise.all([c.start(1), c.start(2)]);
    await waitConverged(c);
    const dave = await clientOf(c, [1, 2]);
    clients.push(dave);
    await dave.request('create_user', { user: 'dave', password: 'pw-dave' });
    await dave.request('login', { user: 'dave', password: 'pw-dave', peer: '127.0.0.1:7004' });
    await waitConverged(c);

    c.trackers[0]!.proc!.kill('SIGSTOP');
    await dave.request('create_group', { group: 'brief' }); // sent to tracker 1, run by tracker 2 after the switch
    expect(dave.tracker?.port).toBe(c.trackers[1]!.port);
    await dave.request('leave_group', { group: 'brief' }); // its only member: the group goes
    c.trackers[0]!.proc!.kill('SIGCONT');

    await waitFor('tracker 1 to be linked again', async () => ((await health(c, 1)).replication.link === 'up' ? true : undefined), 20_000);
    const [one] = await waitConverged(c, 20_000);
    expect(one.stateHash).toBe((await health(c, 2)).stateHash);
    for (const id of [1, 2]) {
      const state = stateOf(c, id);
      expect(state.groups.has('brief')).toBe(false);
      expect(state.conflicts.filter((x) => x.type === 'group_created')).toEqual([]);
    }
    expect(c.trackers[0]!.output).toContain('not running a command from a connection its client had closed');
  }, 60_000);
});
