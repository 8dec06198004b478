/**
 * A token bucket for bytes: `take(n)` resolves once n bytes may pass at the
 * configured rate. Callers are served first come, first served, so one limiter can
 * be shared by every connection of a process. A take larger than the burst is
 * allowed and puts the bucket in debt, which later callers wait out: the long-run
 * rate holds whatever the sizes.
 *
 * Rates are written as a number with an optional binary suffix:
 * "1000" = 1000 B/s, "512k" = 512 KiB/s (k = 1024), "20M" = 20 MiB/s, "1G" = 1 GiB/s.
 */
import { PIECE_SIZE } from '../wire/manifest.js';

/** Default burst: a quarter second of traffic, but at least one piece. */
export const DEFAULT_BURST_SECONDS = 0.25;
export const MIN_DEFAULT_BURST = PIECE_SIZE;
const RATE_UNITS: Readonly<Record<string, number>> = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 };
const RATE_PATTERN = /^(\d+(?:\.\d+)?)\s*([kmg]?)$/i;

export class RateError extends Error {
  readonly code = 'BAD_RATE';
  constructor(message: string) {
    super(message);
    this.name = 'RateError';
  }
}

/** Parses "20M", "512k", "1000" into bytes per second (k/M/G are powers of 1024). */
export function parseRate(text: string): number {
  const match = RATE_PATTERN.exec(String(text).trim());
  if (!match) {
    throw new RateError(`invalid rate "${text}": expected a number of bytes/s with an optional k, M or G suffix, e.g. 512k or 20M`);
  }
  const rate = Math.floor(Number(match[1]) * RATE_UNITS[match[2]!.toLowerCase()]!);
  if (!Number.isFinite(rate) || rate < 1) throw new RateError(`invalid rate "${text}": must be at least 1 byte/s`);
  return rate;
}

export class RateLimiter {
  readonly burst: number;
  private tokens: number;
  private last = performance.now();
  private tail: Promise<void> = Promise.resolve();

  constructor(
    readonly bytesPerSecond: number,
    burst?: number,
  ) {
    if (!(bytesPerSecond > 0) || !Number.isFinite(bytesPerSecond)) throw new RangeError('RateLimiter: rate must be a positive number');
    this.burst = burst ?? Math.max(MIN_DEFAULT_BURST, Math.floor(bytesPerSecond * DEFAULT_BURST_SECONDS));
    if (!(this.burst > 0)) throw new RangeError('RateLimiter: burst must be positive');
    this.tokens = this.burst;
  }

  /** Resolves when `bytes` may pass. Calls are served in order. */
  take(bytes: number): Promise<void> {
    const turn = this.tail.then(() => this.acquire(bytes));
    this.tail = turn;
    return turn;
  }

  private async acquire(bytes: number): Promise<void> {
    const need = Math.min(bytes, this.burst);
    for (;;) {
      this.refill();
      if (this.tokens >= need) {
        this.tokens -= bytes;
        return;
      }
      const waitMs = Math.ceil(((need - this.tokens) / this.bytesPerSecond) * 1000);
      // Unref'd: a wait for tokens alone should not keep a process alive.
      await new Promise<void>((resolve) => setTimeout(resolve, Math.max(1, waitMs)).unref());
    }
  }

  private refill(): void {
    const now = performance.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) / 1000) * this.bytesPerSecond);
    this.last = now;
  }
}

/**
 * Measures a byte rate over the last `windowMs`: `add` counts bytes as they come,
 * `sample` (called regularly) records the running total, `bytesPerSecond` compares the
 * total with the oldest sample still in the window.
 */
export class RateMeter {
  private total = 0;
  private readonly samples: { at: number; bytes: number }[] = [];

  constructor(readonly windowMs: number) {}

  add(bytes: number): void {
    this.total += bytes;
  }

  sample(now: number): void {
    this.samples.push({ at: now, bytes: this.total });
    while (this.samples.length > 0 && now - this.samples[0]!.at > this.windowMs) this.samples.shift();
  }

  bytesPerSecond(now: number): number {
    const oldest = this.samples.find((s) => now - s.at <= this.windowMs);
    const seconds = oldest ? (now - oldest.at) / 1000 : 0;
    return oldest && seconds > 0 ? (this.total - oldest.bytes) / seconds : 0;
  }
}
