/**
 * `tracker inspect` shows what a real tracker holds, read from its log while it runs and
 * after it stopped, as tables and as JSON, and never a password hash.
 */
import { mkdirSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TrackerConnection } from '../../src/client/tracker-connection.js';
import { Cluster } from '../helpers/cluster.js';
import { connectAs, createUser, trackerCli, trackerJson } from './admin-cli.js';

let cluster: Cluster;
let alice: TrackerConnection;
let dataDir: string;

beforeAll(async () => {
  cluster = await Cluster.create(1);
  await cluster.start(1);
  dataDir = cluster.trackers[0]!.dataDir;
  alice = await connectAs(cluster.infoFile, 'alice', 'alice-secret-pw');
  await createUser(cluster.infoFile, 'bob', 'bob-secret-pw');
  await alice.request('create_group', { group: 'g1' });
  await alice.request('create_group', { group: 'g2' });
});
afterAll(async () => {
  alice?.close();
  await cluster?.destroy();
});

describe('tracker inspect on a running tracker', () => {
  it('summary --json counts what the tracker holds and agrees with its /health', async () => {
    const health = await cluster.health(1);
    const s = await trackerJson(['inspect', '--data-dir', dataDir]);
    expect(s).toMatchObject({ users: 2, groups: 2, files: 0, sessions: 1, sessionsOnline: 1, conflicts: 0, running: true, snapshot: null });
    expect(s.events).toBe(health.events);
    expect(s.stateHash).toBe(health.stateHash);
    expect(s.origins).toEqual([{ origin: 1, events: health.events, lastSeq: health.events }]);
  });

  it('users --json lists users with their groups and never a password hash', async () => {
    const run = await trackerCli(['inspect', 'users', '--data-dir', dataDir, '--json']);
    expect(run.code).toBe(0);
    expect(run.stdout).not.toMatch(/scrypt|passwordHash/);
    const users = JSON.parse(run.stdout) as { user: string; groups: string[]; sessions: number }[];
    expect(users.map((u) => [u.user, u.groups, u.sessions])).toEqual([
      ['alice', ['g1', 'g2'], 1],
      ['bob', [], 0],
    ]);
  });

  it('groups --json shows owners and members', async () => {
    const groups = await trackerJson<{ group: string; owner: string; members: string[]; requests: string[]; files: number }[]>(['inspect', 'groups', '--data-dir', dataDir]);
    expect(groups.map(({ group, owner, members, requests, files }) => ({ group, owner, members, requests, files }))).toEqual([
      { group: 'g1', owner: 'alice', members: ['alice'], requests: [], files: 0 },
      { group: 'g2', owner: 'alice', members: ['alice'], requests: [], files: 0 },
    ]);
  });

  it('sessions show user, peer, online and start time, and only a prefix of the session id', async () => {
    const sessions = await trackerJson<Record<string, unknown>[]>(['inspect', 'sessions', '--data-dir', dataDir]);
    expect(sessions).toHaveLength(1);
    expect(sessions[0]).toMatchObject({ user: 'alice', peer: '127.0.0.1:1', online: true });
    expect(sessions[0]!.session).toMatch(/^[0-9a-f]{8}$/);
    expect(Date.parse(sessions[0]!.started as string)).toBeGreaterThan(Date.now() - 60_000);
  });

  it('prints aligned tables for people', async () => {
    const run = await trackerCli(['inspect', 'groups', '--data-dir', dataDir]);
    expect(run.code).toBe(0);
    const [header, ...rows] = run.stdout.trimEnd().split('\n');
    expect(header).toMatch(/^GROUP\s+OWNER\s+MEMBERS\s+PENDING\s+FILES\s+CREATED$/);
    expect(rows).toHaveLength(2);
    expect(rows[0]!.indexOf('alice')).toBe(header!.indexOf('OWNER'));
    const summary = await trackerCli(['inspect', '--data-dir', dataDir]);
    expect(summary.stdout).toMatch(/^users\s+2$/m);
    expect(summary.stdout).toMatch(/^state hash\s+[0-9a-f]{64}$/m);
    expect((await trackerCli(['inspect', 'conflicts', '--data-dir', dataDir])).stdout.trim()).toBe('no conflicts');
  });

  it('-n N means ./data/tracker-N, relative to the current directory', async () => {
    mkdirSync(join(cluster.dir, 'data'), { recursive: true });
    symlinkSync(dataDir, join(cluster.dir, 'data', 'tracker-1'));
    const viaN = await trackerJson(['inspect', '-n', '1'], { cwd: cluster.dir });
    const viaDefault = await trackerJson(['inspect'], { cwd: cluster.dir });
    expect(viaN.users).toBe(2);
    expect(viaDefault.stateHash).toBe(viaN.stateHash);
    const both = await trackerCli(['inspect', '-n', '1', '--data-dir', dataDir]);
    expect(both.code).not.toBe(0);
    expect(both.stderr).toMatch(/cannot be used with/);
  });

  it('says clearly when there is no log', async () => {
    const run = await trackerCli(['inspect', '--data-dir', join(cluster.dir, 'nowhere')]);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/no event log at .*nowhere/);
  });

  it('still works after the tracker stopped, and says it is not running', async () => {
    alice.close();
    const before = await cluster.health(1);
    await cluster.kill(1, 'SIGTERM');
    const s = await trackerJson(['inspect', '--data-dir', dataDir]);
    expect(s.running).toBe(false);
    expect(s.events).toBeGreaterThanOrEqual(before.events); // + the lost session, if recorded before the stop
    expect(s.users).toBe(2);
  });
});
