/**
 * The SQLite event log: append-only enforced by SQLite itself, UNIQUE(origin, seq),
 * migrations tracked in user_version, WAL + synchronous=FULL, and the queries the ledger
 * and replication rely on. Real files in a temporary directory.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { copyFileSync, mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { encodeState, initialState, type Envelope } from '../../src/events/index.js';
import { EventStore } from '../../src/events/log/event-store.js';
import { migrate, migrationsDir } from '../../src/events/log/migrations.js';
import { envelopeRow } from '../../src/events/replication/protocol.js';
import { chain, tempDir } from '../helpers/envelopes.js';

let dir: ReturnType<typeof tempDir>;
const open: EventStore[] = [];
const openStore = (name = 'log.db'): EventStore => {
  const store = EventStore.open(dir.file(name));
  open.push(store);
  return store;
};
const openReader = (name = 'log.db'): EventStore => {
  const store = EventStore.openReadOnly(dir.file(name));
  open.push(store);
  return store;
};

beforeEach(() => {
  dir = tempDir();
});
afterEach(() => {
  for (const s of open.splice(0)) if (s.db.open) s.close();
  dir.remove();
});

const all = (store: EventStore): Envelope[] => [...store.inFoldOrder()];
const LATEST_MIGRATION = Math.max(...readdirSync(migrationsDir()).filter((f) => /^\d{3}_/.test(f)).map((f) => Number(f.slice(0, 3))));

describe('append-only, enforced by SQLite', () => {
  test('given stored events, when appended and read back, then every field is as written', () => {
    const store = openStore();
    const events = chain(1, 3, { idem: (i) => (i === 0 ? 'key-1' : null) });
    store.append(events);
    expect(all(store)).toEqual(events);
    expect(store.count()).toBe(3);
  });

  test.each([
    ['UPDATE of data', 'UPDATE events SET data = \'{"user":"mallory","passwordHash":"h"}\' WHERE seq = 1'],
    ['UPDATE of every row', "UPDATE events SET idem = 'x'"],
    ['DELETE of one event', 'DELETE FROM events WHERE seq = 2'],
    ['DELETE of everything', 'DELETE FROM events'],
    ['INSERT OR REPLACE over an event', "INSERT OR REPLACE INTO events (origin, seq, hlc, type, data, prev, hash, idem) VALUES (1, 1, 1, 'user_created', '{}', '', 'x', NULL)"],
    ['UPSERT over an event', "INSERT INTO events (origin, seq, hlc, type, data, prev, hash, idem) VALUES (1, 1, 1, 'user_created', '{}', '', 'x', NULL) ON CONFLICT (origin, seq) DO UPDATE SET data = excluded.data"],
  ])('given stored events, when raw SQL tries an %s, then SQLite refuses it and nothing changes', (_what, sql) => {
    const store = openStore();
    const events = chain(1, 3);
    store.append(events);
    expect(() => store.db.prepare(sql).run()).toThrow(/append-only/);
    expect(all(store)).toEqual(events);
  });

  test('given an event (1, 1), when another (1, 1) is appended, then UNIQUE(origin, seq) refuses it', () => {
    const store = openStore();
    store.append(chain(1, 1));
    const impostor = chain(1, [{ type: 'user_created', data: { user: 'mallory', passwordHash: 'h' } }]);
    expect(() => store.append(impostor)).toThrow(/UNIQUE/);
    expect(all(store).map((e) => JSON.parse(e.data).user)).toEqual(['o1s1']);
  });

  test('given a batch with one new event and one duplicate, when appended, then neither is stored (one transaction)', () => {
    const store = openStore();
    const [first, second] = chain(1, 2);
    store.append([first!]);
    expect(() => store.append([second!, first!])).toThrow(/UNIQUE/);
    expect(store.count()).toBe(1);
  });

  test('given a bulk append (many rows per INSERT, then the rest one by one), when read back, then every event is there in arrival order', () => {
    const store = openStore();
    const events = [...chain(1, 100), ...chain(2, 101)]; // 201: three statements of 64 rows and 9 single rows
    store.append(events);
    expect(store.count()).toBe(201);
    const byArrival = store.db.prepare('SELECT origin, seq FROM events ORDER BY id').all();
    expect(byArrival).toEqual(events.map((e) => ({ origin: e.origin, seq: e.seq })));
    expect(store.ofOrigin(2, 0, 200)).toEqual(events.slice(100));
  });

  test('given a bulk append with a duplicate deep inside a many-row INSERT, when appended, then nothing of it is stored', () => {
    const store = openStore();
    const events = chain(1, 150);
    store.append(events.slice(0, 1));
    expect(() => store.append([...events.slice(1, 40), events[0]!, ...events.slice(40)])).toThrow(/UNIQUE/);
    expect(store.count()).toBe(1);
  });

  test('given an append that does not wait for the disk, then its events are stored and the log waits for the disk again afterwards', () => {
    const store = openStore();
    store.append(chain(1, 100), { waitForDisk: false });
    expect(store.count()).toBe(100);
    expect(store.db.pragma('synchronous', { simple: true })).toBe(2);
  });

  test('given an append that does not wait for the disk and fails, then nothing of it is stored and the log still waits for the disk afterwards', () => {
    const store = openStore();
    const events = chain(1, 100);
    store.append(events.slice(0, 1));
    expect(() => store.append(events, { waitForDisk: false })).toThrow(/UNIQUE/);
    expect(store.count()).toBe(1);
    expect(store.db.pragma('synchronous', { simple: true })).toBe(2);
  });

  /**
   * Runs `appending` (JavaScript with `store`, the log, and `events` in scope) in a child
   * process that opens the log, then kills it with SIGKILL once it has appended.
   */
  async function appendThenKill(events: readonly Envelope[], appending: string): Promise<void> {
    const input = dir.file('events.json');
    writeFileSync(input, JSON.stringify(events));
    const storeModule = pathToFileURL(resolve(import.meta.dirname, '../../dist/src/events/log/event-store.js')).href;
    const script = `
      const { readFileSync } = await import('node:fs');
      const { EventStore } = await import(${JSON.stringify(storeModule)});
      const store = EventStore.open(${JSON.stringify(dir.file('log.db'))});
      const events = JSON.parse(readFileSync(${JSON.stringify(input)}, 'utf8'));
      ${appending}
      process.stdout.write('appended\\n');
      setInterval(() => undefined, 1000);
    `;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      await new Promise<void>((done, fail) => {
        const timer = setTimeout(() => fail(new Error('the child did not append within 10 s')), 10_000);
        child.stdout.on('data', (d: Buffer) => d.toString().includes('appended') && (clearTimeout(timer), done()));
        child.once('exit', (code) => (clearTimeout(timer), fail(new Error(`the child exited with ${code}`))));
      });
    } finally {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGKILL');
        await once(child, 'exit');
      }
    }
  }

  test('given a process that appended without waiting for the disk, when it is killed with SIGKILL, then every event is in the log', async () => {
    const events = chain(1, 300);
    await appendThenKill(events, 'store.append(events, { waitForDisk: false });');
    expect(all(openStore())).toEqual(events);
  });

  test('given a log whose WAL was reserved (zeros past its frames), when its process is killed with SIGKILL after commits, then every event is in the log', async () => {
    const events = chain(1, 300);
    await appendThenKill(events, 'store.reserveWal(); for (let i = 0; i < events.length; i += 30) store.append(events.slice(i, i + 30));');
    expect(statSync(`${dir.file('log.db')}-wal`).size).toBe(64 * 1024 * 1024); // reserved, and the frames written over its zeros
    const store = openStore();
    expect(all(store)).toEqual(events);
    expect(store.db.pragma('integrity_check', { simple: true })).toBe('ok');
    store.append(chain(1, 301).slice(300)); // and it goes on
    expect(store.count()).toBe(301);
  });

  test('given some events held, when appendNew gets old and new ones, then only the new ones are stored and returned', () => {
    const store = openStore();
    const events = chain(1, 4);
    store.append(events.slice(0, 2));
    expect(store.appendNew(events)).toEqual(events.slice(2));
    expect(store.appendNew(events)).toEqual([]);
    expect(all(store)).toEqual(events);
  });
});

describe('appendContinuation (a second connection storing a catch-up)', () => {
  test('given events that continue each origin\'s chain, from nothing and from what is held, then they are stored', () => {
    const store = openStore();
    const one = chain(1, 200);
    store.append(one.slice(0, 50));
    const two = chain(2, 100);
    const frame = [...one.slice(50), ...two]; // origin 1 from seq 51 on, origin 2 from its start

    expect(openStore().appendContinuation(frame, () => true)).toBe(true);

    expect(store.count()).toBe(300);
    expect(store.originMarks()).toEqual(new Map([[1, { seq: 200, hash: one[199]!.hash, hlc: one[199]!.hlc }], [2, { seq: 100, hash: two[99]!.hash, hlc: two[99]!.hlc }]]));
  });

  test.each([
    ['a gap before it', (events: Envelope[]) => events.slice(51)],
    ['one already held', (events: Envelope[]) => events.slice(49)],
    ['a prev that is not the held event\'s hash', (events: Envelope[]) => [{ ...events[50]!, prev: events[10]!.hash }, ...events.slice(51)]],
    ['a gap inside it', (events: Envelope[]) => [...events.slice(50, 100), ...events.slice(101)]],
    ['a prev inside it that is not the last one\'s hash', (events: Envelope[]) => events.slice(50).map((e) => (e.seq === 150 ? { ...e, prev: events[0]!.hash } : e))],
  ])('given %s, then nothing is stored', (_, spoil) => {
    const store = openStore();
    const events = chain(1, 200);
    store.append(events.slice(0, 50));

    expect(openStore().appendContinuation(spoil(events), () => true)).toBe(false);

    expect(store.count()).toBe(50);
  });

  test('given a request withdrawn by the time it has the write lock, then nothing is stored', () => {
    const store = openStore();
    let asked = 0;
    expect(
      openStore().appendContinuation(chain(1, 100), () => {
        asked += 1;
        return false;
      }),
    ).toBe(false);
    expect(asked).toBe(1);
    expect(store.count()).toBe(0);
  });

  test('given a connection that stored without waiting for the disk, then it waits for the disk again afterwards', () => {
    const other = openStore();
    other.appendContinuation(chain(1, 100), () => true);
    expect(other.db.pragma('synchronous', { simple: true })).toBe(2);
  });
});

describe('migrations and pragmas', () => {
  test('given a new file, when opened, then migrations ran and user_version is the newest migration', () => {
    const store = openStore();
    expect(LATEST_MIGRATION).toBeGreaterThanOrEqual(1);
    expect(store.db.pragma('user_version', { simple: true })).toBe(LATEST_MIGRATION);
  });

  test('given a migrated log with events, when reopened (twice), then nothing is re-applied and the events are kept', () => {
    const first = openStore();
    first.append(chain(1, 2));
    first.close();
    const second = openStore();
    second.close();
    const third = openStore();
    expect(third.db.pragma('user_version', { simple: true })).toBe(LATEST_MIGRATION);
    expect(third.count()).toBe(2);
    expect(migrate(third.db)).toBe(LATEST_MIGRATION);
  });

  /** A log as a build with the repository's migrations up to `version` left it, with these whole-state snapshots. */
  const logOfVersion = (version: number, snapshots: { hash: string; state: string }[]): void => {
    const folder = dir.file(`migrations-${version}`);
    mkdirSync(folder);
    for (const f of readdirSync(migrationsDir())) if (Number(f.slice(0, 3)) <= version) copyFileSync(`${migrationsDir()}/${f}`, `${folder}/${f}`);
    const db = new Database(dir.file('log.db'));
    try {
      expect(migrate(db, folder)).toBe(version);
      for (const s of snapshots) {
        db.prepare('INSERT INTO snapshots (hlc, origin, seq, event_count, state_hash, state, created_at) VALUES (1, 1, 1, 1, ?, ?, 0)').run(s.hash, s.state);
      }
    } finally {
      db.close();
    }
  };

  test('given snapshots of state version 1 (before accounts), when the log is opened by this build, then they are dropped and the others kept', () => {
    const current = JSON.stringify(encodeState(initialState()));
    logOfVersion(1, [
      { hash: 'old', state: JSON.stringify({ ...encodeState(initialState()), v: 1 }) },
      { hash: 'new', state: current },
    ]);
    const reopened = openStore();
    expect(reopened.listSnapshots().map((s) => s.stateHash)).toEqual(['new']);
    expect(reopened.latestSnapshotText()?.state).toBe(current);
  });

  test('given snapshots stored whole (before migration 003), when the log is opened by this build, then each is kept as one part and reads back the same', () => {
    const a = JSON.stringify(encodeState(initialState()));
    const b = JSON.stringify({ ...encodeState(initialState()), users: [] });
    logOfVersion(2, [
      { hash: 'a', state: a },
      { hash: 'b', state: b },
    ]);
    const reopened = openStore();
    const [first, second] = reopened.listSnapshots();
    expect([first?.stateHash, second?.stateHash]).toEqual(['a', 'b']);
    expect(reopened.snapshotState(first!.id)).toEqual(JSON.parse(a));
    expect(reopened.snapshotState(second!.id)).toEqual(JSON.parse(b));
    expect(reopened.db.prepare('SELECT count(*) FROM snapshot_parts').pluck().get()).toBe(2);
  });

  test('given a folder of migrations, when applied and then extended, then each runs once, in order', () => {
    const folder = dir.file('migrations');
    mkdirSync(folder);
    writeFileSync(`${folder}/002_second.sql`, 'INSERT INTO log VALUES (2);');
    writeFileSync(`${folder}/001_first.sql`, 'CREATE TABLE log (n INTEGER);');
    writeFileSync(`${folder}/notes.txt`, 'not a migration');
    const db = new Database(dir.file('m.db'));
    try {
      expect(migrate(db, folder)).toBe(2);
      writeFileSync(`${folder}/003_third.sql`, 'INSERT INTO log VALUES (3);');
      expect(migrate(db, folder)).toBe(3);
      expect(migrate(db, folder)).toBe(3);
      expect(db.prepare('SELECT n FROM log ORDER BY rowid').pluck().all()).toEqual([2, 3]);
    } finally {
      db.close();
    }
  });

  test('given a migration that fails halfway, when applied, then it is rolled back and user_version stays', () => {
    const folder = dir.file('migrations');
    mkdirSync(folder);
    writeFileSync(`${folder}/001_ok.sql`, 'CREATE TABLE a (n INTEGER);');
    writeFileSync(`${folder}/002_broken.sql`, 'CREATE TABLE b (n INTEGER); THIS IS NOT SQL;');
    const db = new Database(dir.file('m.db'));
    try {
      expect(() => migrate(db, folder)).toThrow();
      expect(db.pragma('user_version', { simple: true })).toBe(1);
      expect(db.prepare("SELECT count(*) FROM sqlite_master WHERE name = 'b'").pluck().get()).toBe(0);
    } finally {
      db.close();
    }
  });

  test('given an opened log, then journal_mode is WAL and synchronous is FULL (2)', () => {
    const store = openStore();
    expect(store.db.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(store.db.pragma('synchronous', { simple: true })).toBe(2);
  });
});

describe('background checkpoints', () => {
  test('given appends that never pause, then the WAL is still restarted from its start, not grown by every commit', async () => {
    const store = openStore();
    store.checkpointInBackground(50);
    let last = chain(1, 1);
    store.append(last);
    let commits = 1;
    const until = performance.now() + 1500;
    while (performance.now() < until) {
      last = chain(1, 1, { after: last[0] });
      store.append(last);
      commits += 1;
      await new Promise((r) => setImmediate(r)); // the turn in which the worker's message lands
    }
    const walBytes = statSync(`${dir.file('log.db')}-wal`).size;
    await store.close();
    // Every commit writes at least one 4 KiB page to the WAL: kept, they would all still be there.
    expect(commits).toBeGreaterThan(200);
    expect(walBytes).toBeLessThan((commits * 4096) / 4);
  });
});

describe('checkpoints during a burst of bulk appends (a catch-up)', () => {
  /** Appends `batches` chained batches of 1,000 events (bulk appends), a few ms apart. */
  async function burst(store: EventStore, batches: number): Promise<void> {
    let after: Envelope | undefined;
    for (let i = 0; i < batches; i++) {
      const batch = chain(1, 1000, { after });
      store.append(batch);
      after = batch[batch.length - 1];
      await new Promise((r) => setTimeout(r, 5));
    }
  }
  const databaseBytes = () => statSync(dir.file('log.db')).size;
  const grown = async (from: number) => {
    const until = performance.now() + 5000;
    while (databaseBytes() <= from && performance.now() < until) await new Promise((r) => setTimeout(r, 20));
    return databaseBytes() > from;
  };

  test('given a burst, then nothing is copied into the database while it lasts, and all of it once it is over', async () => {
    const store = openStore();
    store.checkpointInBackground(50);
    const before = databaseBytes();
    await burst(store, 30);
    expect(databaseBytes()).toBe(before);
    expect(await grown(before)).toBe(true);
    await store.close();
  });

  test('given a burst longer than the most it may defer, then checkpoints run during it', async () => {
    const store = openStore();
    store.checkpointInBackground(50, 3000);
    const before = databaseBytes();
    await burst(store, 30);
    expect(databaseBytes()).toBeGreaterThan(before);
    await store.close();
  });
});

describe('queries', () => {
  // Arrival order differs from fold order: origin 2 events arrive interleaved and early.
  const o1 = chain(1, 3, { hlc: (i) => [7, 9, 20][i]! });
  const o2 = chain(2, 2, { hlc: (i) => [5, 7][i]!, idem: (i) => (i === 1 ? 'shared-key' : null) });

  test('given two origins, when asking for marks, then each origin has its highest seq, hash and hlc', () => {
    const store = openStore();
    expect(store.originMarks().size).toBe(0);
    store.append([o2[0]!, o1[0]!, o1[1]!, o2[1]!, o1[2]!]);
    expect(store.originMarks()).toEqual(
      new Map([
        [1, { seq: 3, hash: o1[2]!.hash, hlc: 20 }],
        [2, { seq: 2, hash: o2[1]!.hash, hlc: 7 }],
      ]),
    );
    expect(store.maxHlc()).toBe(20);
  });

  test('given events stored in arrival order, when read in fold order, then sorted by (hlc, origin, seq), and after a position strictly after it', () => {
    const store = openStore();
    store.append([o1[2]!, o2[1]!, o1[0]!, o1[1]!, o2[0]!]);
    const pos = (e: Envelope) => [e.hlc, e.origin, e.seq];
    expect(all(store).map(pos)).toEqual([
      [5, 2, 1],
      [7, 1, 1],
      [7, 2, 2],
      [9, 1, 2],
      [20, 1, 3],
    ]);
    expect([...store.inFoldOrder({ hlc: 7, origin: 1, seq: 1 })].map(pos)).toEqual([
      [7, 2, 2],
      [9, 1, 2],
      [20, 1, 3],
    ]);
    expect([...store.inFoldOrder({ hlc: 20, origin: 1, seq: 3 })]).toEqual([]);
  });

  test('given events with data that needs escaping, when read as encoded rows, then each is its place and the JSON text of its wire row', () => {
    const store = openStore();
    const awkward = ['quote " and backslash \\', 'controls \u0000 \u0001 \b \f \n \r \t \u001f', 'é ü 中文 \u2028 \u2029 \u007f', 'emoji 😀 and 𝄞'];
    const events = chain(1, awkward.map((user) => ({ type: 'user_created', data: { user, passwordHash: 'h' } })), { idem: (i) => (i % 2 === 0 ? `key-${i}` : null) });
    store.append([...events.slice(2), ...events.slice(0, 2)]);
    const rows = [...store.rowsInFoldOrder()];
    expect(rows.map(([origin, seq, hlc]) => [origin, seq, hlc])).toEqual(events.map((e) => [e.origin, e.seq, e.hlc]));
    // the same text JSON.stringify makes, so frames do not depend on which side wrote them
    expect(rows.map((r) => r[3])).toEqual(events.map((e) => JSON.stringify(envelopeRow(e))));
    expect([...store.rowsInFoldOrder({ hlc: events[1]!.hlc, origin: 1, seq: 2 })].map((r) => JSON.parse(r[3]))).toEqual(events.slice(2).map(envelopeRow));
  });

  test('given two origins, when reading one origin after a seq, then its events in seq order, at most limit', () => {
    const store = openStore();
    store.append([o1[2]!, o2[1]!, o1[0]!, o1[1]!, o2[0]!].filter((e) => !(e.origin === 1 && e.seq === 3)));
    store.append([o1[2]!]);
    expect(store.ofOrigin(1, 0, 100)).toEqual(o1);
    expect(store.ofOrigin(1, 1, 1)).toEqual([o1[1]]);
    expect(store.ofOrigin(1, 3, 100)).toEqual([]);
    expect(store.ofOrigin(3, 0, 100)).toEqual([]);
  });

  test('given a two-event command with an idempotency key, when looked up by key, then its first event is found', () => {
    const store = openStore();
    // The ledger puts the key on the first event of a command only.
    const command = chain(1, 2, { after: o1[2]!, idem: (i) => (i === 0 ? 'command-key' : null) });
    store.append([...o1, ...o2, ...command]);
    expect(store.byIdem('command-key')).toEqual(command[0]);
    expect(store.byIdem('shared-key')).toEqual(o2[1]);
    expect(store.byIdem('no-such-key')).toBeUndefined();
  });

  test('given an empty log, then count and maxHlc are 0 and nothing is folded', () => {
    const store = openStore();
    expect(store.count()).toBe(0);
    expect(store.maxHlc()).toBe(0);
    expect(all(store)).toEqual([]);
  });

  test('given snapshots, when asking for the latest (before a position), then by fold position, not by insertion', () => {
    const store = openStore();
    const state = encodeState(initialState());
    store.saveSnapshot({ hlc: 20, origin: 1, seq: 3 }, 5, 'h20', state, 1);
    store.saveSnapshot({ hlc: 7, origin: 1, seq: 1 }, 2, 'h7', state, 2);
    store.saveSnapshot({ hlc: 9, origin: 1, seq: 2 }, 4, 'h9', state, 3);
    expect(store.latestSnapshot()).toMatchObject({ hlc: 20, eventCount: 5, stateHash: 'h20', state });
    expect(store.latestSnapshot({ hlc: 9, origin: 1, seq: 2 })?.stateHash).toBe('h7');
    expect(store.latestSnapshot({ hlc: 7, origin: 1, seq: 1 })).toBeUndefined();
    expect(store.dropSnapshotsFrom({ hlc: 9, origin: 1, seq: 2 })).toBe(2);
    expect(store.listSnapshots().map((s) => s.stateHash)).toEqual(['h7']);
    expect(store.snapshotState(store.listSnapshots()[0]!.id)).toEqual(state);
  });

  test('given more snapshots than kept, when pruned, then the newest ones stay', () => {
    const store = openStore();
    const state = encodeState(initialState());
    for (let i = 1; i <= 5; i++) store.saveSnapshot({ hlc: i, origin: 1, seq: i }, i, `h${i}`, state, i);
    store.pruneSnapshots(2);
    expect(store.listSnapshots().map((s) => s.stateHash)).toEqual(['h4', 'h5']);
  });

  test('given meta values, when set twice, then the last value is read back', () => {
    const store = openStore();
    expect(store.getMeta('k')).toBeUndefined();
    store.setMeta('k', 'one');
    store.setMeta('k', 'two');
    expect(store.getMeta('k')).toBe('two');
  });
});

describe('readers', () => {
  test('given a writer with the log open, when a read-only store opens it, then it reads, sees new commits, and cannot write', () => {
    const writer = openStore();
    const events = chain(1, 4);
    writer.append(events.slice(0, 2));
    const reader = openReader();
    expect(reader.count()).toBe(2);
    writer.append(events.slice(2));
    expect([...reader.inFoldOrder()]).toEqual(events);
    expect(reader.originMarks().get(1)?.seq).toBe(4);
    expect(() => reader.append(chain(2, 1))).toThrow(/readonly/i);
    expect(writer.count()).toBe(4);
  });

  test('given no log file, when opened read-only, then it fails instead of creating one', () => {
    expect(() => openReader('missing.db')).toThrow();
    expect(readdirSync(dir.path)).toEqual([]);
  });
});
