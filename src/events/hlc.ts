/**
 * Hybrid logical clock, encoded in one integer: physical milliseconds * 1000 plus a
 * logical counter. It never goes backwards, it moves past every timestamp it has
 * seen (local or remote), and it stays close to wall time. Pure: the physical time
 * is an argument.
 */
export const HLC_TICKS_PER_MS = 1000;

/** The timestamp for a local event, given the last one issued or seen. */
export function nextHlc(last: number, physicalMs: number): number {
  const physical = Math.floor(physicalMs) * HLC_TICKS_PER_MS;
  return physical > last ? physical : last + 1;
}

/** The clock after seeing a remote timestamp: never below it. */
export function observeHlc(last: number, remote: number): number {
  return remote > last ? remote : last;
}

export function hlcToMs(hlc: number): number {
  return Math.floor(hlc / HLC_TICKS_PER_MS);
}
