/**
 * A tracker that stalls (here SIGSTOP) while a command waits in its socket: the client
 * gives it up after its heartbeat, sends the command again to the twin, which runs it,
 * and goes on. When the stalled tracker wakes up it must not run its copy too: that
 * copy would apply the command a second time, after (in fold order) what the client did
 * next, e.g. bring back a group the client has since left (QA round 2, finding 1).
 * And the client sends a command again only within its retry span (RETRY_SPAN_MS), so
 * both trackers' copies of it fall inside the fold's memory of command keys.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { TrackerConnection } from '../../src/client/tracker-connection.js';
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

  it('is not sent again to the twin once the retry span has passed: it fails NOT_CONFIRMED, and the twin never sees it', async () => {
    const c = await Cluster.create(2);
    cluster = c;
    await Promise.all([c.start(1), c.start(2)]);
    await waitConverged(c);
    const order = [1, 2].map((id) => ({ id, host: '127.0.0.1', port: c.trackers[id - 1]!.port }));
    const hasty = new TrackerConnection(order, { retrySpanMs: 300 }); // the failover takes longer than that
    const patient = new TrackerConnection(order);
    clients.push(hasty, patient);
    await Promise.all([hasty.connect(), patient.connect()]);

    c.trackers[0]!.proc!.kill('SIGSTOP');
    const [late, onTime] = await Promise.allSettled([hasty.request('create_user', { user: 'late', password: 'pw' }), patient.request('create_user', { user: 'ontime', password: 'pw' })]);
    expect(late).toMatchObject({ status: 'rejected', reason: { code: 'NOT_CONFIRMED', message: expect.stringContaining('check before sending it again') } });
    expect(onTime.status).toBe('fulfilled');
    expect(patient.tracker?.port).toBe(c.trackers[1]!.port);
    const users = stateOf(c, 2).users;
    expect(users.has('ontime')).toBe(true);
    expect(users.has('late'), 'never sent to tracker 2').toBe(false);
  }, 60_000);
});
