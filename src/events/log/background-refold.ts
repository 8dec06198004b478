/**
 * A re-fold that goes on in the background, a slice of the event loop at a time (the
 * ledger starts one for BACKGROUND_REFOLD_MIN_EVENTS or more): a new state is folded from
 * a snapshot while the ledger's old one goes on serving. When the fold reaches the log's
 * end, `replace` hands the new state over. Events the log gains meanwhile that sort after
 * the fold's cursor are folded when it gets there; one that sorts at or before it is not
 * in the fold, and the ledger starts over (see `cursor`).
 *
 * Owns: the paged fold and its next slice's timer (the first slice runs on the next
 * turn). Promises: `replace` is called once, on the turn the fold found the log's end
 * with nothing left unwritten (`writePending`), unless `cancel` came first.
 */
import type { State } from '../state.js';
import type { Position } from './event-store.js';
import type { PagedFold } from './fold.js';

/** What one slice may take of the event loop, and its page of events. */
export const REFOLD_SLICE_MS = 10;
export const REFOLD_PAGE_EVENTS = 1000;

export interface RefoldHost {
  /** Per origin, the last event the ledger applied: events beyond are not folded yet. */
  readonly marks: ReadonlyMap<number, { readonly seq: number }>;
  /** Writes commits folded but not in the log yet; true if there were any. */
  writePending(): boolean;
  /** The fold is at the log's end: its state (and the position of its newest event) take over. */
  replace(state: State, last: Position | undefined): void;
}

export class BackgroundRefold {
  private next: NodeJS.Immediate | undefined;

  constructor(
    /** The earliest late event this re-fold is for. */
    readonly from: Position,
    private readonly fold: PagedFold,
    /** Events in the snapshot it starts from. */
    readonly snapshotEvents: number,
    private readonly host: RefoldHost,
  ) {
    this.next = setImmediate(() => this.slice(REFOLD_SLICE_MS));
  }

  /** The last event read: one the log gains at or before it is not in this fold. */
  get cursor(): Position | undefined {
    return this.fold.cursor;
  }

  /** Folds the rest now, on this turn of the event loop. */
  finish(): void {
    clearImmediate(this.next);
    this.slice(Infinity);
  }

  cancel(): void {
    clearImmediate(this.next);
    this.next = undefined;
  }

  private slice(budgetMs: number): void {
    this.next = undefined;
    const until = performance.now() + budgetMs;
    for (;;) {
      const atEnd = this.fold.step(REFOLD_PAGE_EVENTS, this.host.marks);
      if (atEnd && this.host.writePending()) continue; // those commits sort last: the next page has them
      if (atEnd) break;
      if (performance.now() >= until) {
        this.next = setImmediate(() => this.slice(REFOLD_SLICE_MS));
        return;
      }
    }
    this.host.replace(this.fold.state, this.fold.last);
  }
}
