/**
 * Holds local commits while a new event of this tracker's origin could reuse a seq and
 * fork its chain: until the first attempt to reach the twin has settled (a link up, or a
 * failed dial; at most STARTUP_SETTLE_MAX_MS after start), and while the twin is known
 * to hold more of this origin than the local log (its data dir was lost or restored
 * from an old backup). A held command waits at most COMMIT_HOLD_MS, then is refused
 * with TRACKER_CATCHING_UP, which is safe to retry. The Replicator says when the twin's
 * or the log's marks moved (`recheck`); `behind` reads them.
 */

/** How long a command is held while this tracker catches up on its own origin. */
export const COMMIT_HOLD_MS = 3000;
/** Local commits wait at most this long after start for the first contact with the twin. */
export const STARTUP_SETTLE_MAX_MS = 5000;

/** Thrown to a held command when the hold ran out. */
export class CatchingUpError extends Error {
  readonly code = 'TRACKER_CATCHING_UP';
}

interface Holder {
  readonly resolve: () => void;
  readonly reject: (error: CatchingUpError) => void;
  readonly timer: NodeJS.Timeout;
}

export interface CommitGateOptions {
  /** The twin holds more of this tracker's origin than its log. */
  readonly behind: () => boolean;
  /** What a command held too long is told. */
  readonly refusal: string;
  readonly holdMs?: number;
  readonly settleMaxMs?: number;
}

export class CommitGate {
  private holders: Holder[] = [];
  private isSettled = false;
  private stopped = false;
  private readonly settleTimer: NodeJS.Timeout;

  constructor(private readonly options: CommitGateOptions) {
    this.settleTimer = setTimeout(() => this.settle(), options.settleMaxMs ?? STARTUP_SETTLE_MAX_MS);
    this.settleTimer.unref();
  }

  /** The first attempt to reach the twin has settled, or STARTUP_SETTLE_MAX_MS passed. */
  get settled(): boolean {
    return this.isSettled;
  }

  /** Local commits may go ahead now. */
  get open(): boolean {
    return this.stopped || (this.isSettled && !this.options.behind());
  }

  /** Undefined while commits may go ahead; else resolves when they may, or rejects (CatchingUpError) after the hold. */
  hold(): Promise<void> | undefined {
    if (this.open) return undefined;
    return new Promise((resolve, reject) => {
      const holder: Holder = {
        resolve,
        reject,
        timer: setTimeout(() => {
          this.holders = this.holders.filter((h) => h !== holder);
          reject(new CatchingUpError(this.options.refusal));
        }, this.options.holdMs ?? COMMIT_HOLD_MS),
      };
      this.holders.push(holder);
    });
  }

  /** The first attempt to reach the twin has settled. */
  settle(): void {
    if (this.isSettled) return;
    this.isSettled = true;
    clearTimeout(this.settleTimer);
    this.recheck();
  }

  /** The marks moved: held commands go ahead if they may now. */
  recheck(): void {
    if (this.holders.length > 0 && this.open) this.releaseAll();
  }

  /** The tracker stops: held commands go ahead (and meet the closed ledger). */
  stop(): void {
    this.stopped = true;
    clearTimeout(this.settleTimer);
    this.releaseAll();
  }

  private releaseAll(): void {
    const holders = this.holders;
    this.holders = [];
    for (const h of holders) {
      clearTimeout(h.timer);
      h.resolve();
    }
  }
}
