/**
 * StateHasher.recent with a hash taken elsewhere (the snapshot worker): a costly state's
 * hash is not recomputed on the tracker's thread while there is a reading to hand out,
 * and answers from elsewhere are kept only when newer and of this state. The clock is
 * the test's: every reading of it advances it, so a hash "costs" what the test says.
 */
import { afterEach, beforeEach, describe, expect, test, vi } from 'vitest';
import { initialState, stateHash, type State } from '../../src/events/index.js';
import { HASH_COOLDOWN, HASH_REUSE_MIN_CHARS, StateHasher } from '../../src/events/log/state-hasher.js';
import { snapshotText } from '../../src/events/state-codec.js';

let ms = 0;
let tick = 0;
beforeEach(() => {
  ms = 0;
  vi.spyOn(performance, 'now').mockImplementation(() => (ms += tick));
});
afterEach(() => {
  vi.restoreAllMocks();
});

/** A small state of `n` events (only the count differs, which is what the hasher goes by). */
const stateOf = (n: number): State => ({ ...initialState(), eventCount: n });
/** A big one: its text longer than HASH_REUSE_MIN_CHARS (checked in the first test). */
const users = new Map(Array.from({ length: 12_000 }, (_, i) => [`user${i}`, { passwordHash: 'scrypt$'.padEnd(60, 'x'), createdAt: i, account: `account-${i}` }]));
const bigStateOf = (n: number): State => ({ ...initialState(), users, eventCount: n });

describe('StateHasher.recent', () => {
  test('given a costly state and a hash that can be taken elsewhere, when events arrive, then the last reading is handed out and the hash is asked for, and its answer is the next reading', () => {
    tick = 10; // each hash here costs that much
    let state = bigStateOf(10);
    const ask = vi.fn(() => true);
    const hasher = new StateHasher(() => state, ask);
    expect(snapshotText(state).length).toBeGreaterThan(HASH_REUSE_MIN_CHARS);
    const first = hasher.recent();
    expect(first).toMatchObject({ eventCount: 10, hash: stateHash(state) });
    expect(ask).not.toHaveBeenCalled();

    state = bigStateOf(12);
    ms += 1_000_000; // long past any cooldown: still not hashed here
    expect(hasher.recent()).toBe(first);
    expect(ask).toHaveBeenCalledTimes(1);

    hasher.offer(12, 'hash-of-12');
    expect(hasher.recent()).toMatchObject({ eventCount: 12, hash: 'hash-of-12' });
    expect(ask).toHaveBeenCalledTimes(1); // current now: nothing to ask
  });

  test('given answers from elsewhere, then one older than the last reading, or of more events than the state holds, is dropped', () => {
    tick = 10;
    let state = bigStateOf(10);
    const hasher = new StateHasher(() => state, () => true);
    hasher.recent();
    state = bigStateOf(20);
    hasher.offer(9, 'older');
    hasher.offer(21, 'beyond the state');
    expect(hasher.recent()).toMatchObject({ eventCount: 10, hash: stateHash(bigStateOf(10)) });
    hasher.offer(15, 'between');
    expect(hasher.recent()).toMatchObject({ eventCount: 15, hash: 'between' });
  });

  test('given a hash that cannot be taken elsewhere now, then the last reading serves for HASH_COOLDOWN times its cost, then it is recomputed here', () => {
    tick = 10;
    let state = bigStateOf(10);
    const hasher = new StateHasher(() => state, () => false);
    const first = hasher.recent();
    state = bigStateOf(11);
    expect(hasher.recent()).toBe(first);
    ms += HASH_COOLDOWN * first.costMs;
    expect(hasher.recent()).toMatchObject({ eventCount: 11, hash: stateHash(state) });
  });

  test('given a state replaced by a re-fold (forget), then there is no reading to hand out: it is hashed here', () => {
    tick = 10;
    let state = bigStateOf(10);
    const ask = vi.fn(() => true);
    const hasher = new StateHasher(() => state, ask);
    hasher.recent();
    state = bigStateOf(11);
    hasher.forget();
    expect(hasher.recent()).toMatchObject({ eventCount: 11, hash: stateHash(state) });
    expect(ask).not.toHaveBeenCalled();
  });

  test('given a small state (its text under HASH_REUSE_MIN_CHARS), then every reading is current and nothing is asked elsewhere, even when the host stalls while hashing it', () => {
    // Regression: reuse went by the hash's cost (5 ms or more), so a small state hashed
    // during a stall of a loaded host had its hash handed out again: a test that read
    // /health right after a command saw the state before it.
    tick = 10; // every reading of the clock 10 ms later: the hash "costs" 10 ms
    let state = stateOf(10);
    const ask = vi.fn(() => true);
    const hasher = new StateHasher(() => state, ask);
    expect(snapshotText(state).length).toBeLessThan(HASH_REUSE_MIN_CHARS);
    expect(hasher.recent().costMs).toBeGreaterThanOrEqual(10);
    state = stateOf(11);
    expect(hasher.recent()).toMatchObject({ eventCount: 11, hash: stateHash(state) });
    expect(ask).not.toHaveBeenCalled();
  });
});
