import { describe, expect, test } from 'vitest';
import { cpuSeconds, threadCpuSeconds } from '../../bench/lib/files.js';

describe('the benches’ CPU-seconds of a process', () => {
  test('read for a list of processes with map(cpuSeconds): the index map passes is not taken for a thread', async () => {
    const [self] = await Promise.all([process.pid].map(cpuSeconds));
    expect(Number.isFinite(self!.total)).toBe(true);
    expect(self!.total).toBeGreaterThan(0);
    expect(self!.kernel).toBeLessThanOrEqual(self!.total);
  });

  test('of one thread: the main thread is at most the whole process', async () => {
    const main = await threadCpuSeconds(process.pid, process.pid);
    const whole = await cpuSeconds(process.pid);
    expect(Number.isFinite(main.total)).toBe(true);
    expect(main.total).toBeLessThanOrEqual(whole.total);
  });

  test('NaN for a process that is not there', async () => {
    expect((await cpuSeconds(undefined)).total).toBeNaN();
    expect((await threadCpuSeconds(process.pid, 0x7ffffffe)).total).toBeNaN();
  });
});
