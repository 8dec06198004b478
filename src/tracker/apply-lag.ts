/**
 * The replication lag of live events from the twin, as /health reports it: ms from
 * durable there to applied here, over the last LAG_SAMPLES events (a ring; each event of
 * a frame counts once, with the frame's lag).
 */

/** Live events whose replication lag /health summarises. */
export const LAG_SAMPLES = 20_000;

export interface LagSummary {
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
  readonly events: number;
}

export class ApplyLag {
  private readonly ring = new Float64Array(LAG_SAMPLES);
  private count = 0;

  /** `events` events were applied `ms` after they were durable on the twin. */
  add(ms: number, events: number): void {
    for (let i = 0; i < Math.min(events, LAG_SAMPLES); i++) this.ring[this.count++ % LAG_SAMPLES] = ms;
  }

  /** Percentiles in ms (two decimals), or null before the first live event. */
  summary(): LagSummary | null {
    const n = Math.min(this.count, LAG_SAMPLES);
    if (n === 0) return null;
    const sorted = this.ring.slice(0, n).sort();
    const at = (q: number) => Math.round(sorted[Math.min(n - 1, Math.floor(q * n))]! * 100) / 100;
    return { p50: at(0.5), p99: at(0.99), max: at(1), events: n };
  }
}
