/**
 * The read-only loader the admin commands share: the state exactly as the tracker
 * builds it at start (the newest snapshot, then the tail of the log after it, through
 * the same fold as the ledger), plus what an operator wants next to it. Works on a
 * running tracker's log (a read-only WAL connection sees a consistent committed
 * state) and on a stopped one.
 */
import type { EventStore, Position, SnapshotRow } from '../../events/log/event-store.js';
import { foldFromSnapshot } from '../../events/log/fold.js';
import type { State } from '../../events/state.js';

export interface Projection {
  readonly state: State;
  /** The snapshot it started from, if any (without its state body). */
  readonly snapshot: SnapshotRow | undefined;
  /** Position of the newest event folded in. */
  readonly last: Position | undefined;
  /** Events folded after the snapshot. */
  readonly tail: number;
}

export function loadProjection(store: EventStore): Projection {
  return readConsistently(store, () => {
    const latest = store.latestSnapshot();
    const { state, last } = foldFromSnapshot(store, latest);
    return { state, snapshot: latest && stripState(latest), last, tail: state.eventCount - (latest?.eventCount ?? 0) };
  });
}

/**
 * Runs `read` inside one read transaction, so every query in it sees the same
 * committed log even while the tracker appends (WAL readers are never blocked).
 */
export function readConsistently<T>(store: EventStore, read: () => T): T {
  if (store.db.inTransaction) return read();
  store.db.exec('BEGIN');
  try {
    return read();
  } finally {
    store.db.exec('COMMIT');
  }
}

export interface OriginLength {
  readonly origin: number;
  readonly events: number;
  readonly firstSeq: number;
  readonly lastSeq: number;
}

/** How many events each origin has in this log, and its seq range. */
export function originLengths(store: EventStore): OriginLength[] {
  return store.db
    .prepare('SELECT origin, count(*) AS events, min(seq) AS firstSeq, max(seq) AS lastSeq FROM events GROUP BY origin ORDER BY origin')
    .all() as OriginLength[];
}

function stripState(row: SnapshotRow & { state: unknown }): SnapshotRow {
  const { id, hlc, origin, seq, eventCount, stateHash, createdAt } = row;
  return { id, hlc, origin, seq, eventCount, stateHash, createdAt };
}
