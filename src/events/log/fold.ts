/**
 * The fold of the log into a state, shared by the ledger (start-up, re-fold) and the
 * admin commands (inspect, replay, verify, snapshot): one definition of "the state at a
 * point of the log", so the tools can never disagree with the tracker.
 *
 * It promises the same result as calling `evolve` on `inFoldOrder` envelopes, and is
 * built for millions of events: one prepared statement iterated with `.raw()` (arrays,
 * no row objects), and one scratch event and position reused across rows (`Fold`). That
 * is safe because `evolve` keeps neither (it copies origin and seq into a conflict, and
 * keeps only values from the parsed data).
 */
import type Database from 'better-sqlite3';
import type { DomainEvent } from '../domain-events.js';
import { decodeState, type EncodedState } from '../state-codec.js';
import { evolve, initialState, type State } from '../state.js';
import type { EventStore, Position } from './event-store.js';

/** Which events to fold, in fold order (hlc, origin, seq). All bounds are optional. */
export interface FoldRange {
  /** Only events strictly after this position. */
  readonly after?: Position;
  /** Only events at or before this position. */
  readonly upTo?: Position;
  /** Only events whose local arrival id is at most this. */
  readonly maxId?: number;
  /** Only events at or below their origin's seq here (an origin not named: none). */
  readonly within?: ReadonlyMap<number, { readonly seq: number }>;
}

export interface SnapshotAt extends Position {
  readonly state: EncodedState;
}

type Row = [hlc: number, origin: number, seq: number, type: DomainEvent['type'], data: string, idem: string | null];

/** The fold-order query for `range`: columns hlc, origin, seq, type, data, idem. */
export function foldOrderQuery(range: FoldRange = {}): { sql: string; params: number[] } {
  const where: string[] = [];
  const params: number[] = [];
  if (range.after) {
    where.push('(hlc, origin, seq) > (?, ?, ?)');
    params.push(range.after.hlc, range.after.origin, range.after.seq);
  }
  if (range.upTo) {
    where.push('(hlc, origin, seq) <= (?, ?, ?)');
    params.push(range.upTo.hlc, range.upTo.origin, range.upTo.seq);
  }
  if (range.maxId !== undefined) {
    where.push('id <= ?');
    params.push(range.maxId);
  }
  const sql = `SELECT hlc, origin, seq, type, data, idem FROM events ${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY hlc, origin, seq`;
  return { sql, params };
}

/**
 * One fold in progress: `add` folds the next event, given as its columns and its parsed
 * data, into `state` (changed in place). Whoever reads the rows (this module, or a
 * reader on another thread) feeds them here, so the fold itself exists once.
 */
export class Fold {
  folded = 0;
  private readonly at: { hlc: number; origin: number; seq: number; idem: string | null } = { hlc: 0, origin: 0, seq: 0, idem: null };
  private readonly event: { type: DomainEvent['type']; data: unknown } = { type: 'user_created', data: undefined };

  constructor(readonly state: State) {}

  add(hlc: number, origin: number, seq: number, type: DomainEvent['type'], data: unknown, idem: string | null): void {
    const { at, event } = this;
    at.hlc = hlc;
    at.origin = origin;
    at.seq = seq;
    at.idem = idem;
    event.type = type;
    event.data = data;
    evolve(this.state, event as DomainEvent, at);
    this.folded += 1;
  }

  /** Position of the last event folded, if any. */
  get last(): Position | undefined {
    return this.folded > 0 ? { hlc: this.at.hlc, origin: this.at.origin, seq: this.at.seq } : undefined;
  }
}

/** Sorts before every event: where a fold from the empty state starts. */
const BEFORE_ALL: Position = { hlc: -1, origin: -1, seq: -1 };

/**
 * A fold that goes a page at a time, so that whoever runs it can do other work between
 * pages (the ledger's re-fold in the background). Each page is a query of its own for
 * the events after the last one read, in fold order: nothing stays open on the
 * connection between pages, and the log may grow meanwhile. Events the log gains after
 * the cursor are folded when the fold gets there; one it gains at or before the cursor
 * is missed, and the caller must start over (see `cursor`).
 */
export class PagedFold {
  private readonly fold: Fold;
  private readonly page: Database.Statement;
  private at: Position;

  /** Folds into `state` (changed in place) the events after `start` (all, if undefined). */
  constructor(
    store: EventStore,
    readonly state: State,
    private readonly start: Position | undefined,
  ) {
    this.fold = new Fold(state);
    this.at = start ?? BEFORE_ALL;
    this.page = store.db.prepare('SELECT hlc, origin, seq, type, data, idem FROM events WHERE (hlc, origin, seq) > (?, ?, ?) ORDER BY hlc, origin, seq LIMIT ?').raw(true);
  }

  /**
   * Reads the next `limit` events and folds those at or below their origin's seq in
   * `within` (others are passed over). True when the log held no more.
   */
  step(limit: number, within: ReadonlyMap<number, { readonly seq: number }>): boolean {
    const rows = this.page.all(this.at.hlc, this.at.origin, this.at.seq, limit) as Row[];
    for (const [hlc, origin, seq, type, data, idem] of rows) {
      if (seq <= (within.get(origin)?.seq ?? 0)) this.fold.add(hlc, origin, seq, type, JSON.parse(data), idem);
    }
    const lastRow = rows[rows.length - 1];
    if (lastRow) this.at = { hlc: lastRow[0], origin: lastRow[1], seq: lastRow[2] };
    return rows.length < limit;
  }

  /** The last event read, folded or passed over: an event that sorts at or before it is not in the fold. */
  get cursor(): Position | undefined {
    return this.at === BEFORE_ALL ? undefined : this.at;
  }

  /** Position of the newest event in the state (the start, before any was folded). */
  get last(): Position | undefined {
    return this.fold.last ?? this.start;
  }
}

/**
 * Folds the events in `range` into `state`, which it changes in place. Returns the
 * position of the last event folded and how many there were.
 */
export function foldEvents(store: EventStore, state: State, range: FoldRange = {}): { last: Position | undefined; folded: number } {
  const { sql, params } = foldOrderQuery(range);
  const fold = new Fold(state);
  const within = range.within;
  for (const row of store.db.prepare(sql).raw(true).iterate(...params) as IterableIterator<Row>) {
    if (within && row[2] > (within.get(row[1])?.seq ?? 0)) continue;
    fold.add(row[0], row[1], row[2], row[3], JSON.parse(row[4]), row[5]);
  }
  return { last: fold.last, folded: fold.folded };
}

/**
 * The state at a snapshot (or the empty state) with every event after it folded in,
 * up to `range`'s other bounds. `last` is the position of the newest event in the state.
 */
export function foldFromSnapshot(store: EventStore, snapshot: SnapshotAt | undefined, range: Omit<FoldRange, 'after'> = {}): { state: State; last: Position | undefined } {
  const state = snapshot ? decodeState(snapshot.state) : initialState();
  const from = snapshot && { hlc: snapshot.hlc, origin: snapshot.origin, seq: snapshot.seq };
  const { last } = foldEvents(store, state, { ...range, after: from });
  return { state, last: last ?? from };
}
