/**
 * `tracker events` prints a real tracker's log one event per line, filters it, redacts
 * password hashes, and with --follow tails what the running tracker appends until Ctrl-C.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TrackerConnection } from '../../src/client/tracker-connection.js';
import { Cluster } from '../helpers/cluster.js';
import { connectAs, createUser, LiveCli, trackerCli } from './admin-cli.js';

let cluster: Cluster;
let alice: TrackerConnection;
let dataDir: string;

interface EventLine {
  id: number;
  origin: number;
  seq: number;
  hlc: number;
  time: string;
  type: string;
  data: Record<string, unknown>;
}

async function eventsJson(args: string[]): Promise<EventLine[]> {
  const run = await trackerCli(['events', '--data-dir', dataDir, '--json', ...args]);
  expect(run.code, run.stderr).toBe(0);
  return run.stdout
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as EventLine);
}

beforeAll(async () => {
  cluster = await Cluster.create(1);
  await cluster.start(1);
  dataDir = cluster.trackers[0]!.dataDir;
  alice = await connectAs(cluster.infoFile, 'alice', 'alice-secret-pw'); // user_created, session_started
  await createUser(cluster.infoFile, 'bob', 'bob-secret-pw'); // user_created
  await alice.request('create_group', { group: 'g1' }); // group_created
});
afterAll(async () => {
  alice?.close();
  await cluster?.destroy();
});

describe('tracker events', () => {
  it('prints every event in arrival order, one JSON object per line, password hashes redacted', async () => {
    const events = await eventsJson([]);
    expect(events.map((e) => e.type)).toEqual(['user_created', 'session_started', 'user_created', 'group_created']);
    expect(events.map((e) => `${e.origin}:${e.seq}`)).toEqual(['1:1', '1:2', '1:3', '1:4']);
    expect(events.map((e) => e.id)).toEqual([1, 2, 3, 4]);
    expect(events[0]!.data).toEqual({ user: 'alice', passwordHash: '[redacted]' });
    expect(events[3]!.data).toEqual({ group: 'g1', owner: 'alice', account: expect.stringMatching(/^[0-9a-f]{16}$/) });
    expect(events[3]!.data.account, 'the account of the session that made it').toBe(events[1]!.data.account);
    expect(Math.abs(Date.parse(events[0]!.time) - Date.now())).toBeLessThan(120_000);
  });

  it('--type filters by event type and never shows a hash in text form either', async () => {
    expect((await eventsJson(['--type', 'user_created'])).map((e) => e.data.user)).toEqual(['alice', 'bob']);
    expect((await eventsJson(['--type', 'group_created,session_started'])).map((e) => e.type)).toEqual(['session_started', 'group_created']);
    const text = await trackerCli(['events', '--data-dir', dataDir, '--type', 'user_created']);
    expect(text.code).toBe(0);
    expect(text.stdout).not.toMatch(/scrypt/);
    const lines = text.stdout.trimEnd().split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/^\s+1\s+\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\s+1:1\s+user_created\s+\{"user":"alice","passwordHash":"\[redacted\]"\}$/);
    const bad = await trackerCli(['events', '--data-dir', dataDir, '--type', 'user_deleted']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/unknown event type user_deleted/);
  });

  it('--origin, --since (id, origin:seq, time) and --limit pick the slice', async () => {
    expect(await eventsJson(['--origin', '2'])).toEqual([]);
    expect((await eventsJson(['--origin', '1'])).length).toBe(4);
    expect((await eventsJson(['--since', '3'])).map((e) => e.id)).toEqual([3, 4]);
    expect((await eventsJson(['--since', '1:2', '--limit', '2'])).map((e) => e.id)).toEqual([2, 3]);
    expect((await eventsJson(['--limit', '2'])).map((e) => e.id)).toEqual([3, 4]); // newest 2 without --since
    const all = await eventsJson([]);
    const since = new Date(Date.parse(all[2]!.time)).toISOString();
    expect((await eventsJson(['--since', since])).map((e) => e.id)).toEqual(all.filter((e) => e.time >= since).map((e) => e.id));
    expect((await eventsJson(['--since', '2999-01-01T00:00:00Z'])).length).toBe(0);
    const missing = await trackerCli(['events', '--data-dir', dataDir, '--since', '7:1']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/event 7:1 is not in this log/);
  });

  it('--follow prints new events as the tracker appends them and exits cleanly on SIGINT', async () => {
    const live = new LiveCli(['events', '--data-dir', dataDir, '--follow', '--json', '--type', 'user_created,group_created']);
    try {
      await live.waitForLine('the backlog', (l) => l.includes('"g1"'));
      expect(live.lines()).toHaveLength(3); // backlog: 2 users and a group
      await createUser(cluster.infoFile, 'carol', 'carol-secret-pw');
      await alice.request('create_group', { group: 'g2' });
      const carol = JSON.parse(await live.waitForLine('carol', (l) => l.includes('"carol"'))) as EventLine;
      expect(carol.data).toEqual({ user: 'carol', passwordHash: '[redacted]' });
      await live.waitForLine('g2', (l) => l.includes('"g2"'));
      expect(live.lines().map((l) => (JSON.parse(l) as EventLine).type)).toEqual(['user_created', 'user_created', 'group_created', 'user_created', 'group_created']);
    } finally {
      expect(await live.stop('SIGINT')).toBe(0);
    }
    expect(live.stderr).toBe('');
  });
});
