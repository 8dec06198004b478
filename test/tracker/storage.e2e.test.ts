/**
 * What a real tracker leaves on disk: an append-only log that SQLite itself defends, and
 * passwords only as salted scrypt hashes.
 */
import Database from 'better-sqlite3';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cluster } from '../helpers/cluster.js';
import { runClient } from '../helpers/client-process.js';

let cluster: Cluster;
const PASSWORD = 'correct-horse-battery-staple';

beforeAll(async () => {
  cluster = await Cluster.create(1);
  await cluster.start(1);
  const run = await runClient(cluster.infoFile, [`create_user alice ${PASSWORD}`, `create_user bob ${PASSWORD}`, `login alice ${PASSWORD}`, 'create_group g'], { cwd: cluster.dir });
  expect(run.code).toBe(0);
  await cluster.kill(1, 'SIGTERM');
});
afterAll(async () => cluster?.destroy());

const dbFile = () => join(cluster.trackers[0]!.dataDir, 'events.db');

describe('the event log on disk', () => {
  it('refuses UPDATE and DELETE on events, in SQLite itself', () => {
    const db = new Database(dbFile());
    try {
      expect(db.prepare('SELECT count(*) AS n FROM events').get()).toEqual({ n: 5 });
      expect(() => db.prepare("UPDATE events SET type = 'user_created' WHERE seq = 1").run()).toThrow(/append-only/);
      expect(() => db.prepare('DELETE FROM events WHERE seq = 1').run()).toThrow(/append-only/);
      expect(() => db.prepare('DELETE FROM events').run()).toThrow(/append-only/);
      expect(db.prepare('SELECT count(*) AS n FROM events').get()).toEqual({ n: 5 });
    } finally {
      db.close();
    }
  });

  it('stores passwords only as salted scrypt hashes', () => {
    const db = new Database(dbFile(), { readonly: true });
    const rows = db.prepare("SELECT data FROM events WHERE type = 'user_created' ORDER BY seq").all() as { data: string }[];
    db.close();
    const hashes = rows.map((r) => (JSON.parse(r.data) as { passwordHash: string }).passwordHash);
    expect(hashes).toHaveLength(2);
    for (const h of hashes) expect(h).toMatch(/^scrypt\$16384\$8\$1\$[A-Za-z0-9+/=]{20,}\$[A-Za-z0-9+/=]{40,}$/);
    expect(hashes[0]).not.toBe(hashes[1]); // same password, different salt
    // The password appears nowhere in the data dir: not in the log, the WAL, or a snapshot.
    for (const file of readdirSync(cluster.trackers[0]!.dataDir)) {
      expect(readFileSync(join(cluster.trackers[0]!.dataDir, file)).includes(PASSWORD), file).toBe(false);
    }
    expect(cluster.trackers[0]!.output.includes(PASSWORD)).toBe(false);
  });
});
