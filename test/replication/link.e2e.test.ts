/**
 * The link between two real tracker processes: a command on one is visible on the
 * other, acknowledgement is semi-synchronous (the twin holds the event before the
 * client hears "ok"), a twin that stops answering delays commands by ACK_WAIT_MS at
 * most (the link lags until it has acked everything again), and `tracker status`
 * reports the link.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { TrackerConnection } from '../../src/client/tracker-connection.js';
import { Cluster, TRACKER_BIN, waitFor } from '../helpers/cluster.js';
import { clientOf, health, waitConverged } from '../helpers/replication.js';
import { trackerCli } from '../admin/admin-cli.js';
import { ACK_WAIT_MS } from '../../src/tracker/twin-acks.js';

/** 20 commands through tracker 1: the moment each is acknowledged, tracker 2 holds it. */
async function expectTwinHoldsEachAck(cluster: Cluster, client: TrackerConnection, prefix: string): Promise<void> {
  for (let i = 0; i < 20; i++) {
    await client.request('create_group', { group: `${prefix}${i}` });
    // ask tracker 2 first: it must already hold everything tracker 1 holds after the ack
    const two = await health(cluster, 2);
    const one = await health(cluster, 1);
    expect(two.originMarks['1']).toBe(one.originMarks['1']);
  }
}

describe('replication link', () => {
  let cluster: Cluster;
  const clients: TrackerConnection[] = [];

  beforeAll(async () => {
    cluster = await Cluster.create(2);
    await Promise.all([cluster.start(1), cluster.start(2)]);
    await waitConverged(cluster);
  });

  afterAll(async () => {
    for (const c of clients) c.close();
    await cluster?.destroy();
  });

  test('a command acknowledged by tracker 1 is visible on tracker 2', async () => {
    const alice = await clientOf(cluster, [1, 2]);
    clients.push(alice);
    expect(alice.tracker?.id).toBe(1);
    await alice.request('create_user', { user: 'alice', password: 'pw-alice' });
    await alice.request('login', { user: 'alice', password: 'pw-alice', peer: '127.0.0.1:7101' });
    await alice.request('create_group', { group: 'movies' });

    // bob talks only to tracker 2, and logs in there as the user created on tracker 1
    const bob = await clientOf(cluster, [2, 1]);
    clients.push(bob);
    expect(bob.tracker?.id).toBe(2);
    await bob.request('create_user', { user: 'bob', password: 'pw-bob' });
    await bob.request('login', { user: 'bob', password: 'pw-bob', peer: '127.0.0.1:7102' });
    expect(await bob.request('list_groups', {})).toEqual([{ group: 'movies', owner: 'alice', members: 1, role: null }]);
    await bob.request('join_group', { group: 'movies' });
    expect(await alice.request('list_requests', { group: 'movies' })).toEqual(['bob']);

    const [a, b] = await waitConverged(cluster);
    expect(a.stateHash).toBe(b.stateHash);
    expect(a.replication.link).toBe('up');
  });

  test('semi-synchronous: the moment tracker 1 acknowledges, tracker 2 holds the event', async () => {
    const carol = await clientOf(cluster, [1, 2]);
    clients.push(carol);
    await carol.request('create_user', { user: 'carol', password: 'pw' });
    await carol.request('login', { user: 'carol', password: 'pw', peer: '127.0.0.1:7103' });
    await expectTwinHoldsEachAck(cluster, carol, 'semi-');
  });

  test('tracker status prints the link, the lag, the marks and the state hash', async () => {
    await waitConverged(cluster);
    const run = promisify(execFile);
    const { stdout } = await run(process.execPath, [TRACKER_BIN, 'status', cluster.infoFile, '2'], { timeout: 10_000 });
    const h = await health(cluster, 2);
    expect(stdout).toContain('link up to tracker 1');
    expect(stdout).toContain('in sync');
    expect(stdout).toContain('once the twin has their events on its disk (--twin-ack flush)');
    expect(stdout).toContain(h.stateHash);
    expect(stdout).toMatch(new RegExp(`\\b1\\s+${h.replication.localMarks['1']}\\s+${h.replication.peerMarks['1']}`));
    const json = await run(process.execPath, [TRACKER_BIN, 'status', '--json', '--url', `http://127.0.0.1:${cluster.trackers[0]!.port}`], { timeout: 10_000 });
    expect(JSON.parse(json.stdout)).toMatchObject({ tracker: 1, replication: { link: 'up', inSync: true, lagEvents: 0 } });
  });
});

describe('acks on write (--twin-ack write)', () => {
  let cluster: Cluster;
  let client: TrackerConnection | undefined;

  afterAll(async () => {
    client?.close();
    await cluster?.destroy();
  });

  test('given tracker 1 started with --twin-ack write, when tracker 2 is killed -9 right after an ack, then it still holds that event on restart, with tracker 1 gone', async () => {
    cluster = await Cluster.create(2);
    await Promise.all([cluster.start(1, ['--twin-ack', 'write']), cluster.start(2)]);
    await waitConverged(cluster);
    expect((await health(cluster, 1)).replication.twinAck).toBe('write');
    expect((await health(cluster, 2)).replication.twinAck).toBe('flush');

    client = await clientOf(cluster, [1]);
    await client.request('create_user', { user: 'dora', password: 'pw' });
    await client.request('login', { user: 'dora', password: 'pw', peer: '127.0.0.1:7104' });
    await expectTwinHoldsEachAck(cluster, client, 'written-'); // still semi-synchronous
    await client.request('create_group', { group: 'last-acked' });
    const acked = (await health(cluster, 1)).originMarks['1'];
    await cluster.kill(2, 'SIGKILL');
    await cluster.kill(1, 'SIGKILL'); // nobody left to send it again
    await cluster.start(2);
    const two = await health(cluster, 2);
    expect(two.originMarks['1']).toBe(acked);
  });

  test('given --twin-ack with an unknown value, then the tracker does not start and names the choices; --help explains the option', async () => {
    const bad = await trackerCli(['start', 'tracker_info.txt', '1', '--twin-ack', 'never']);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain("option '--twin-ack <when>' argument 'never' is invalid. Allowed choices are flush, write.");
    const help = await trackerCli(['start', '--help']);
    expect(help.stdout.replace(/\s+/g, ' ')).toContain("--twin-ack <when> while the twin is linked, a command is acknowledged once its events are on the twin's disk ('flush') or written to the twin's log before its fsync ('write'");
  });
});

describe('a twin that stops answering', () => {
  let cluster: Cluster;
  let client: TrackerConnection | undefined;

  afterAll(async () => {
    client?.close();
    await cluster?.destroy(); // SIGKILL ends a stopped process too
  });

  test(`given tracker 2 frozen (SIGSTOP), then a command waits at most ACK_WAIT_MS (${ACK_WAIT_MS} ms) for it, the next ones not at all; once it wakes and acks everything, commands wait for it again`, async () => {
    cluster = await Cluster.create(2);
    await Promise.all([cluster.start(1), cluster.start(2)]);
    await waitConverged(cluster);
    client = await clientOf(cluster, [1]);
    await client.request('create_user', { user: 'erin', password: 'pw' });
    await client.request('login', { user: 'erin', password: 'pw', peer: '127.0.0.1:7105' });

    const twin = cluster.trackers[1]!.proc!;
    twin.kill('SIGSTOP');
    try {
      let t0 = performance.now();
      await client.request('create_group', { group: 'waited' });
      const first = performance.now() - t0;
      expect(first).toBeGreaterThanOrEqual(ACK_WAIT_MS - 50);
      expect(first).toBeLessThan(ACK_WAIT_MS + 4000);
      expect((await health(cluster, 1)).replication).toMatchObject({ link: 'up', lagging: true });

      t0 = performance.now();
      for (let i = 0; i < 10; i++) await client.request('create_group', { group: `unwaited-${i}` });
      expect(performance.now() - t0).toBeLessThan(5 * ACK_WAIT_MS); // ten waits would take 10 s
    } finally {
      twin.kill('SIGCONT');
    }

    // The link stayed up (silent for less than HEARTBEAT_TIMEOUT_MS): the twin acks the backlog, and the lag ends.
    await waitFor('tracker 1 no longer lagging', async () => ((await health(cluster, 1)).replication.lagging ? undefined : true));
    await waitConverged(cluster);
    await expectTwinHoldsEachAck(cluster, client, 'after-');
    const out = cluster.trackers[0]!.output;
    expect(out).toContain(`tracker 2 did not acknowledge within ${ACK_WAIT_MS} ms: the link is lagging, acknowledging on the local commit until it catches up`);
    expect(out).toContain('tracker 2 has caught up: commands wait for its ack again');
    expect(out).not.toContain('replication link to tracker 2 is down');
  });
});
