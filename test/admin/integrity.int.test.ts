/**
 * The checks behind `tracker verify` and the start-up guard, on real SQLite logs written
 * with the bench's realistic generator: each kind of damage is found and named, the
 * start-up check sees the tail and the snapshot but (by design) not the events under
 * the snapshot, and the shared fold agrees with evolve over the plain envelopes.
 */
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { writeSyntheticLog } from '../../bench/lib/synthetic-log.js';
import { encodeState, evolve, initialState, openEnvelope, seal, stateHash, type Envelope } from '../../src/events/index.js';
import { EventStore } from '../../src/events/log/event-store.js';
import { foldEvents } from '../../src/events/log/fold.js';
import { Ledger } from '../../src/events/log/ledger.js';
import { checkAtStart, describeProblem, verifyLog } from '../../src/tracker/admin/integrity.js';
import { replayLog } from '../../src/tracker/admin/replay.js';
import { acquireRunLock, DataDirBusy, isLocked } from '../../src/tracker/admin/run-lock.js';
import { tempDir } from '../helpers/envelopes.js';

const EVENTS = 3000;
let dir: ReturnType<typeof tempDir>;
let file: string;

beforeEach(async () => {
  dir = tempDir('p2p-integrity-');
  file = dir.file('events.db');
  const store = EventStore.open(file);
  writeSyntheticLog(store, EVENTS, { seed: 7 });
  await store.close();
});
afterEach(() => dir.remove());

/** Opens the file with the append-only triggers dropped, for the damage a test needs. */
function tamper(act: (db: Database.Database) => void): void {
  const db = new Database(file);
  db.exec('DROP TRIGGER events_no_update; DROP TRIGGER events_no_delete;');
  act(db);
  db.close();
}

async function withStore<T>(read: (store: EventStore) => T | Promise<T>): Promise<T> {
  const store = EventStore.open(file);
  try {
    return await read(store);
  } finally {
    await store.close();
  }
}

/** A snapshot after the n-th event in fold order, as the ledger stores one. */
async function snapshotAt(n: number): Promise<void> {
  await withStore((store) => {
    const at = store.db.prepare('SELECT hlc, origin, seq FROM events ORDER BY hlc, origin, seq LIMIT 1 OFFSET ?').get(n - 1) as { hlc: number; origin: number; seq: number };
    const state = initialState();
    foldEvents(store, state, { upTo: at });
    store.saveSnapshot(at, state.eventCount, stateHash(state), encodeState(state), Date.now());
  });
}

describe('a healthy log', () => {
  it('passes verify and the start-up check; replay (both readers), the ledger and plain evolve agree', async () => {
    await snapshotAt(2000);
    await withStore(async (store) => {
      expect(verifyLog(store)).toMatchObject({ ok: true, eventsChecked: EVENTS, snapshotsChecked: 1 });
      expect(checkAtStart(store)).toMatchObject({ ok: true, eventsChecked: EVENTS - 2000, snapshotsChecked: 1 });
      const plain = initialState();
      for (const e of store.inFoldOrder()) evolve(plain, openEnvelope(e), e);
      const ledger = new Ledger(store, { origin: 1 });
      ledger.open();
      const verified = await replayLog(store, { verify: true });
      expect(verified.ok).toBe(true);
      expect(verified.stateHash).toBe(stateHash(plain));
      const parallel = await replayLog(store);
      expect(parallel).toMatchObject({ events: EVENTS, stateHash: stateHash(plain) });
      const upTo = await replayLog(store, { to: { kind: 'id', id: 1000 } });
      const direct = initialState();
      foldEvents(store, direct, { maxId: 1000 });
      expect(upTo.stateHash).toBe(stateHash(direct));
      expect(ledger.hash()).toBe(stateHash(plain));
      expect(plain.conflicts).toEqual([]); // the generator writes a log that folds cleanly
    });
  });
});

describe('damage', () => {
  const eventAt = (db: Database.Database, id: number) => db.prepare('SELECT id, origin, seq, hlc, type, data, prev, hash, idem FROM events WHERE id = ?').get(id) as Envelope & { id: number };

  it('a changed byte: the event is named, by verify and at start', async () => {
    let target!: Envelope & { id: number };
    tamper((db) => {
      target = eventAt(db, 1234);
      db.prepare('UPDATE events SET data = ? WHERE id = ?').run(target.data.replace(/":"(\w)/, '":"X'), target.id);
    });
    await withStore((store) => {
      const full = verifyLog(store);
      expect(full.problem).toEqual({ kind: 'event', origin: target.origin, seq: target.seq, id: 1234, message: 'hash does not match the content' });
      expect(checkAtStart(store).problem).toEqual(full.problem);
      expect(describeProblem(full.problem!)).toBe(`event ${target.origin}:${target.seq} (local id 1234): hash does not match the content`);
    });
  });

  it('a missing event: the gap is named where it is', async () => {
    let gone!: Envelope & { id: number };
    tamper((db) => {
      gone = eventAt(db, 500);
      db.prepare('DELETE FROM events WHERE id = ?').run(500);
    });
    await withStore((store) => {
      const expected = new RegExp(`^seq ${gone.seq + 1} follows seq ${gone.seq - 1}: seq ${gone.seq} is missing$`);
      expect(verifyLog(store).problem).toMatchObject({ kind: 'event', origin: gone.origin, seq: gone.seq + 1, message: expect.stringMatching(expected) });
      expect(checkAtStart(store).problem).toMatchObject({ kind: 'event', origin: gone.origin, seq: gone.seq + 1, message: expect.stringMatching(expected) });
    });
  });

  it('a re-sealed event (its own hash fine): the next event no longer chains to it', async () => {
    let next!: Envelope & { id: number };
    tamper((db) => {
      const victim = eventAt(db, 800);
      const forged = seal({ ...victim, data: victim.data.replace(/":"(\w)/, '":"X') });
      db.prepare('UPDATE events SET data = ?, hash = ? WHERE id = ?').run(forged.data, forged.hash, victim.id);
      next = db.prepare('SELECT id, origin, seq FROM events WHERE origin = ? AND seq = ?').get(victim.origin, victim.seq + 1) as Envelope & { id: number };
    });
    await withStore((store) => {
      expect(verifyLog(store).problem).toMatchObject({ origin: next.origin, seq: next.seq, id: next.id, message: expect.stringMatching(/prev does not match the hash of \d+:\d+: the chain is broken here/) });
    });
  });

  it('an event that breaks its schema, even re-sealed: checkEnvelope names the field', async () => {
    tamper((db) => {
      const victim = db.prepare("SELECT id, origin, seq, hlc, type, data, prev, hash, idem FROM events WHERE type = 'group_created' LIMIT 1").get() as Envelope & { id: number };
      const data = JSON.stringify({ ...JSON.parse(victim.data), admin: true });
      db.prepare('UPDATE events SET data = ?, hash = ? WHERE id = ?').run(data, seal({ ...victim, data }).hash, victim.id);
    });
    await withStore((store) => expect(verifyLog(store).problem?.message).toBe('group_created: unexpected field admin'));
  });

  it('a snapshot whose body was changed: verify and the start-up check both refuse it', async () => {
    await snapshotAt(2000);
    tamper((db) => db.prepare("UPDATE snapshot_parts SET text = replace(text, 'user000001', 'user999999')").run());
    await withStore(async (store) => {
      expect(verifyLog(store).problem).toMatchObject({ kind: 'snapshot', message: expect.stringMatching(/damaged/) });
      expect(checkAtStart(store).problem).toMatchObject({ kind: 'snapshot', message: expect.stringMatching(/damaged/) });
      expect(await replayLog(store, { verify: true })).toMatchObject({ ok: false, projection: { ok: false } });
    });
  });

  it('damage under the newest snapshot: only the full verify sees it (the start-up check trusts the snapshot)', async () => {
    await snapshotAt(2000);
    tamper((db) => {
      const early = db.prepare('SELECT id, data FROM events ORDER BY hlc, origin, seq LIMIT 1 OFFSET 100').get() as { id: number; data: string };
      db.prepare('UPDATE events SET data = ? WHERE id = ?').run(early.data.replace(/":"(\w)/, '":"X'), early.id);
    });
    await withStore((store) => {
      expect(verifyLog(store).ok).toBe(false);
      expect(checkAtStart(store).ok).toBe(true);
    });
  });
});

describe('the run lock', () => {
  it('is held by one holder at a time and released when it lets go', async () => {
    const dataDir = dir.file('data');
    expect(isLocked(dataDir)).toBe(false);
    const release = acquireRunLock(dataDir);
    expect(isLocked(dataDir)).toBe(true);
    expect(() => acquireRunLock(dataDir)).toThrow(DataDirBusy);
    release();
    expect(isLocked(dataDir)).toBe(false);
    acquireRunLock(dataDir)();
  });
});
