/**
 * replay, verify and snapshot on a log a real tracker wrote, snapshots included: a replay
 * from the first event agrees with the tracker's own state, with its snapshots and with
 * the live projection; `--to` travels back in time; verify passes a healthy log; a
 * snapshot is refused while the tracker runs and taken once it stopped.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_SNAPSHOT_EVERY } from '../../src/events/log/ledger.js';
import { Cluster, waitFor } from '../helpers/cluster.js';
import { connectAs, createUser, trackerCli, trackerJson, waitForSnapshot } from './admin-cli.js';

let cluster: Cluster;
let dataDir: string;
const EVENTS = 10;

interface Replay {
  events: number;
  stateHash: string;
  ms: number;
  eventsPerSecond: number;
  to: string | null;
  last: { origin: number; seq: number } | null;
  snapshot?: { id: number; ok: boolean; eventCount: number } | null;
  projection?: { ok: boolean };
  ok: boolean;
}

beforeAll(async () => {
  cluster = await Cluster.create(1);
  await cluster.start(1, ['--snapshot-every', '3']);
  dataDir = cluster.trackers[0]!.dataDir;
  const alice = await connectAs(cluster.infoFile, 'alice', 'alice-secret-pw');
  for (const u of ['bob', 'carol', 'dave', 'erin']) await createUser(cluster.infoFile, u, `${u}-secret-pw`);
  for (const g of ['g1', 'g2', 'g3']) await alice.request('create_group', { group: g });
  alice.close();
  // 5 users, a login, 3 groups and the lost session: 10 events, so 1 after the snapshot at 9.
  await waitFor('the lost session', async () => ((await cluster.health(1)).events === EVENTS ? true : undefined));
  await waitForSnapshot(cluster, 1); // snapshots are stored by a background worker
});
afterAll(async () => cluster?.destroy());

describe('tracker replay', () => {
  it('rebuilds the state from the first event to the same hash the tracker serves', async () => {
    const health = await cluster.health(1);
    const r = await trackerJson<Replay>(['replay', '--data-dir', dataDir]);
    expect(r.events).toBe(health.events);
    expect(r.stateHash).toBe(health.stateHash);
    expect(r.to).toBeNull();
    expect(r.ms).toBeGreaterThanOrEqual(0);
    const text = await trackerCli(['replay', '--data-dir', dataDir]);
    expect(text.stdout).toMatch(new RegExp(`^state hash\\s+${health.stateHash}$`, 'm'));
    expect(text.stdout).toMatch(/^replayed\s+\d+ events in \d+\.\d\d s \([\d,]+ events\/s\), ignoring snapshots$/m);
  });

  it('--verify agrees with the newest snapshot and the live projection', async () => {
    const snapshots = await trackerJson<{ snapshot: { id: number; eventCount: number } | null }>(['inspect', '--data-dir', dataDir]);
    expect(snapshots.snapshot).not.toBeNull(); // --snapshot-every 3 left some
    const r = await trackerJson<Replay>(['replay', '--data-dir', dataDir, '--verify']);
    expect(r.ok).toBe(true);
    expect(r.snapshot).toMatchObject({ id: snapshots.snapshot!.id, ok: true, eventCount: snapshots.snapshot!.eventCount });
    expect(r.projection).toMatchObject({ ok: true });
  });

  it('--to travels back: by local id, by origin:seq and by time', async () => {
    const byId = await trackerJson<Replay>(['replay', '--data-dir', dataDir, '--to', '1']);
    expect(byId).toMatchObject({ events: 1, to: 'local id 1', last: { origin: 1, seq: 1 } });
    const bySeq = await trackerJson<Replay>(['replay', '--data-dir', dataDir, '--to', '1:5']);
    expect(bySeq).toMatchObject({ events: 5, to: 'event 1:5', last: { origin: 1, seq: 5 } });
    const past = await trackerJson<Replay>(['replay', '--data-dir', dataDir, '--to', '2001-01-01T00:00:00Z']);
    expect(past.events).toBe(0);
    const now = await trackerJson<Replay>(['replay', '--data-dir', dataDir, '--to', new Date(Date.now() + 60_000).toISOString()]);
    expect(now.stateHash).toBe((await cluster.health(1)).stateHash);
    expect(byId.stateHash).not.toBe(bySeq.stateHash); // different points, different states
    const bad = await trackerCli(['replay', '--data-dir', dataDir, '--to', 'yesterday']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/expected a local id N, ORIGIN:SEQ, or an ISO date\/time/);
  });
});

describe('tracker verify', () => {
  it('passes a healthy log, snapshots included, while the tracker runs', async () => {
    const v = await trackerJson<{ ok: boolean; eventsChecked: number; snapshotsChecked: number; problem: unknown }>(['verify', '--data-dir', dataDir]);
    expect(v).toMatchObject({ ok: true, problem: null });
    expect(v.eventsChecked).toBe((await cluster.health(1)).events);
    expect(v.snapshotsChecked).toBeGreaterThanOrEqual(1);
    const text = await trackerCli(['verify', '--data-dir', dataDir]);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/^ok .*events\.db: \d+ events and \d+ snapshots verified/);
  });
});

describe('tracker snapshot', () => {
  it('refuses while the tracker runs, and says why and what to do', async () => {
    const run = await trackerCli(['snapshot', '--data-dir', dataDir]);
    expect(run.code).toBe(1);
    const every = DEFAULT_SNAPSHOT_EVERY.toLocaleString('en-US');
    expect(run.stderr).toMatch(new RegExp(`a tracker is running on .*every --snapshot-every events \\(default ${every}\\).*stop it first`, 's'));
  });

  it('takes one offline (or finds the newest covers all), which verify and replay --verify then check', async () => {
    await cluster.kill(1, 'SIGTERM');
    const s = await trackerJson<{ taken: boolean; eventCount: number; stateHash: string }>(['snapshot', '--data-dir', dataDir]);
    expect(s.eventCount).toBe(EVENTS); // taken now, unless the tracker's own newest already covered every event
    const again = await trackerJson<{ taken: boolean }>(['snapshot', '--data-dir', dataDir]);
    expect(again.taken).toBe(false); // the newest already covers every event
    const summary = await trackerJson<{ snapshot: { eventCount: number }; eventsSinceSnapshot: number; stateHash: string }>(['inspect', '--data-dir', dataDir]);
    expect(summary.snapshot.eventCount).toBe(s.eventCount);
    expect(summary.eventsSinceSnapshot).toBe(0);
    expect(summary.stateHash).toBe(s.stateHash);
    expect((await trackerJson<Replay>(['replay', '--data-dir', dataDir, '--verify'])).ok).toBe(true);
    expect((await trackerCli(['verify', '--data-dir', dataDir])).code).toBe(0);
    // And the tracker starts from it.
    await cluster.start(1);
    expect((await cluster.health(1)).stateHash).toBe(s.stateHash);
  });
});
