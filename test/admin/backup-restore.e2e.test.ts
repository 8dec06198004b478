/**
 * Backups of a real tracker's log: taken while it serves (and writes), verified, and
 * restored into a fresh data dir where a tracker starts with the very same state hash.
 * Restore refuses while the tracker runs, refuses to overwrite without --force (and then
 * keeps the old log aside), and refuses a damaged backup without touching anything.
 */
import Database from 'better-sqlite3';
import { copyFileSync, existsSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TrackerConnection } from '../../src/client/tracker-connection.js';
import { Cluster } from '../helpers/cluster.js';
import { connectAs, trackerCli, trackerJson, waitForSnapshot } from './admin-cli.js';

let original: Cluster;
let fresh: Cluster;
let alice: TrackerConnection;
let originalDir: string;
let freshDir: string;

interface CopyReport {
  file: string;
  events: number;
  snapshots: number;
  stateHash: string;
  movedAside?: string | null;
}

beforeAll(async () => {
  original = await Cluster.create(1);
  fresh = await Cluster.create(1);
  await original.start(1, ['--snapshot-every', '20']);
  originalDir = original.trackers[0]!.dataDir;
  freshDir = fresh.trackers[0]!.dataDir;
  alice = await connectAs(original.infoFile, 'alice', 'alice-secret-pw');
  for (let i = 0; i < 30; i++) await alice.request('create_group', { group: `g${i}` });
  await waitForSnapshot(original, 1);
});
afterAll(async () => {
  alice?.close();
  await original?.destroy();
  await fresh?.destroy();
});

describe('tracker backup', () => {
  it('copies the log while the tracker serves and appends, and verifies the copy', async () => {
    let writing = true;
    let written = 0;
    const writer = (async () => {
      while (writing) await alice.request('create_group', { group: `busy${written++}` });
    })();
    const file = join(original.dir, 'busy.backup');
    let report: CopyReport;
    try {
      report = await trackerJson<CopyReport>(['backup', file, '--data-dir', originalDir]);
    } finally {
      writing = false;
      await writer;
    }
    expect(written).toBeGreaterThan(0);
    expect(report.events).toBeGreaterThanOrEqual(32);
    expect(report.snapshots).toBeGreaterThanOrEqual(1);
    expect(readdirSync(original.dir).filter((f) => f.startsWith('busy.backup'))).toEqual(['busy.backup']); // one self-contained file
    expect((await trackerJson<{ ok: boolean }>(['verify', '--data-dir', originalDir])).ok).toBe(true);
  });

  it('refuses to overwrite an existing file without --force', async () => {
    const file = join(original.dir, 'busy.backup');
    const before = statSync(file).mtimeMs;
    const run = await trackerCli(['backup', file, '--data-dir', originalDir]);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/exists; pass --force/);
    expect(statSync(file).mtimeMs).toBe(before);
  });
});

describe('tracker restore', () => {
  let file: string;
  let originalHash: string;
  let originalEvents: number;

  beforeAll(async () => {
    const health = await original.health(1);
    originalHash = health.stateHash;
    originalEvents = health.events;
    file = join(original.dir, 'quiet.backup');
    const report = await trackerJson<CopyReport>(['backup', file, '--data-dir', originalDir]);
    expect(report.stateHash).toBe(originalHash);
  });

  it('refuses while a tracker runs on the data dir', async () => {
    const run = await trackerCli(['restore', file, '--data-dir', originalDir, '--force']);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/a tracker is running on .*stop that tracker before restoring/);
  });

  it('restores into a fresh data dir, where the tracker starts with the original state hash', async () => {
    const report = await trackerJson<CopyReport>(['restore', file, '--data-dir', freshDir]);
    expect(report).toMatchObject({ events: originalEvents, stateHash: originalHash, movedAside: null });
    await fresh.start(1);
    const health = await fresh.health(1);
    expect(health.stateHash).toBe(originalHash);
    expect(health.events).toBe(originalEvents);
    await fresh.kill(1, 'SIGTERM');
  });

  it('refuses to replace an existing log without --force, and with it keeps the old one aside', async () => {
    const refused = await trackerCli(['restore', file, '--data-dir', freshDir]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/already holds an event log .*pass --force/);
    const report = await trackerJson<CopyReport>(['restore', file, '--data-dir', freshDir, '--force']);
    expect(report.movedAside).toMatch(/events\.db\.replaced-/);
    expect(existsSync(report.movedAside!)).toBe(true);
    expect(report.stateHash).toBe(originalHash);
  });

  it('refuses a file that is not a backup before it creates anything', async () => {
    const notABackup = join(original.dir, 'not-a-backup.bin');
    writeFileSync(notABackup, 'x'.repeat(10_000));
    const target = join(original.dir, 'never-made', 'tracker-9');
    const run = await trackerCli(['restore', notABackup, '--data-dir', target]);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/cannot be opened as an event log .*nothing was changed/);
    expect(existsSync(join(original.dir, 'never-made'))).toBe(false);
  });

  it('refuses a damaged backup and changes nothing', async () => {
    const damaged = join(original.dir, 'damaged.backup');
    copyFileSync(file, damaged);
    const db = new Database(damaged);
    db.exec('DROP TRIGGER events_no_update');
    db.prepare(`UPDATE events SET data = replace(data, '"g7"', '"g8"') WHERE type = 'group_created' AND data LIKE '%"g7"%'`).run();
    db.close();
    const before = statSync(join(freshDir, 'events.db')).mtimeMs;
    const run = await trackerCli(['restore', damaged, '--data-dir', freshDir, '--force']);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/damaged\.backup failed verification: event 1:\d+ \(local id \d+\): hash does not match the content; nothing was changed/);
    expect(statSync(join(freshDir, 'events.db')).mtimeMs).toBe(before);
  });
});
