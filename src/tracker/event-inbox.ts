/**
 * The inbound half of a replication link: `events` frames from the twin go to
 * Ledger.applyRemote (validating, idempotent on (origin, seq), durable on return), and
 * each frame is answered with one ack once applied.
 *
 * - Frames are applied together, in one transaction (one commit, one fsync), up to
 *   MAX_COALESCED_FRAMES. Live frames are applied on the next turn. During a catch-up,
 *   while the twin certainly has more to send (the frames so far fall short of its marks
 *   when the link came up), the inbox waits for a full set of frames, at most
 *   COALESCE_WAIT_MS: frames of megabytes arrive over several reads, so "what arrived
 *   together" would otherwise be one frame, and a big log would be stored in many small
 *   transactions that rewrite the same index pages each time.
 * - The catch-up target is the twin's marks when the link came up; the first moment the
 *   local marks reach all of them is reported once (events received, ms taken). Events
 *   within it are committed without waiting for the disk (heldBeforeLink); live ones
 *   with the fsync, before their ack, unless the twin asked for acks on write (TwinAck).
 * - Big frames come with the FrameChecker's verdict on their hashes (frame-checker.ts),
 *   worked out on another thread while earlier frames are applied; a frame is applied
 *   once its verdict is in, and frames whose every verdict passed skip those checks.
 * - A ChainError, or a frame the checker failed, means the twin sent something that is
 *   not a valid continuation of a chain: the link is dropped with CHAIN_BROKEN and
 *   re-syncs from marks on the next connection.
 */
import type { Envelope } from '../events/envelope.js';
import { ChainError, type Ledger } from '../events/log/ledger.js';
import type { Marks } from '../events/replication/protocol.js';
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

/**
 * What is known of a frame's envelope fields (checkEnvelopeFields): `pending` on the
 * checker, `passed` there, `inline` (to be checked while applying), or the problem.
 */
type Verdict = 'pending' | 'passed' | 'inline' | { readonly problem: string };

interface Frame {
  readonly events: Envelope[];
  readonly at: number | undefined;
  verdict: Verdict;
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

  constructor(
    private readonly ledger: Ledger,
    private readonly link: InboxLink,
  ) {}

  /** The link is up and the twin holds `target`: the catch-up starts (and may already be done). */
  start(target: Marks): void {
    this.target = target;
    this.syncStarted = performance.now();
    this.checkCaughtUp();
  }

  /** A frame arrived; `checked` is the FrameChecker's verdict on it, if it was sent there. */
  push(events: Envelope[], at: number | undefined, checked?: Promise<string | undefined>): void {
    for (const e of events) if (e.seq > (this.arrived.get(e.origin) ?? 0)) this.arrived.set(e.origin, e.seq);
    const frame: Frame = { events, at, verdict: checked ? 'pending' : 'inline' };
    this.frames.push(frame);
    checked?.then(
      (problem) => this.decided(frame, problem === undefined ? 'passed' : { problem }),
      () => this.decided(frame, 'inline'), // the checker is gone: check while applying
    );
    this.scheduleApply();
  }

  private decided(frame: Frame, verdict: Verdict): void {
    frame.verdict = verdict;
    this.scheduleApply();
  }

  /** The connection closed: no more waiting for frames, and what a catch-up stored is folded now. */
  stop(): void {
    this.cancelWait();
    this.ledger.foldDeferred();
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
    while (n < this.frames.length && (this.frames[n]!.verdict === 'passed' || this.frames[n]!.verdict === 'inline')) n++;
    return n;
  }

  private headFailed(): boolean {
    return typeof this.frames[0]?.verdict === 'object';
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
    const frames = this.frames.splice(0, Math.min(this.readyFrames(), this.framesPerApply()));
    this.scheduleApply();
    if (frames.length === 0) return;
    let fresh: Envelope[];
    const t0 = performance.now();
    try {
      const events = frames.length === 1 ? frames[0]!.events : frames.flatMap((f) => f.events);
      const fieldsChecked = frames.every((f) => f.verdict === 'passed');
      const waitForDisk = this.link.liveWaitsForDisk() && !this.heldBeforeLink(events);
      fresh = this.ledger.applyRemote(events, { catchingUp: this.frames.length > 0 || this.moreComing(), fieldsChecked, waitForDisk });
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
   */
  private heldBeforeLink(events: readonly Envelope[]): boolean {
    const target = this.target;
    if (!target) return false;
    for (const e of events) if (e.seq > (target.get(e.origin) ?? 0)) return false;
    return true;
  }

  private checkCaughtUp(): void {
    if (!this.target) return;
    const local = this.ledger.originMarks();
    for (const [origin, seq] of this.target) if ((local.get(origin)?.seq ?? 0) < seq) return;
    this.target = undefined;
    this.link.caughtUp(this.received, Math.round(performance.now() - this.syncStarted));
  }
}
