// Rates as users type them, and the token bucket's long-run rate.
import { describe, expect, it } from 'vitest';
import { parseRate, RateError, RateLimiter } from '../../src/client/rate-limiter.js';

describe('parseRate', () => {
  it('reads plain bytes and binary k / M / G suffixes', () => {
    expect(parseRate('1000')).toBe(1000);
    expect(parseRate('512k')).toBe(512 * 1024);
    expect(parseRate('512K')).toBe(512 * 1024);
    expect(parseRate('20M')).toBe(20 * 1024 * 1024);
    expect(parseRate('1.5m')).toBe(1.5 * 1024 * 1024);
    expect(parseRate('1G')).toBe(1024 ** 3);
  });

  it.each(['', 'fast', '-5', '10x', 'M', '1e6', '0', '0.1', '10 MB/s'])('refuses %j with BAD_RATE', (text) => {
    expect(() => parseRate(text)).toThrow(RateError);
    try {
      parseRate(text);
    } catch (err) {
      expect((err as RateError).code).toBe('BAD_RATE');
    }
  });
});

describe('RateLimiter', () => {
  it('lets one burst through at once, then holds the rate', async () => {
    const limiter = new RateLimiter(1_000_000, 100_000);
    const started = performance.now();
    // at once: before the event loop's next turn, not "within 50 ms", which a stalled host can miss
    const first = await Promise.race([limiter.take(100_000).then(() => 'granted'), new Promise((resolve) => setImmediate(() => resolve('waited')))]);
    expect(first).toBe('granted');
    for (let i = 0; i < 3; i++) await limiter.take(100_000); // 300 kB more at 1 MB/s
    expect(performance.now() - started).toBeGreaterThanOrEqual(250);
  });

  it('accepts a take larger than the burst and makes later callers pay for it', async () => {
    const limiter = new RateLimiter(1_000_000, 10_000);
    const started = performance.now();
    await limiter.take(200_000);
    await limiter.take(1);
    expect(performance.now() - started).toBeGreaterThanOrEqual(150);
  });
});
