/**
 * The hash of a ledger's folded state as /health, `tracker status` and the tests read it.
 * Hashing a million events' state takes about 100 ms, so a reading is kept: `hash()`
 * recomputes only when events were folded since (events are only ever added, so an
 * unchanged event count is an unchanged state; a state replaced by a re-fold is
 * `forget`-ten), and `recent()` hands an older reading out while events keep arriving,
 * and has a newer one taken on the snapshot worker where it can.
 */
import { snapshotText, textHash } from '../state-codec.js';
import type { State } from '../state.js';

/** recent() recomputes a stale state hash once this many times its last cost has passed, */
export const HASH_COOLDOWN = 10;
/**
 * but only the hash of a state whose canonical text is at least this long is ever reused
 * (about 40,000 events of a busy deployment's mix, some 5 ms to hash): a small state's is
 * always current. A size, not a time: a small state hashed during a stall of the host
 * must not have its hash reused (a client reading /health right after a command would
 * see the state before it).
 */
export const HASH_REUSE_MIN_CHARS = 512 * 1024;

/** A state hash, the event count of the state it is of, when it was taken and what it cost. */
export interface StateHashReading {
  readonly eventCount: number;
  readonly hash: string;
  readonly at: number;
  readonly costMs: number;
}

export class StateHasher {
  private last: StateHashReading | undefined;
  /** What the last hash computed here cost, ms, and the length of the text it hashed; kept when the state is replaced. */
  private lastCostMs = 0;
  private lastChars = 0;

  /**
   * `askElsewhere`, if given, asks for the current state's hash to be taken off this
   * thread (the snapshot worker), the answer coming back through `offer`: true if one is
   * on its way, false if it cannot be had there.
   */
  constructor(
    private readonly current: () => State,
    private readonly askElsewhere?: () => boolean,
  ) {}

  /** The hash of the current state. */
  hash(): string {
    return this.read().hash;
  }

  /**
   * The state hash for a monitor that may poll it in a tight loop (/health): hash(),
   * except for a state whose text is HASH_REUSE_MIN_CHARS or longer. Then, while
   * events keep arriving, the last reading is handed out again, and either the hash is
   * asked for elsewhere (askElsewhere: this thread does not pay for it while there is a
   * reading) or, where it cannot be, recomputed here once HASH_COOLDOWN times what it
   * cost has passed, so that polling spends at most about 1/HASH_COOLDOWN of this thread on it.
   * `eventCount` says which state it is of.
   */
  recent(): StateHashReading {
    const last = this.last;
    if (last === undefined || last.eventCount === this.current().eventCount || this.lastChars < HASH_REUSE_MIN_CHARS) return this.read();
    if (this.askElsewhere?.()) return last;
    return performance.now() - last.at < HASH_COOLDOWN * this.lastCostMs ? last : this.read();
  }

  /**
   * A hash taken elsewhere (askElsewhere) of the state when it held `eventCount` events:
   * kept if it is newer than the last reading and not of a state since replaced (forget
   * comes first, and the asker drops answers a re-fold made stale).
   */
  offer(eventCount: number, hash: string): void {
    if (this.last !== undefined && this.last.eventCount >= eventCount) return;
    if (eventCount > this.current().eventCount) return;
    this.last = { eventCount, hash, at: performance.now(), costMs: this.lastCostMs };
  }

  /** The state was replaced by another (a re-fold): the last reading is not of it. */
  forget(): void {
    this.last = undefined;
  }

  private read(): StateHashReading {
    const state = this.current();
    if (this.last?.eventCount !== state.eventCount) {
      const t0 = performance.now();
      const text = snapshotText(state); // stateHash's two steps, for the text's length
      const hash = textHash(text);
      const at = performance.now();
      this.lastCostMs = at - t0;
      this.lastChars = text.length;
      this.last = { eventCount: state.eventCount, hash, at, costMs: this.lastCostMs };
    }
    return this.last;
  }
}
