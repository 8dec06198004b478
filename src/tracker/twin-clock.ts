/**
 * How far apart the two trackers' wall clocks may be, and what is said when they are
 * further apart.
 *
 * The fold knows a command retried on the twin (same idempotency key) as one command
 * only within COMMAND_MEMORY_MS (2 minutes) of HLC time. A tracker runs a command within
 * COMMAND_DEADLINE_MS (30 s) of reading it, and our client sends one again only within
 * RETRY_SPAN_MS (45 s) of its first sending: that leaves about 45 s for the clocks to
 * disagree before a command sent to both could apply twice. Each tracker measures the
 * difference when the link comes up (the twin's wall clock in its hello against its
 * own) and warns long before that.
 */

/** Beyond this, the trackers' clocks are reported as apart (log line at link up, `tracker status`). */
export const CLOCK_SKEW_WARN_MS = 10_000;

/** Whether a twin whose clock is `aheadMs` ahead of this tracker's (negative: behind) is too far off. */
export function clocksApart(aheadMs: number): boolean {
  return Math.abs(aheadMs) > CLOCK_SKEW_WARN_MS;
}

/** The warning for a twin whose clock is `aheadMs` ahead of this tracker's. */
export function clockSkewWarning(twinId: number, aheadMs: number): string {
  const seconds = (Math.abs(aheadMs) / 1000).toFixed(1);
  return (
    `tracker ${twinId}'s clock is ${seconds} s ${aheadMs > 0 ? 'ahead of' : 'behind'} this tracker's: ` +
    `keep the two within ${CLOCK_SKEW_WARN_MS / 1000} s (NTP), or a command a client sent to both (a failover) ` +
    'may no longer be known as one and apply twice'
  );
}
