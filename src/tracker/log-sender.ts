/**
 * The outbound half of a replication link: sends the twin what the local log holds
 * beyond what the twin is known to hold.
 *
 * - What the twin holds: per origin, the highest seq in its marks when the link came
 *   up, in the events it sends us, or already sent on this connection (`twinHolds`).
 * - Catch-up: the missing events are read from the log in fold order (hlc, origin, seq),
 *   so the twin folds them without re-folding, in frames of CATCH_UP_FRAME_BYTES, one per turn
 *   of the event loop, at most MAX_UNACKED_BATCHES unacknowledged: memory on both sides
 *   stays bounded however far behind the twin is.
 * - The state ahead: before a catch-up of at least `twinStateMin` events, to a twin that
 *   takes it and holds nothing this log lacks, this tracker's state goes first
 *   (twin-state.ts), so that the twin need not fold the events it is the fold of.
 * - Live: events become durable here (Ledger 'durable', so only events already on disk)
 *   and go out at once when they continue what was sent; otherwise the next pump reads
 *   them back from the log.
 */
import { compareOrder, type Envelope } from '../events/envelope.js';
import type { Position } from '../events/log/event-store.js';
import type { Ledger } from '../events/log/ledger.js';
import { encodedRow, encodeEncodedRows, encodeMessage, type EncodedRow } from '../events/replication/protocol.js';
import { stateParts } from '../events/replication/twin-state.js';
import { wallMs } from './wall-clock.js';

/** Envelopes per `events` frame at most (frames of small events reach their size in bytes first). */
export const BATCH_EVENTS = 8000;
/**
 * A frame is cut short once its text would pass this many bytes (rows read from the log
 * come as text; envelopes count as their data plus ENVELOPE_OVERHEAD_BYTES each); one
 * big event still goes alone.
 *
 * Events the twin lacked when the link came up (the catch-up) go in frames below V8's
 * largest regular heap object (128 KiB): each bigger string (the frame's text on both
 * sides) is mapped fresh and unmapped again, and fresh memory costs about 4 ms per MB
 * on these VMs. A million events caught up 15% sooner, with 20% less CPU in both
 * trackers, in frames of about 120 KB than of 3 MB.
 */
export const CATCH_UP_FRAME_BYTES = 120 * 1024;
/**
 * Live events, committed after the link came up, go in frames of up to this: a commit
 * group goes whole, and an overloaded tracker's backlog in few frames (in frames of
 * 120 KB, the lag at 10,000 commands/s was twice as long).
 */
export const LIVE_FRAME_BYTES = 4 * 1024 * 1024;
/** Frames sent and not yet acknowledged: the flow-control window (memory stays bounded). */
export const MAX_UNACKED_BATCHES = 16;
/** Rows one catch-up read may skip (held by the twin) before it yields to the event loop. */
export const MAX_SCAN_ROWS = 50_000;
/** An envelope's JSON beyond its data (origin, seq, hlc, type, prev, hash, idem, escapes): about 230 bytes. */
const ENVELOPE_OVERHEAD_BYTES = 240;
/** The smallest catch-up, in events, that this tracker's state goes ahead of (--twin-state-min). */
export const DEFAULT_TWIN_STATE_MIN = 100_000;
/** Live batches whose durable time is remembered until they are sent (for the lag figure). */
const MAX_DURABLE_TIMES = 10_000;

/** Where the frames go. */
export interface SenderLink {
  /** Events may flow: the link is up and not closed. */
  flowing(): boolean;
  /** The twin takes `state` frames (its hello said so). */
  takesStates(): boolean;
  send(frame: string): void;
}

export class LogSender {
  /** Per origin, the highest seq sent on this connection or held by the twin. */
  private readonly sent = new Map<number, number>();
  private unacked = 0;
  /** A pump() is due on the next turn. */
  private pumpQueued = false;
  /** Fold-order position up to which the log has been streamed or found held by the twin. */
  private cursor: Position | undefined;
  /** When batches of this tracker's origin became durable, oldest first, until sent. */
  private durableAt: { first: number; last: number; at: number }[] = [];
  /** Per origin, the highest seq held here when the link came up (the first pump): the catch-up. */
  private backlog: ReadonlyMap<number, number> | undefined;

  constructor(
    /** This tracker's id, which is also its origin. */
    private readonly origin: number,
    private readonly ledger: Ledger,
    private readonly link: SenderLink,
    /** The smallest catch-up that the state goes ahead of. */
    private readonly twinStateMin = DEFAULT_TWIN_STATE_MIN,
  ) {}

  /** The twin holds (origin, seq) and everything before it: none of that is sent. */
  twinHolds(origin: number, seq: number): void {
    if (seq > (this.sent.get(origin) ?? 0)) this.sent.set(origin, seq);
  }

  /** One frame was acknowledged: the window opens by one. */
  acked(): void {
    this.unacked = Math.max(0, this.unacked - 1);
    this.pump();
  }

  /** Live path: events just made durable here. */
  onDurable(envelopes: readonly Envelope[]): void {
    if (!this.link.flowing() || envelopes.length === 0) return;
    const first = envelopes[0]!;
    if (first.origin === this.origin) {
      this.durableAt.push({ first: first.seq, last: envelopes[envelopes.length - 1]!.seq, at: wallMs() });
      if (this.durableAt.length > MAX_DURABLE_TIMES) this.durableAt.shift();
    }
    let bytes = 0;
    let sameOrigin = true;
    for (const e of envelopes) {
      bytes += e.data.length + ENVELOPE_OVERHEAD_BYTES;
      sameOrigin &&= e.origin === first.origin;
    }
    const fits = envelopes.length <= BATCH_EVENTS && bytes <= LIVE_FRAME_BYTES;
    if (sameOrigin && fits && first.seq === (this.sent.get(first.origin) ?? 0) + 1 && this.unacked < MAX_UNACKED_BATCHES) {
      this.sendBatch(envelopes.map(encodedRow));
      // Nothing else missing: every unsent event to come sorts after this one.
      const last = envelopes[envelopes.length - 1]!;
      if (this.firstMissingOrigin(this.ledger.originMarks()) === undefined) this.cursor = { hlc: last.hlc, origin: last.origin, seq: last.seq };
    } else {
      this.pump();
    }
  }

  /**
   * Sends what the twin lacks, while the window allows: one frame per turn of the event
   * loop, so the frames already sent are written to the socket while the next ones are
   * read and encoded (a loop that made the whole window at once would hold them back).
   */
  pump(): void {
    if (this.pumpQueued || !this.link.flowing() || this.unacked >= MAX_UNACKED_BATCHES) return;
    if (!this.backlog) {
      this.backlog = new Map([...this.ledger.originMarks()].map(([origin, mark]) => [origin, mark.seq]));
      this.sendStateAhead();
    }
    const batch = this.nextBatch();
    if (!batch) return;
    if (batch.length > 0) this.sendBatch(batch);
    this.pumpQueued = true;
    setImmediate(() => {
      this.pumpQueued = false;
      this.pump();
    });
  }

  /**
   * The next batch the twin lacks, in fold order (hlc, origin, seq), so that the twin
   * folds it in order: streaming one origin after the other would make every batch of
   * the second sort before what the first left folded, and re-fold each time. Pages
   * through the log from `cursor`, skipping what the twin holds; falls back to one
   * origin's run (ofOrigin) should the fold-order scan ever not find what is missing.
   * Undefined when there is nothing to send; empty when a scan skipped rows only.
   */
  private nextBatch(): EncodedRow[] | undefined {
    const marks = this.ledger.originMarks();
    const missing = this.firstMissingOrigin(marks);
    if (missing === undefined) return undefined;
    this.cursor ??= this.scanStart(marks);
    const batch: EncodedRow[] = [];
    let bytes = 0;
    let limit = 0;
    let scanned = 0;
    let last: EncodedRow | undefined;
    let stuck = false;
    for (const row of this.ledger.store.rowsInFoldOrder(this.cursor)) {
      const [origin, seq, , json] = row;
      const sent = this.sent.get(origin) ?? 0;
      if (seq > sent) {
        if (seq !== sent + 1) {
          stuck = true; // an origin's seq order and fold order disagree: take the slow path
          break;
        }
        if (batch.length === 0) limit = this.frameBytes(origin, seq);
        else if (bytes + json.length > limit) break;
        batch.push(row);
        this.sent.set(origin, seq);
        bytes += json.length;
      }
      last = row;
      if (batch.length >= BATCH_EVENTS || ++scanned >= MAX_SCAN_ROWS) break;
    }
    if (last) this.cursor = { hlc: last[2], origin: last[0], seq: last[1] };
    if (batch.length > 0 || (last && !stuck)) return batch;
    // Nothing after the cursor, yet something is missing: send that origin's run as is.
    this.cursor = undefined;
    const after = this.sent.get(missing) ?? 0;
    const rows = this.ledger.store.ofOrigin(missing, after, BATCH_EVENTS);
    let n = 0;
    limit = rows[0] ? this.frameBytes(rows[0].origin, rows[0].seq) : 0;
    for (bytes = 0; n < rows.length && (n === 0 || bytes + rows[n]!.data.length <= limit); n++) bytes += rows[n]!.data.length + ENVELOPE_OVERHEAD_BYTES;
    const run = rows.slice(0, n);
    if (run.length > 0) this.sent.set(missing, run[run.length - 1]!.seq);
    return run.length > 0 ? run.map(encodedRow) : undefined;
  }

  /**
   * Sends this tracker's state ahead of the catch-up, if the twin takes it, lacks at least
   * twinStateMin events and holds none this log lacks (else its log would hold events the
   * state is not the fold of, and it would have to fold them all anyway).
   */
  private sendStateAhead(): void {
    if (!this.link.takesStates()) return;
    const marks = this.ledger.originMarks();
    for (const [origin, seq] of this.sent) if (seq > (marks.get(origin)?.seq ?? 0)) return;
    let lacking = 0;
    for (const [origin, mark] of marks) lacking += mark.seq - Math.min(mark.seq, this.sent.get(origin) ?? 0);
    if (lacking < this.twinStateMin) return;
    const state = this.ledger.stateForTwin();
    if (!state) return;
    let parts;
    try {
      parts = stateParts(state);
    } catch {
      return; // a state too big for MAX_STATE_PARTS frames: the twin folds the events itself
    }
    for (const part of parts) this.link.send(encodeMessage(part));
  }

  /** How big a frame that starts with (origin, seq) may be: small within the catch-up, big once live. */
  private frameBytes(origin: number, seq: number): number {
    return seq <= (this.backlog?.get(origin) ?? 0) ? CATCH_UP_FRAME_BYTES : LIVE_FRAME_BYTES;
  }

  /** An origin of which the local log holds events not yet sent, if any. */
  private firstMissingOrigin(marks: ReadonlyMap<number, { seq: number }>): number | undefined {
    for (const [origin, mark] of marks) if (mark.seq > (this.sent.get(origin) ?? 0)) return origin;
    return undefined;
  }

  /** Just before the earliest (in fold order) event the twin lacks. */
  private scanStart(marks: ReadonlyMap<number, { seq: number }>): Position | undefined {
    let start: Position | undefined;
    for (const [origin, mark] of marks) {
      const after = this.sent.get(origin) ?? 0;
      if (mark.seq <= after) continue;
      const first = this.ledger.store.ofOrigin(origin, after, 1)[0];
      if (first && (!start || compareOrder(first, start) < 0)) start = first;
    }
    // nothing sorts strictly between (hlc, origin, seq - 1) and (hlc, origin, seq)
    return start && { hlc: start.hlc, origin: start.origin, seq: start.seq - 1 };
  }

  private sendBatch(batch: readonly EncodedRow[]): void {
    for (const [origin, seq] of batch) this.twinHolds(origin, seq); // once it arrives; a lost link starts a new sender
    this.unacked += 1;
    this.link.send(encodeEncodedRows(batch, this.durableTime(batch[0]![0], batch[0]![1])));
  }

  /** When event (origin, seq) became durable here, if it was committed while this link was up. */
  private durableTime(origin: number, seq: number): number | undefined {
    if (origin !== this.origin) return undefined;
    const times = this.durableAt;
    while (times.length > 0 && times[0]!.last < seq) times.shift();
    const batch = times[0];
    return batch && batch.first <= seq ? batch.at : undefined;
  }
}
