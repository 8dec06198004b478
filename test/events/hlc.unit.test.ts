/**
 * The hybrid logical clock: local timestamps never go backwards, whatever the wall clock
 * does, and a tracker never stamps an event at or below one it has seen from the other.
 */
import { describe, expect, test } from 'vitest';
import { HLC_TICKS_PER_MS, hlcToMs, nextHlc, observeHlc } from '../../src/events/index.js';

describe('nextHlc', () => {
  test('given a wall clock ahead of the last stamp, when stamping, then the stamp is the wall time in ticks', () => {
    expect(nextHlc(0, 1_700_000_000_000)).toBe(1_700_000_000_000 * HLC_TICKS_PER_MS);
    expect(nextHlc(5_000_999, 6_000.7)).toBe(6_000_000);
  });

  test('given a wall clock that stalls and goes backwards, when stamping repeatedly, then every stamp is strictly larger', () => {
    const wall = [5_000, 5_000, 5_000, 4_000, 3_000, 4_999, 5_000, 5_001, 1, 0, 5_002];
    let last = 0;
    const stamps: number[] = [];
    for (const ms of wall) {
      const next = nextHlc(last, ms);
      expect(next).toBeGreaterThan(last);
      stamps.push(next);
      last = next;
    }
    expect(stamps.slice(0, 4)).toEqual([5_000_000, 5_000_001, 5_000_002, 5_000_003]);
    expect(stamps[7]).toBe(5_001_000); // back on the wall clock once it moves past the stamps
    expect(stamps.at(-1)).toBe(5_002_000);
  });

  test('given a stamp, when converted to ms, then the logical counter is dropped', () => {
    expect(hlcToMs(5_000_003)).toBe(5_000);
    expect(hlcToMs(nextHlc(0, 1234))).toBe(1234);
  });
});

describe('observeHlc', () => {
  test.each([
    [0, 7_000_000],
    [7_000_005, 7_000_000],
    [7_000_000, 7_000_000],
    [3_000_000, 9_000_123],
  ])('given last %i and remote %i, when observed, then the clock is at neither below', (last, remote) => {
    const now = observeHlc(last, remote);
    expect(now).toBeGreaterThanOrEqual(remote);
    expect(now).toBeGreaterThanOrEqual(last);
    expect(now).toBe(Math.max(last, remote));
  });

  test('given a remote stamp ahead of the wall clock, when the next local event is stamped, then it sorts after the remote one', () => {
    const remote = 9_000_123;
    const local = nextHlc(observeHlc(1_000_000, remote), 1_000);
    expect(local).toBeGreaterThan(remote);
  });
});
