/**
 * Why the link to the twin keeps failing, when it fails for a reason that dialling again
 * at once cannot cure: a refusal (the other side is not this cluster's twin, or not its
 * version) or a dropped link (a broken chain, a local error). Owns the latest such
 * failure and how many came in a row (/health's `problem`), the ever slower redial they
 * call for (FAULT_BACKOFF_MS), and their end once a link has stayed up STABLE_LINK_MS.
 */

/** Redial delays while links keep failing for a reason, one step per failure in a row. */
export const FAULT_BACKOFF_MS = [1000, 2000, 5000, 10_000, 30_000] as const;
/** A link up this long without failing ends the problem before it (and its backoff). */
export const STABLE_LINK_MS = 10_000;

/** Connections refused during the handshake. */
const REFUSALS: ReadonlySet<string> = new Set(['AUTH_FAILED', 'UNEXPECTED_PEER', 'VERSION_MISMATCH', 'BAD_FRAME', 'AUTH_TIMEOUT']);
/** Links dropped once up. */
const DROPS: ReadonlySet<string> = new Set(['CHAIN_BROKEN', 'LOCAL_ERROR']);

export function isRefusal(code: string): boolean {
  return REFUSALS.has(code);
}

export function isDrop(code: string): boolean {
  return DROPS.has(code);
}

export interface LinkProblem {
  readonly code: string;
  readonly detail: string;
  /** ISO time of the latest failure. */
  readonly at: string;
  /** Failures in a row. */
  readonly times: number;
}

export class LinkFaults {
  private problem: LinkProblem | undefined;
  private stableTimer: NodeJS.Timeout | undefined;

  /** The latest failure, until a link stays up STABLE_LINK_MS. */
  get current(): LinkProblem | undefined {
    return this.problem;
  }

  /** A connection to the twin ended with `code`: one more failure in a row, if it is a refusal or a drop. */
  ended(code: string, detail: string): void {
    if (!isRefusal(code) && !isDrop(code)) return;
    this.problem = { code, detail, at: new Date().toISOString(), times: (this.problem?.times ?? 0) + 1 };
  }

  /** How long to wait before dialling again while links keep failing; undefined when they do not. */
  redialMs(): number | undefined {
    return this.problem && FAULT_BACKOFF_MS[Math.min(this.problem.times - 1, FAULT_BACKOFF_MS.length - 1)];
  }

  linkUp(): void {
    clearTimeout(this.stableTimer);
    this.stableTimer = setTimeout(() => (this.problem = undefined), STABLE_LINK_MS);
    this.stableTimer.unref();
  }

  linkDown(): void {
    clearTimeout(this.stableTimer);
  }
}
