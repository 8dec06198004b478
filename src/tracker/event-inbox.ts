/**
 * The inbound half of a replication link: `events` frames from the twin go to
 * Ledger.applyRemote (validating, idempotent on (origin, seq), durable on return), and
 * each frame is answered with one ack once applied.
 *
 * - Frames are applied together, in one transaction (one commit, one fsync), up to
 *   MAX_COALESCED_FRAMES. Live frames are applied on the next turn. During a catch-up,
 *   while the twin certainly has more to send (the frames so far fall short of its marks
 *   when the link came up), the inbox waits for a full set of frames, at most
 *   COALESCE_WAIT_MS: frames of over 100 KB arrive over several reads, so "what arrived
 *   together" would otherwise be one frame, and a big log would be stored in many small
 *   transactions that rewrite the same index pages each time.
 * - The catch-up target is the twin's marks when the link came up; the first moment the
 *   local marks reach all of them is reported once (events received, ms taken). Events
 *   within it are committed without waiting for the disk (heldBeforeLink); live ones
 *   with the fsync, before their ack, unless the twin asked for acks on write (TwinAck).
 * - Big frames go to the FrameChecker (frame-checker.ts), which checks their hashes on
 *   another thread while earlier frames are applied; a frame is applied once its verdict
 *   is in, and frames whose every verdict passed skip those checks. Catch-up frames
 *   (within the target) are stored by the checker's thread too when they continue the
 *   log: the event loop then only folds them (applyRemote's `inLog`). When the link
 *   drops, stores still asked for are withdrawn, and what the checker stored without
 *   being applied here is taken up from the log (Ledger.adoptLogTail): the marks the
 *   next link starts from are the log's.
 * - A ChainError, or a frame the checker failed, means the twin sent something that is
 *   not a valid continuation of a chain: the link is dropped with CHAIN_BROKEN and
 *   re-syncs from marks on the next connection.
 */
import type { Envelope } from '../events/envelope.js';
import { ChainError, type Ledger } from '../events/log/ledger.js';
import type { Marks } from '../events/replication/protocol.js';
import type { FrameChecker } from './frame-checker.js';
import { wallMs } from './wall-clock.js';

/**
 * Frames applied in one transaction when several are waiting. Fewer than the sender's
 * window, so the sender keeps producing while the receiver applies.
 */
export const MAX_COALESCED_FRAMES = 8;
/**
 * Coalescing stops short of frames whose apply would take longer than this (by the recent
 * cost per event): the event loop answers no ping while it applies, and the twin drops a
 * link it has not heard from for HEARTBEAT_TIMEOUT_MS.
 */
export const APPLY_BUDGET_MS = 1000;
/** How long a catch-up waits for more frames before it applies what it has. */
export const COALESCE_WAIT_MS = 100;

/** Live frames' replication lag: ms from durable on the twin to applied here, and the frame's size. */
export interface FrameLag {
  readonly ms: number;
  readonly events: number;
}

/** The connection the frames came in on. */
export interface InboxLink {
  /** Frames may still be applied: the connection is not closed or closing. */
  receiving(): boolean;
  /** The twin wants its live frames on disk (fsynced) before their ack (TwinAck 'flush'). */
  liveWaitsForDisk(): boolean;
  /** `frames` frames are durable here now: acknowledge each one. */
  applied(frames: number, lags: readonly FrameLag[]): void;
  /** Every event the twin held when the link came up is here now (reported once). */
  caughtUp(events: number, ms: number): void;
  /** Local marks moved. */
  progressed(): void;
  /** The twin's events could not be stored: drop the link. */
  failed(code: 'CHAIN_BROKEN' | 'LOCAL_ERROR', detail: string): void;
}

/** What the inbox asks of the FrameChecker. */
export type InboxChecker = Pick<FrameChecker, 'check' | 'withdrawStores'>;

/**
 * What is known of a frame's envelope fields (checkEnvelopeFields): `pending` on the
 * checker, `passed` there, `stored` (passed, and in the log now), `inline` (to be checked
 * while applying), or the problem.
 */
type Verdict = 'pending' | 'passed' | 'stored' | 'inline' | { readonly problem: string };

interface Frame {
  readonly events: Envelope[];
  readonly at: number | undefined;
  verdict: Verdict;
  /** Asked to be stored by the checker: ends the ledger's appendingElsewhere once settled. */
  settled?: () => void;
}

export class EventInbox {
  /** Frames received and not yet applied. */
  private frames: Frame[] = [];
  /** Per origin, the highest seq received on this connection. */
  private readonly arrived = new Map<number, number>();
  private applyQueued = false;
  private applyTimer: NodeJS.Timeout | undefined;
  /** Recent cost of applying one event, ms (a moving average). */
  private msPerEvent = 0.01;
  private target: Marks | undefined;
  private syncStarted = 0;
  private received = 0;
  /** Stores asked of the checker and not settled yet (stored and applied, or not stored). */
  private readonly unsettled = new Set<() => void>();
  private started = false;
  private stopped = false;
  /** Caught up but for a background re-fold: waiting for its end. */
  private awaitingRefold = false;

  constructor(
    private readonly ledger: Ledger,
    private readonly link: InboxLink,
    private readonly checker?: InboxChecker,
  ) {}

  /** The link is up and the twin holds `target`: the catch-up starts (and may already be done). */
  start(target: Marks): void {
    this.started = true;
    this.target = target;
    this.syncStarted = performance.now();
    this.checkCaughtUp();
  }

  /**
   * A frame arrived. With its text, it goes to the checker (if there is one): the caller
   * passes the text of big frames only (OFF_THREAD_MIN_EVENTS).
   */
  push(events: Envelope[], at: number | undefined, text?: string): void {
    for (const e of events) if (e.seq > (this.arrived.get(e.origin) ?? 0)) this.arrived.set(e.origin, e.seq);
    const checking = text !== undefined && this.checker !== undefined;
    const frame: Frame = { events, at, verdict: checking ? 'pending' : 'inline' };
    this.frames.push(frame);
    if (checking) {
      // Catch-up frames need no fsync (heldBeforeLink), so the checker's thread may store them.
      const store = this.heldBeforeLink(events);
      if (store) frame.settled = this.settlement();
      this.checker.check(text, store).then(
        ({ problem, stored }) => this.decided(frame, problem !== undefined ? { problem } : stored ? 'stored' : 'passed'),
        () => this.checkerGone(frame),
      );
    }
    this.scheduleApply();
  }

  /** Tells the ledger the log may run ahead of it until the returned function is called. */
  private settlement(): () => void {
    const done = this.ledger.appendingElsewhere();
    const settle = () => {
      this.unsettled.delete(settle);
      done();
    };
    this.unsettled.add(settle);
    return settle;
  }

  private decided(frame: Frame, verdict: Verdict): void {
    if (this.stopped) return; // stop() took up whatever the checker stored
    frame.verdict = verdict;
    if (verdict !== 'stored') frame.settled?.();
    this.scheduleApply();
  }

  /**
   * The checker's thread is gone without an answer: the frame is checked while applying.
   * Had it been asked to store the frame, it may have done so before it went, and
   * nothing else writes for it now: the log's tail is taken up first, so that applying
   * the frame skips what is already there.
   */
  private checkerGone(frame: Frame): void {
    if (!this.stopped && frame.settled) {
      try {
        this.ledger.adoptLogTail();
      } catch (error) {
        // Left unsettled: stop() takes the tail up once the link is down.
        return this.link.failed('LOCAL_ERROR', `could not take up what the checker stored: ${error instanceof Error ? error.message : String(error)}`);
      }
    }
    this.decided(frame, 'inline');
  }

  /**
   * The link is being dropped or closed: no more waiting for frames. Stores still asked
   * of the checker are withdrawn and what it stored is taken up from the log, and what
   * a catch-up stored without folding is folded now. Once; an inbox whose link never
   * came up leaves the ledger alone (another link's catch-up may be under way).
   */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.cancelWait();
    this.frames = [];
    if (this.unsettled.size > 0) {
      this.checker?.withdrawStores();
      this.ledger.adoptLogTail();
      for (const settle of [...this.unsettled]) settle();
    }
    if (this.started) this.ledger.foldDeferred();
  }

  private cancelWait(): void {
    clearTimeout(this.applyTimer);
    this.applyTimer = undefined;
  }

  private scheduleApply(): void {
    if (this.applyQueued) return;
    if (this.headFailed()) return this.applySoon();
    const ready = this.readyFrames();
    if (ready === 0) return; // the head's verdict calls back
    if (ready < this.framesPerApply() && this.moreComing()) {
      // Waits while frames keep coming, at most COALESCE_WAIT_MS after the last one.
      clearTimeout(this.applyTimer);
      this.applyTimer = setTimeout(() => {
        this.applyTimer = undefined;
        this.applySoon();
      }, COALESCE_WAIT_MS);
      return;
    }
    this.applySoon();
  }

  private applySoon(): void {
    this.cancelWait();
    if (this.applyQueued) return;
    this.applyQueued = true;
    setImmediate(() => {
      this.applyQueued = false;
      this.apply();
    });
  }

  /** Catching up, and the frames received so far do not reach the twin's marks yet. */
  private moreComing(): boolean {
    if (!this.target) return false;
    const local = this.ledger.originMarks();
    for (const [origin, seq] of this.target) if (Math.max(this.arrived.get(origin) ?? 0, local.get(origin)?.seq ?? 0) < seq) return true;
    return false;
  }

  /** Leading frames that may be applied: verdict in and not failed. */
  private readyFrames(): number {
    let n = 0;
    while (n < this.frames.length && isReady(this.frames[n]!.verdict)) n++;
    return n;
  }

  private headFailed(): boolean {
    return typeof this.frames[0]?.verdict === 'object';
  }

  /** Of the first `n` frames, how many lead that the checker stored, or that it did not store: one applyRemote takes one kind. */
  private sameKindAhead(n: number): number {
    const inLog = this.frames[0]?.verdict === 'stored';
    let same = 0;
    while (same < n && (this.frames[same]!.verdict === 'stored') === inLog) same++;
    return same;
  }

  /** Frames to apply in one go: MAX_COALESCED_FRAMES, or fewer when recent applies were slow (a loaded host). */
  private framesPerApply(): number {
    const events = this.frames[0]?.events.length ?? 1;
    const fit = Math.floor(APPLY_BUDGET_MS / (this.msPerEvent * events));
    return Math.max(1, Math.min(MAX_COALESCED_FRAMES, fit));
  }

  private apply(): void {
    if (!this.link.receiving()) return;
    const head = this.frames[0]?.verdict;
    if (typeof head === 'object') return this.link.failed('CHAIN_BROKEN', head.problem);
    const frames = this.frames.splice(0, this.sameKindAhead(Math.min(this.readyFrames(), this.framesPerApply())));
    this.scheduleApply();
    if (frames.length === 0) return;
    let fresh: Envelope[];
    const t0 = performance.now();
    try {
      const events = frames.length === 1 ? frames[0]!.events : frames.flatMap((f) => f.events);
      const inLog = frames[0]!.verdict === 'stored';
      const fieldsChecked = frames.every((f) => f.verdict !== 'inline');
      const waitForDisk = this.link.liveWaitsForDisk() && !this.heldBeforeLink(events);
      fresh = this.ledger.applyRemote(events, { catchingUp: this.frames.length > 0 || this.moreComing(), fieldsChecked, waitForDisk, inLog });
      // Not settled when it throws: the link drops, and stop() takes the stored events up.
      for (const f of frames) f.settled?.();
    } catch (error) {
      if (error instanceof ChainError) return this.link.failed('CHAIN_BROKEN', error.message);
      return this.link.failed('LOCAL_ERROR', `could not store the twin's events: ${error instanceof Error ? error.message : String(error)}`);
    }
    this.received += fresh.length;
    const took = performance.now() - t0;
    if (fresh.length >= 1000) this.msPerEvent = 0.7 * this.msPerEvent + (0.3 * took) / fresh.length;
    const now = wallMs();
    const lags: FrameLag[] = [];
    for (const f of frames) if (f.at !== undefined) lags.push({ ms: now - f.at, events: f.events.length });
    this.link.applied(frames.length, lags);
    this.checkCaughtUp();
    this.link.progressed();
  }

  /**
   * Every one of these events was durable on the twin when the link came up (within the
   * catch-up target). So no client waits for this tracker to store them (the twin acked
   * them on its own commit), and a crash of this machine that lost them would only make
   * the twin send them again: their commit need not wait for the disk. Live events, which
   * a client's semi-synchronous acknowledgement may wait for, do unless the twin asked
   * for acks on write (TwinAck).
   *
   * Such events may also be stored by the checker's thread. Events of this tracker's own
   * origin among them (its log was lost) race no local commit there: commits are held
   * while the twin holds more of this origin than the ledger (Replicator.holdCommits),
   * and should one slip through, UNIQUE (origin, seq) refuses the second of the two.
   */
  private heldBeforeLink(events: readonly Envelope[]): boolean {
    const target = this.target;
    if (!target) return false;
    for (const e of events) if (e.seq > (target.get(e.origin) ?? 0)) return false;
    return true;
  }

  /** Caught up: every event of the target is here, and folded (a background re-fold has ended). */
  private checkCaughtUp(): void {
    if (!this.target || this.stopped) return;
    const local = this.ledger.originMarks();
    for (const [origin, seq] of this.target) if ((local.get(origin)?.seq ?? 0) < seq) return;
    if (this.ledger.awaitingTwinState) return; // taken once its events are here: a later apply
    if (this.ledger.refolding) {
      if (!this.awaitingRefold) {
        this.awaitingRefold = true;
        this.ledger.once('refold', () => {
          this.awaitingRefold = false;
          this.checkCaughtUp();
        });
      }
      return;
    }
    this.target = undefined;
    this.link.caughtUp(this.received, Math.round(performance.now() - this.syncStarted));
  }
}

function isReady(verdict: Verdict): boolean {
  return verdict === 'passed' || verdict === 'stored' || verdict === 'inline';
}
