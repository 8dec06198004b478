/**
 * One flipped byte in one event of a real tracker's log: `tracker verify` finds it and
 * names it, and the tracker refuses to start on that log, saying why and naming the two
 * ways out. The byte is changed in SQLite itself, after dropping the append-only trigger
 * in this test's copy, as a disk or a careless hand would.
 */
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cluster } from '../helpers/cluster.js';
import { connectAs, createUser, trackerCli, trackerJson } from './admin-cli.js';

let cluster: Cluster;
let dataDir: string;
/** The damaged event: bob's user_created. */
let target: { id: number; origin: number; seq: number };

beforeAll(async () => {
  cluster = await Cluster.create(1);
  await cluster.start(1);
  dataDir = cluster.trackers[0]!.dataDir;
  const alice = await connectAs(cluster.infoFile, 'alice', 'alice-secret-pw');
  await createUser(cluster.infoFile, 'bob', 'bob-secret-pw');
  await alice.request('create_group', { group: 'g1' });
  await cluster.kill(1, 'SIGTERM');
  alice.close();

  const db = new Database(join(dataDir, 'events.db'));
  try {
    db.exec('DROP TRIGGER events_no_update');
    const row = db.prepare(`SELECT id, origin, seq, data FROM events WHERE type = 'user_created' AND data LIKE '%"bob"%'`).get() as { id: number; origin: number; seq: number; data: string };
    target = { id: row.id, origin: row.origin, seq: row.seq };
    const at = row.data.indexOf('"bob"') + 1;
    const flipped = row.data.slice(0, at) + String.fromCharCode(row.data.charCodeAt(at) ^ 0x01) + row.data.slice(at + 1); // bob -> cob
    db.prepare('UPDATE events SET data = ? WHERE id = ?').run(flipped, row.id);
  } finally {
    db.close();
  }
});
afterAll(async () => cluster?.destroy());

describe('a log with one flipped byte', () => {
  it('fails tracker verify, which names the event (origin:seq, local id) and what is wrong', async () => {
    const run = await trackerCli(['verify', '--data-dir', dataDir]);
    expect(run.code).toBe(2);
    expect(run.stdout).toContain(`event ${target.origin}:${target.seq} (local id ${target.id}): hash does not match the content`);
    const json = await trackerCli(['verify', '--data-dir', dataDir, '--json']);
    expect(json.code).toBe(2);
    expect(JSON.parse(json.stdout)).toMatchObject({ ok: false, problem: { kind: 'event', origin: target.origin, seq: target.seq, id: target.id } });
  });

  it('makes the tracker refuse to start, saying why and naming the two ways out', async () => {
    await expect(cluster.start(1)).rejects.toThrow(/exited with 1/);
    const output = cluster.trackers[0]!.output;
    expect(output).toContain(`event ${target.origin}:${target.seq} (local id ${target.id}): hash does not match the content`);
    expect(output).toMatch(/restore a good backup: +tracker restore <backup-file> --data-dir .* --force/);
    expect(output).toMatch(/move the data dir aside .* catches up every event from its twin/s);
  });

  it('stays readable for the operator: inspect and events still work on it', async () => {
    // The damage is in the data, not in what folds: inspect still shows the log as it is.
    const summary = await trackerJson<{ users: number }>(['inspect', '--data-dir', dataDir]);
    expect(summary.users).toBe(2);
    const events = await trackerCli(['events', '--data-dir', dataDir, '--type', 'user_created']);
    expect(events.stdout).toContain('"cob"');
  });
});
