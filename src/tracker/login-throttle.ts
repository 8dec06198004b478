/**
 * Slows down password guessing. Failed logins are counted per user name and per client
 * IP address; past a threshold every further attempt for that user (or from that
 * address) must wait an exponentially growing delay after the last failure, and one
 * made sooner is refused with TOO_MANY_ATTEMPTS and the time to wait, before the
 * password is even checked (so a flood costs no scrypt work either).
 *
 * A successful login clears its user's count; only real failures count against an
 * address (so many honest clients behind one address can log in at once). Counts are forgotten FAILURE_MEMORY_MS
 * after the last failure, and at most MAX_TRACKED_KEYS are kept (the stalest go first),
 * so memory stays bounded. The counts live in this tracker's memory only: they are not
 * events (a failed login changes no state) and a restart forgets them.
 */

/** Failed logins for one user name before attempts are slowed down. */
export const MAX_FAILED_LOGINS_PER_USER = 5;
/** Failed logins from one IP address (any user names) before attempts are slowed down. */
export const MAX_FAILED_LOGINS_PER_ADDRESS = 20;
/** The wait after the first failure past a threshold; it doubles with each further failure. */
export const LOGIN_BACKOFF_BASE_MS = 1_000;
export const LOGIN_BACKOFF_MAX_MS = 5 * 60 * 1000;
/** A key with no failure for this long starts again from zero. */
export const FAILURE_MEMORY_MS = 15 * 60 * 1000;
export const MAX_TRACKED_KEYS = 10_000;

interface Failures {
  count: number;
  last: number;
}

export class LoginThrottle {
  private readonly keys = new Map<string, Failures>();

  constructor(private readonly clock: () => number = Date.now) {}

  /**
   * Called before the password is checked. Returns the milliseconds this attempt must
   * still wait (it is refused, and not counted), or 0: it goes ahead. For its user name it
   * counts as a failure until `succeeded` says otherwise, so a burst of parallel guesses
   * at one account cannot all slip in before the first is known to have failed. Its
   * address is charged only by a real failure (`failed`): many honest clients share one.
   */
  attempt(user: string, address: string): number {
    const now = this.clock();
    const wait = Math.max(this.wait(`u:${user}`, MAX_FAILED_LOGINS_PER_USER, now), this.wait(`a:${address}`, MAX_FAILED_LOGINS_PER_ADDRESS, now));
    if (wait > 0) return wait;
    this.charge(`u:${user}`, now);
    return 0;
  }

  /** The attempt was right: its user name starts again from zero. */
  succeeded(user: string, _address: string): void {
    this.keys.delete(`u:${user}`);
  }

  /** The attempt was wrong (unknown user or wrong password): its address is charged too. */
  failed(_user: string, address: string): void {
    this.charge(`a:${address}`, this.clock());
  }

  private charge(key: string, now: number): void {
    const seen = this.fresh(key, now);
    this.keys.delete(key); // re-insert: the map stays in order of last failure
    this.keys.set(key, { count: (seen?.count ?? 0) + 1, last: now });
    while (this.keys.size > MAX_TRACKED_KEYS) this.keys.delete(this.keys.keys().next().value!);
  }

  private wait(key: string, threshold: number, now: number): number {
    const seen = this.fresh(key, now);
    if (!seen || seen.count < threshold) return 0;
    const delay = Math.min(LOGIN_BACKOFF_MAX_MS, LOGIN_BACKOFF_BASE_MS * 2 ** Math.min(30, seen.count - threshold));
    return Math.max(0, seen.last + delay - now);
  }

  private fresh(key: string, now: number): Failures | undefined {
    const seen = this.keys.get(key);
    if (seen && now - seen.last > FAILURE_MEMORY_MS) {
      this.keys.delete(key);
      return undefined;
    }
    return seen;
  }
}
