/**
 * The semi-synchronous wait (DESIGN.md, Replication): while the link is up, a command's
 * answer waits until the twin has acked its events. A wait that runs out (ACK_WAIT_MS)
 * makes the link lagging: from then on commands are answered on the local commit alone,
 * and catch-up delivers their events, until the twin has acked everything of this
 * origin again. The Replicator says when to wait and what the twin acked; this keeps the
 * waiting commands, the deadline and the lagging flag.
 */

/** How long a command waits for the twin's ack before the link counts as lagging. */
export const ACK_WAIT_MS = 1000;

/** What the Replicator hears from the wait: to log it. */
export interface TwinAcksReport {
  /** A command waited `ms` without an ack: the link is lagging now. */
  lagging(ms: number): void;
  /** The twin acked everything of this origin: commands wait for its ack again. */
  lagOver(): void;
}

interface Waiter {
  readonly seq: number;
  readonly deadline: number;
  readonly resolve: () => void;
}

export class TwinAcks {
  private waiters: Waiter[] = [];
  private timer: NodeJS.Timeout | undefined;
  private isLagging = false;

  constructor(
    private readonly report: TwinAcksReport,
    private readonly waitMs = ACK_WAIT_MS,
  ) {}

  /** Commands are answered on the local commit alone until the twin catches up. */
  get lagging(): boolean {
    return this.isLagging;
  }

  /**
   * Resolves once the twin has acked this origin up to `seq` (`acked`), when the wait
   * runs out (the link is lagging then), or when every wait is released. Never rejects:
   * the event is durable here either way.
   */
  wait(seq: number): Promise<void> {
    return new Promise((resolve) => {
      this.waiters.push({ seq, deadline: performance.now() + this.waitMs, resolve });
      if (!this.timer) this.armTimer();
    });
  }

  /**
   * A link came up. It starts out lagging when the twin is more than `tolerance` events
   * behind on this origin: every command would otherwise wait out ACK_WAIT_MS while the
   * twin catches up.
   */
  linked(twinHolds: number, own: number, tolerance: number): void {
    this.isLagging = own - twinHolds > tolerance;
  }

  /** The twin holds this origin up to `twinHolds`, of `own` in the local log. */
  acked(twinHolds: number, own: number): void {
    while (this.waiters.length > 0 && this.waiters[0]!.seq <= twinHolds) this.waiters.shift()!.resolve();
    if (this.waiters.length === 0) this.disarmTimer();
    if (this.isLagging && twinHolds >= own) {
      this.isLagging = false;
      this.report.lagOver();
    }
  }

  /** Every wait ends now: the link dropped or was replaced, or the tracker stops. */
  releaseAll(): void {
    const waiters = this.waiters;
    this.waiters = [];
    this.disarmTimer();
    for (const w of waiters) w.resolve();
  }

  private armTimer(): void {
    const head = this.waiters[0];
    if (!head) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (this.waiters.length > 0 && this.waiters[0]!.deadline <= performance.now()) {
        this.isLagging = true;
        this.report.lagging(this.waitMs);
        this.releaseAll();
      } else {
        this.armTimer();
      }
    }, Math.max(0, head.deadline - performance.now()) + 1);
  }

  private disarmTimer(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }
}
