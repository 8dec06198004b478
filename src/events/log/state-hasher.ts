/**
 * The hash of a ledger's folded state as /health, `tracker status` and the tests read it.
 * Hashing a million events' state takes about 100 ms, so a reading is kept: `hash()`
 * recomputes only when events were folded since (events are only ever added, so an
 * unchanged event count is an unchanged state; a state replaced by a re-fold is
 * `forget`-ten), and `recent()` hands an older reading out while events keep arriving.
 */
import { stateHash } from '../state-codec.js';
import type { State } from '../state.js';

/** recent() recomputes a stale state hash once this many times its last cost has passed, */
export const HASH_COOLDOWN = 10;
/** but only a hash that cost at least this much is ever reused: a small state's is always current. */
export const HASH_REUSE_MIN_COST_MS = 5;

/** A state hash, the event count of the state it is of, when it was taken and what it cost. */
export interface StateHashReading {
  readonly eventCount: number;
  readonly hash: string;
  readonly at: number;
  readonly costMs: number;
}

export class StateHasher {
  private last: StateHashReading | undefined;

  constructor(private readonly current: () => State) {}

  /** The hash of the current state. */
  hash(): string {
    return this.read().hash;
  }

  /**
   * The state hash for a monitor that may poll it in a tight loop (/health): hash(),
   * except that while events keep arriving the last one is handed out again until
   * HASH_COOLDOWN times what it cost has passed, so polling spends at most about
   * 1/HASH_COOLDOWN of the event loop on it. `eventCount` says which state it is of.
   * A state that hashes in under HASH_REUSE_MIN_COST_MS always gets its current hash; a
   * million events' (about 100 ms) is at most about a second old.
   */
  recent(): StateHashReading {
    const last = this.last;
    const reusable = last !== undefined && last.costMs >= HASH_REUSE_MIN_COST_MS && performance.now() - last.at < HASH_COOLDOWN * last.costMs;
    if (reusable && last.eventCount !== this.current().eventCount) return last;
    return this.read();
  }

  /** The state was replaced by another (a re-fold): the last reading is not of it. */
  forget(): void {
    this.last = undefined;
  }

  private read(): StateHashReading {
    const state = this.current();
    if (this.last?.eventCount !== state.eventCount) {
      const t0 = performance.now();
      const hash = stateHash(state);
      const at = performance.now();
      this.last = { eventCount: state.eventCount, hash, at, costMs: at - t0 };
    }
    return this.last;
  }
}
