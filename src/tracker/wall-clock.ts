/** Wall-clock milliseconds with sub-millisecond precision: comparable across processes on one host (replication lag). */
export function wallMs(): number {
  return performance.timeOrigin + performance.now();
}
