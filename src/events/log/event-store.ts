/**
 * The event log in SQLite (better-sqlite3): append-only events, snapshots, and a little
 * metadata. WAL with synchronous=FULL, so a committed append survives kill -9 and power
 * loss. All calls are synchronous; the ledger batches appends into one transaction.
 */
import Database from 'better-sqlite3';
import { createRequire } from 'node:module';
import { Checkpointer, CHECKPOINT_INTERVAL_MS } from './checkpointer.js';
import { GENESIS_PREV, type Envelope } from '../envelope.js';
import type { EncodedRow } from '../replication/protocol.js';
import type { EncodedState } from '../state-codec.js';
import { textSlices } from '../text-slices.js';
import { migrate } from './migrations.js';
import { reserveWal } from './wal-space.js';

export interface Position {
  readonly hlc: number;
  readonly origin: number;
  readonly seq: number;
}

export interface OriginMark {
  readonly seq: number;
  readonly hash: string;
  readonly hlc: number;
}

export interface SnapshotRow extends Position {
  readonly id: number;
  readonly eventCount: number;
  readonly stateHash: string;
  readonly createdAt: number;
}

const ENVELOPE_COLUMNS = 'origin, seq, hlc, type, data, prev, hash, idem';
/** One row's parameters: a `?` for each of ENVELOPE_COLUMNS. */
const ROW_PARAMS = `(${ENVELOPE_COLUMNS.split(', ').map(() => '?').join(', ')})`;
const ROW_PARAM_COUNT = ENVELOPE_COLUMNS.split(', ').length;
/**
 * Rows per INSERT statement in a bulk append (a catch-up): one call into the driver, and
 * one statement journal, per 256 rows instead of per row. A catch-up of a million events
 * took 10.6-11.6 s (median 10.8) in statements of 64 rows against 11.4-11.7 s (median
 * 11.6) row by row, in 4 alternating pairs. Inserting the million alone, in transactions
 * of 2,480 rows (the frame checker's), took 3.7-3.8 s in statements of 256 against
 * 4.4 s of 64 (medians of 3 and more, alternating), with a third less system time.
 */
const ROWS_PER_INSERT = 256;
/**
 * Page cache of the writing connection, KiB. SQLite's default (2 MiB) is outgrown by the
 * indexes of a large log; the idem index takes random inserts, so a replication catch-up
 * of a million events runs about a fifth faster with this.
 */
const CACHE_KIB = 64 * 1024;
/** The WAL is cut back to this when it restarts after a burst, and reserved at this (reserveWal). */
const WAL_SIZE_LIMIT_BYTES = 64 * 1024 * 1024;
/** An append of this many events is part of a burst (a catch-up), not steady traffic. */
const BULK_APPEND_EVENTS = 1000;
/**
 * During a burst, checkpoints wait until it ends or until this many events were appended
 * since the last one: the WAL then holds about 0.45 GB.
 */
export const MAX_UNCHECKPOINTED_BULK_EVENTS = 1_000_000;
/**
 * A snapshot's text is stored in parts of at most this many characters, or bytes of its
 * UTF-8 (snapshot_parts): a part is one transaction of a SnapshotWriter, one short hold
 * of the tracker's event loop.
 */
export const SNAPSHOT_PART_SIZE = 1024 * 1024;

export class EventStore {
  readonly db: Database.Database;
  private readonly insert: Database.Statement;
  private readonly insertRows: Database.Statement;
  private readonly rowValues: unknown[] = new Array<unknown>(ROWS_PER_INSERT * ROW_PARAM_COUNT);
  private readonly insertIgnore: Database.Statement;
  private readonly selectByIdem: Database.Statement;
  private readonly selectTip: Database.Statement;
  private readonly selectRows: Database.Statement;
  private readonly selectRowsAfter: Database.Statement;
  private checkpointer: Checkpointer | undefined;
  /** Until then, appends are a burst (see checkpointDue). */
  private bulkUntil = 0;
  /** A bulk append makes a burst of the next `windowMs`; it defers at most `maxEvents`. */
  private burst = { windowMs: CHECKPOINT_INTERVAL_MS, maxEvents: MAX_UNCHECKPOINTED_BULK_EVENTS };
  /** Events appended since the last checkpoint began. */
  private uncheckpointed = 0;

  private constructor(db: Database.Database) {
    this.db = db;
    // Positional parameters: binding eight values by position is cheaper than looking
    // eight names up in an object, for every row of a catch-up.
    const values = `(${ENVELOPE_COLUMNS}) VALUES ${ROW_PARAMS}`;
    this.insert = db.prepare(`INSERT INTO events ${values}`);
    this.insertRows = db.prepare(`INSERT INTO events (${ENVELOPE_COLUMNS}) VALUES ${Array(ROWS_PER_INSERT).fill(ROW_PARAMS).join(', ')}`);
    this.insertIgnore = db.prepare(`INSERT OR IGNORE INTO events ${values}`);
    this.selectByIdem = db.prepare(`SELECT ${ENVELOPE_COLUMNS} FROM events WHERE idem = ? ORDER BY origin, seq LIMIT 1`);
    this.selectTip = db.prepare('SELECT seq, hash FROM events WHERE origin = ? ORDER BY seq DESC LIMIT 1');
    const rows = `SELECT origin, seq, hlc, json_array(${ENVELOPE_COLUMNS}) FROM events`;
    this.selectRows = db.prepare(`${rows} ORDER BY hlc, origin, seq`).raw(true);
    this.selectRowsAfter = db.prepare(`${rows} WHERE (hlc, origin, seq) > (?, ?, ?) ORDER BY hlc, origin, seq`).raw(true);
  }

  /** Opens (creating and migrating if needed) the log at `path`. */
  static open(path: string): EventStore {
    const db = new Database(path);
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL');
    db.pragma('busy_timeout = 5000');
    db.pragma(`cache_size = -${CACHE_KIB}`);
    // A WAL that a burst (a catch-up) grew is cut back to this when it restarts.
    db.pragma(`journal_size_limit = ${WAL_SIZE_LIMIT_BYTES}`);
    // Without this, INSERT OR REPLACE deletes a clashing event without firing the no-delete trigger.
    db.pragma('recursive_triggers = ON');
    migrate(db);
    return new EventStore(db);
  }

  /** Opens an existing log for reading only; safe while a tracker writes it (WAL). */
  static openReadOnly(path: string): EventStore {
    const db = new Database(path, { readonly: true, fileMustExist: true });
    db.pragma('busy_timeout = 5000');
    return new EventStore(db);
  }

  /**
   * Gives the WAL its working size now, so that commits write over it instead of making it
   * longer (see wal-space.ts). For the log a tracker serves, before anything else writes.
   */
  reserveWal(): void {
    reserveWal(`${this.db.name}-wal`, WAL_SIZE_LIMIT_BYTES);
  }

  /**
   * Checkpoints from now on run on a worker thread, never inside an append (see
   * Checkpointer), every `intervalMs` when due (see checkpointDue).
   */
  checkpointInBackground(intervalMs = CHECKPOINT_INTERVAL_MS, maxUncheckpointedBulk = MAX_UNCHECKPOINTED_BULK_EVENTS): void {
    if (this.checkpointer) return;
    this.burst = { windowMs: intervalMs, maxEvents: maxUncheckpointedBulk };
    this.db.pragma('wal_autocheckpoint = 0');
    const driver = createRequire(import.meta.url).resolve('better-sqlite3');
    this.checkpointer = new Checkpointer(this.db.name, driver, {
      intervalMs,
      due: () => this.checkpointDue(),
      checkpointed: () => this.finishCheckpoint(),
    });
  }

  /**
   * A background checkpoint is due when something was appended since the last one,
   * except during a burst of bulk appends (a catch-up): checkpointing every second while
   * it lasts took about 2 s of CPU per million events on a machine the catch-up itself
   * needs (a catch-up of a million took 11.5 s with that, 10.7 s without: medians of 3
   * alternating runs). After the burst its pages are copied once, in the background.
   */
  private checkpointDue(): boolean {
    if (this.uncheckpointed === 0) return false;
    if (performance.now() < this.bulkUntil && this.uncheckpointed < this.burst.maxEvents) return false;
    this.uncheckpointed = 0;
    return true;
  }

  /**
   * Copies what was committed since the worker's checkpoint, so the next append restarts
   * the WAL. Best effort: a disk that fails here fails the next append, which is fatal.
   */
  private finishCheckpoint(): void {
    // Right after bulk appends (a catch-up) this would copy megabytes on the writer's
    // thread; the worker copies them, and the WAL restarts once the burst is over.
    if (!this.db.open || this.db.inTransaction || performance.now() < this.bulkUntil) return;
    try {
      this.db.pragma('wal_checkpoint(PASSIVE)');
    } catch {
      // the next append reports it
    }
  }

  /** Closes the log; synchronously, unless a background checkpointer must finish first. */
  close(): Promise<void> {
    const checkpointer = this.checkpointer;
    this.checkpointer = undefined;
    if (!checkpointer) {
      this.db.close();
      return Promise.resolve();
    }
    return checkpointer.stop().then(() => void this.db.close());
  }

  /**
   * Appends in one transaction; on return the events are on disk (fsynced). Throws on a
   * duplicate (origin, seq).
   *
   * `waitForDisk: false` commits without the fsync: the events survive a crash of this
   * process (kill -9) at once, and a crash of the machine from the next synced commit
   * or checkpoint on (WAL with synchronous = NORMAL: the log stays consistent, only its
   * newest transactions could be lost). Only for events another tracker holds durably
   * and no client waits for here: a catch-up (Ledger.applyRemote).
   */
  append(events: readonly Envelope[], { waitForDisk = true } = {}): void {
    if (waitForDisk) return this.insertAll(events);
    this.db.pragma('synchronous = NORMAL');
    try {
      this.insertAll(events);
    } finally {
      this.db.pragma('synchronous = FULL');
    }
  }

  private insertAll(events: readonly Envelope[]): void {
    // Immediate: another connection may write too (appendContinuation); a deferred
    // transaction could find the log changed under it when it comes to write.
    this.db.transaction(() => this.insertRowsOf(events)).immediate();
    this.appended(events.length);
  }

  /** Inserts the events, inside the caller's transaction. */
  private insertRowsOf(events: readonly Envelope[]): void {
    const insert = this.insert;
    const insertRows = this.insertRows;
    const values = this.rowValues;
    let i = 0;
    for (; i + ROWS_PER_INSERT <= events.length; i += ROWS_PER_INSERT) {
      let v = 0;
      for (let j = i; j < i + ROWS_PER_INSERT; j++) {
        const e = events[j]!;
        values[v++] = e.origin;
        values[v++] = e.seq;
        values[v++] = e.hlc;
        values[v++] = e.type;
        values[v++] = e.data;
        values[v++] = e.prev;
        values[v++] = e.hash;
        values[v++] = e.idem;
      }
      insertRows.run(values);
    }
    for (; i < events.length; i++) {
      const e = events[i]!;
      insert.run(e.origin, e.seq, e.hlc, e.type, e.data, e.prev, e.hash, e.idem);
    }
  }

  /**
   * Appends events that another tracker held durably (a catch-up) from a connection
   * other than the ledger's (the frame checker's thread, see EventInbox), without the
   * fsync, as append's `waitForDisk: false` does, and only if:
   * - `stillWanted()` holds once this connection has the write lock (the ledger's side
   *   can withdraw the request: a link that dropped);
   * - they continue the log: per origin, each event's seq is the last one's + 1 and its
   *   prev is that one's hash, from what the log holds on. Their own hashes were checked
   *   before (checkEnvelopeFields).
   * Otherwise it stores nothing. Returns whether it stored them.
   */
  appendContinuation(events: readonly Envelope[], stillWanted: () => boolean): boolean {
    this.db.pragma('synchronous = NORMAL');
    try {
      return this.db
        .transaction(() => {
          if (!stillWanted()) return false;
          const tips = new Map<number, { seq: number; hash: string }>();
          for (const e of events) {
            const last = tips.get(e.origin) ?? (this.selectTip.get(e.origin) as { seq: number; hash: string } | undefined) ?? { seq: 0, hash: GENESIS_PREV };
            if (e.seq !== last.seq + 1 || e.prev !== last.hash) return false;
            tips.set(e.origin, { seq: e.seq, hash: e.hash });
          }
          this.insertRowsOf(events);
          return true;
        })
        .immediate();
    } finally {
      this.db.pragma('synchronous = FULL');
    }
  }

  /**
   * Returns once no other connection is inside a write transaction: takes the write
   * lock (waiting for it, busy_timeout) and lets it go.
   */
  waitForOtherWriters(): void {
    this.db.transaction(() => undefined).immediate();
  }

  /** `events` were appended by another connection (appendContinuation): they count toward the next checkpoint. */
  appendedElsewhere(events: number): void {
    this.appended(events);
  }

  private appended(events: number): void {
    this.uncheckpointed += events;
    if (events >= BULK_APPEND_EVENTS) this.bulkUntil = performance.now() + this.burst.windowMs;
  }

  /** Appends those not yet present, in one transaction; returns the ones inserted. */
  appendNew(events: readonly Envelope[]): Envelope[] {
    const added: Envelope[] = [];
    this.db.transaction(() => {
      for (const e of events) if (this.insertIgnore.run(e.origin, e.seq, e.hlc, e.type, e.data, e.prev, e.hash, e.idem).changes === 1) added.push(e);
    })();
    this.appended(added.length);
    return added;
  }

  count(): number {
    return (this.db.prepare('SELECT count(*) AS n FROM events').get() as { n: number }).n;
  }

  /** The origins present, found by index seeks (a few per tracker), not by a scan. */
  origins(): number[] {
    const next = this.db.prepare('SELECT origin FROM events WHERE origin > ? ORDER BY origin LIMIT 1').pluck();
    const found: number[] = [];
    for (let o = next.get(-1) as number | undefined; o !== undefined; o = next.get(o) as number | undefined) found.push(o);
    return found;
  }

  /** Lowest and highest seq held for one origin (index seeks). */
  seqRange(origin: number): { first: number; last: number } {
    const first = this.db.prepare('SELECT seq FROM events WHERE origin = ? ORDER BY seq LIMIT 1').pluck().get(origin) as number;
    const last = this.db.prepare('SELECT seq FROM events WHERE origin = ? ORDER BY seq DESC LIMIT 1').pluck().get(origin) as number;
    return { first, last };
  }

  /** Per origin: the highest seq held, with its hash and hlc. */
  originMarks(): Map<number, OriginMark> {
    const tip = this.db.prepare('SELECT seq, hash, hlc FROM events WHERE origin = ? ORDER BY seq DESC LIMIT 1');
    return new Map(this.origins().map((origin) => [origin, tip.get(origin) as OriginMark]));
  }

  maxHlc(): number {
    return (this.db.prepare('SELECT coalesce(max(hlc), 0) AS h FROM events').get() as { h: number }).h;
  }

  /** Events after `after` (or all) in fold order (hlc, origin, seq). */
  inFoldOrder(after?: Position): IterableIterator<Envelope> {
    const sql = `SELECT ${ENVELOPE_COLUMNS} FROM events`;
    const order = 'ORDER BY hlc, origin, seq';
    if (!after) return this.db.prepare(`${sql} ${order}`).iterate() as IterableIterator<Envelope>;
    return this.db
      .prepare(`${sql} WHERE (hlc, origin, seq) > (@hlc, @origin, @seq) ${order}`)
      .iterate({ hlc: after.hlc, origin: after.origin, seq: after.seq }) as IterableIterator<Envelope>;
  }

  /**
   * Like inFoldOrder, for a sender: each event as its place and its row's JSON text (an
   * EncodedRow). A catch-up reads millions: SQLite writing the text cost about a fifth
   * less than making the eight values in JavaScript and JSON.stringify on them, and the
   * statements are prepared once, not for every frame. So one iteration at a time: each
   * must end (run out, or a `break`) before the next call.
   */
  rowsInFoldOrder(after?: Position): IterableIterator<EncodedRow> {
    const rows = after ? this.selectRowsAfter.iterate(after.hlc, after.origin, after.seq) : this.selectRows.iterate();
    return rows as IterableIterator<EncodedRow>;
  }

  /** Events of one origin after `afterSeq`, in seq order, at most `limit`. */
  ofOrigin(origin: number, afterSeq: number, limit: number): Envelope[] {
    return this.db
      .prepare(`SELECT ${ENVELOPE_COLUMNS} FROM events WHERE origin = ? AND seq > ? ORDER BY seq LIMIT ?`)
      .all(origin, afterSeq, limit) as Envelope[];
  }

  /** The first event a command with this idempotency key produced, if any. */
  byIdem(idem: string): Envelope | undefined {
    return this.selectByIdem.get(idem) as
      | Envelope
      | undefined;
  }

  /**
   * Stores a snapshot in one transaction; `state` may already be its canonical text (see
   * snapshotText). A big one held by a tracker goes a part at a time (SnapshotWriter).
   */
  saveSnapshot(at: Position, eventCount: number, stateHash: string, state: EncodedState | string, now: number): void {
    const text = typeof state === 'string' ? state : JSON.stringify(state);
    this.db.transaction(() => {
      const id = this.nextSnapshotId();
      textSlices(text, SNAPSHOT_PART_SIZE).forEach((part, i) => this.writeSnapshotPart(id, i, part));
      this.publishSnapshot(id, at, eventCount, stateHash, now);
    })();
  }

  /** The id the next snapshot gets: past every row and every unfinished write's parts. */
  nextSnapshotId(): number {
    const row = this.db.prepare('SELECT max(coalesce((SELECT max(id) FROM snapshots), 0), coalesce((SELECT max(snapshot) FROM snapshot_parts), 0)) + 1 AS id').get() as { id: number };
    return row.id;
  }

  /**
   * Writes part `part` (from 0) of snapshot `id`'s text, given as text or as its UTF-8
   * (whole characters: utf8Slices): invisible until publishSnapshot.
   */
  writeSnapshotPart(id: number, part: number, text: string | Uint8Array): void {
    const value = typeof text === 'string' ? text : Buffer.from(text.buffer, text.byteOffset, text.byteLength);
    this.db.prepare('INSERT INTO snapshot_parts (snapshot, part, text) VALUES (?, ?, CAST(? AS TEXT))').run(id, part, value);
  }

  /** Snapshot `id`, whose parts are all written, is the fold of every event up to `at`: from now on it is read. */
  publishSnapshot(id: number, at: Position, eventCount: number, stateHash: string, now: number): void {
    this.db
      .prepare('INSERT INTO snapshots (id, hlc, origin, seq, event_count, state_hash, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)')
      .run(id, at.hlc, at.origin, at.seq, eventCount, stateHash, now);
  }

  /** Deletes what an unpublished snapshot's write wrote (SnapshotWriter.dropFrom). */
  dropSnapshotParts(id: number): void {
    this.db.prepare('DELETE FROM snapshot_parts WHERE snapshot = ? AND snapshot NOT IN (SELECT id FROM snapshots)').run(id);
  }

  /**
   * Deletes the parts of snapshots that were never published: writes given up, or cut
   * short by a stop. Nothing on a read-only connection, whose reads never see them.
   */
  dropUnpublishedSnapshots(): number {
    if (this.db.readonly) return 0;
    return this.db.prepare('DELETE FROM snapshot_parts WHERE snapshot NOT IN (SELECT id FROM snapshots)').run().changes;
  }

  /** The newest snapshot, or the newest strictly before `before` in fold order. */
  latestSnapshot(before?: Position): (SnapshotRow & { state: EncodedState }) | undefined {
    const row = this.latestSnapshotText(before);
    return row && { ...row, state: JSON.parse(row.state) as EncodedState };
  }

  /** Like latestSnapshot, with the state as its stored text (whose SHA-256 is its state hash). */
  latestSnapshotText(before?: Position): (SnapshotRow & { state: string }) | undefined {
    const where = before ? 'WHERE (hlc, origin, seq) < (@hlc, @origin, @seq)' : '';
    const select = this.db.prepare(
      `SELECT id, hlc, origin, seq, event_count AS eventCount, state_hash AS stateHash, created_at AS createdAt
       FROM snapshots ${where} ORDER BY hlc DESC, origin DESC, seq DESC, id DESC LIMIT 1`,
    );
    // One read transaction: another connection may delete the snapshot between the two reads.
    return this.db.transaction(() => {
      const row = select.get(before ? { hlc: before.hlc, origin: before.origin, seq: before.seq } : {}) as SnapshotRow | undefined;
      return row && { ...row, state: this.storedText(row.id) };
    })();
  }

  listSnapshots(): SnapshotRow[] {
    return this.db
      .prepare('SELECT id, hlc, origin, seq, event_count AS eventCount, state_hash AS stateHash, created_at AS createdAt FROM snapshots ORDER BY id')
      .all() as SnapshotRow[];
  }

  snapshotState(id: number): EncodedState {
    return JSON.parse(this.storedText(id)) as EncodedState;
  }

  /** A snapshot's stored text: its parts, joined. */
  private storedText(id: number): string {
    const parts = this.db.prepare('SELECT text FROM snapshot_parts WHERE snapshot = ? ORDER BY part').pluck().all(id) as string[];
    return parts.join('');
  }

  /** Drops snapshots at or after `from`: a late event sorts before them, so they are stale. */
  dropSnapshotsFrom(from: Position): number {
    return this.db.prepare('DELETE FROM snapshots WHERE (hlc, origin, seq) >= (?, ?, ?)').run(from.hlc, from.origin, from.seq).changes;
  }

  /** Keeps the newest `keep` snapshots. */
  pruneSnapshots(keep: number): void {
    this.db.prepare('DELETE FROM snapshots WHERE id NOT IN (SELECT id FROM snapshots ORDER BY id DESC LIMIT ?)').run(keep);
  }

  getMeta(key: string): string | undefined {
    return (this.db.prepare('SELECT value FROM meta WHERE key = ?').get(key) as { value: string } | undefined)?.value;
  }

  setMeta(key: string, value: string): void {
    this.db.prepare('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value').run(key, value);
  }

  deleteMeta(key: string): void {
    this.db.prepare('DELETE FROM meta WHERE key = ?').run(key);
  }
}
