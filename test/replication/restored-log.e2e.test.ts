/**
 * A log put back by `tracker restore` lacks the events of its own origin newer than the
 * backup, which the twin holds. Accepting a command before reaching the twin would reuse
 * one of those seqs and fork the origin's history for good (CHAIN_BROKEN on every link,
 * state hashes that never meet again), and its state cannot say whether a user or a
 * session made since the backup exists. So the restored tracker serves nobody until it
 * has reached the twin and caught up; `--twin-lost` lets it go on alone. `tracker status`
 * says so and exits 2 meanwhile.
 */
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { TrackerConnection } from '../../src/client/tracker-connection.js';
import { trackerCli } from '../admin/admin-cli.js';
import { Cluster, freePort, waitFor } from '../helpers/cluster.js';
import { clientOf, health, waitConverged } from '../helpers/replication.js';

let cluster: Cluster | undefined;
const clients: TrackerConnection[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await cluster?.destroy();
  cluster = undefined;
});

/**
 * Tracker 2 has events of its own origin beyond a backup of its log; then both stop and
 * 2's log is the backup again. `ann` (a client of tracker 2 only, logged in before the
 * backup) stays connected throughout and keeps retrying in the background.
 */
async function restoredWhileTwinDown(): Promise<{ c: Cluster; ann: TrackerConnection }> {
  const c = await Cluster.create(2);
  cluster = c;
  await Promise.all([c.start(1), c.start(2)]);
  const ann = await clientOf(c, [2]);
  clients.push(ann);
  await ann.request('create_user', { user: 'ann', password: 'pw-ann' });
  await ann.request('login', { user: 'ann', password: 'pw-ann', peer: '127.0.0.1:7001' });
  await ann.request('create_group', { group: 'before-backup' });
  await waitConverged(c);
  const backup = join(c.dir, 'tracker-2.backup');
  expect((await trackerCli(['backup', backup, '--data-dir', c.trackers[1]!.dataDir])).code).toBe(0);
  for (let i = 0; i < 5; i++) await ann.request('create_group', { group: `after-backup-${i}` });
  await waitConverged(c);
  await c.kill(2, 'SIGTERM');
  await c.kill(1, 'SIGTERM');
  const restore = await trackerCli(['restore', backup, '--data-dir', c.trackers[1]!.dataDir, '--force']);
  expect(restore.code, restore.stderr).toBe(0);
  return { c, ann };
}

/** Tracker 2 started with --twin-lost (tracker 1 still down), and a command run on it. */
async function goOnAlone(c: Cluster): Promise<void> {
  await c.start(2, ['--twin-lost']);
  const carol = await clientOf(c, [2]);
  clients.push(carol);
  await carol.request('create_user', { user: 'carol', password: 'pw-carol' });
}

describe('a restored log', () => {
  it('serves nobody until it has reached its twin (sessions are kept), then catches up and converges', async () => {
    const { c, ann } = await restoredWhileTwinDown();
    let sessionEnded = false;
    ann.on('session-expired', () => (sessionEnded = true));
    await c.start(2); // its twin is down
    const before = await health(c, 2);
    expect(before.replication).toMatchObject({ holdingCommits: true, restoredFrom: { file: join(c.dir, 'tracker-2.backup') } });
    const status = await trackerCli(['status', c.infoFile, '2']);
    expect(status.code).toBe(2);
    expect(status.stdout).toMatch(/restored from .*tracker-2\.backup.*accepts no command until tracker 1 is reached/);

    // Asked for anything, it answers TRACKER_CATCHING_UP: a client with no other tracker is told at once that none serves.
    const bob = new TrackerConnection([{ id: 2, host: '127.0.0.1', port: c.trackers[1]!.port }]);
    clients.push(bob);
    const t0 = performance.now();
    // ... and why: the tracker's own refusal, not a bare "no tracker reachable".
    await expect(bob.connect()).rejects.toMatchObject({
      code: 'NO_TRACKER',
      message: expect.stringContaining(`127.0.0.1:${c.trackers[1]!.port}: tracker 2 was restored from a backup and serves nobody until it has reached tracker 1`),
    });
    expect(performance.now() - t0).toBeLessThan(5000);
    await new Promise((r) => setTimeout(r, 2500)); // ann's client retried meanwhile, with its session token
    expect(sessionEnded).toBe(false);
    expect((await health(c, 2)).events).toBe(before.events);

    await c.start(1);
    await waitFor('bob and ann to be served by tracker 2', () => (bob.tracker && ann.tracker ? true : undefined), 20_000);
    await bob.request('create_user', { user: 'bob', password: 'pw-bob' });
    await ann.request('create_group', { group: 'after-restore' }); // still logged in
    expect(sessionEnded).toBe(false);
    const [one, two] = await waitConverged(c);
    expect(two.stateHash).toBe(one.stateHash);
    expect(two.replication).toMatchObject({ restoredFrom: null, problem: null });
    expect(c.trackers[1]!.output).toContain('this log was restored from');
    expect(c.trackers[1]!.output).toContain('accepting commands');
    expect(c.trackers[1]!.output).not.toContain('CHAIN_BROKEN');
  }, 60_000);

  it('while it waits, a client that knows both trackers goes straight to the other one', async () => {
    const { c } = await restoredWhileTwinDown();
    const nowhere = `127.0.0.1:${await freePort()}`; // the two cannot reach each other
    await Promise.all([c.start(1, ['--peer', nowhere]), c.start(2, ['--peer', nowhere])]);
    const dave = new TrackerConnection([2, 1].map((id) => ({ id, host: '127.0.0.1', port: c.trackers[id - 1]!.port })));
    clients.push(dave);
    const t0 = performance.now();
    await dave.connect();
    expect(performance.now() - t0).toBeLessThan(1500);
    expect(dave.tracker?.port).toBe(c.trackers[0]!.port);
  }, 60_000);

  it('with --twin-lost, accepts commands at once without its twin', async () => {
    const { c } = await restoredWhileTwinDown();
    await goOnAlone(c);
    expect((await health(c, 2)).replication).toMatchObject({ restoredFrom: null });
    expect(c.trackers[1]!.output).toContain('--twin-lost');
  }, 60_000);

  it('forked by --twin-lost while its twin held newer events: status names CHAIN_BROKEN, and clients go to the twin', async () => {
    const { c } = await restoredWhileTwinDown();
    await goOnAlone(c); // carol's user_created takes a seq tracker 1 holds another event under
    await c.start(1);
    const status = await waitFor('tracker 2 to name the broken chain', async () => {
      const run = await trackerCli(['status', c.infoFile, '2']);
      return run.stdout.includes('link problem: CHAIN_BROKEN') ? run : undefined;
    }, 15_000);
    expect(status.code).toBe(2);
    expect(status.stdout).toContain('Two histories');
    expect((await health(c, 2)).replication.holdingCommits).toBe(true); // tracker 1 holds more of origin 2 than its log

    // A client that prefers tracker 2 is refused there (catching up, for good) and moves to tracker 1.
    const dave = await clientOf(c, [2, 1]);
    clients.push(dave);
    const switched: string[] = [];
    dave.on('switched', (_from: unknown, _to: unknown, reason: string) => switched.push(reason));
    const t0 = performance.now();
    await dave.request('create_user', { user: 'dave', password: 'pw-dave' });
    expect(performance.now() - t0).toBeLessThan(10_000);
    expect(switched).toEqual(['catching-up']);
    expect(dave.tracker?.port).toBe(c.trackers[0]!.port);
  }, 60_000);
});
