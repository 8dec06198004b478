/** Random payload files for the transfer benchmarks, and small process probes. */
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, readFile } from 'node:fs/promises';
import { join } from 'node:path';

export const MiB = 1024 * 1024;

export interface Payload {
  readonly path: string;
  readonly name: string;
  readonly sizeMiB: number;
  readonly bytes: number;
  readonly sha1: string;
}

/** Writes `sizeMiB` MiB of random bytes to `dir/name`; returns its SHA-1 too. */
export async function makeRandomFile(dir: string, name: string, sizeMiB: number): Promise<Payload> {
  const path = join(dir, name);
  const hash = createHash('sha1');
  const handle = await open(path, 'w');
  try {
    const chunk = 4 * MiB;
    for (let at = 0; at < sizeMiB * MiB; at += chunk) {
      const bytes = randomBytes(Math.min(chunk, sizeMiB * MiB - at));
      hash.update(bytes);
      await handle.write(bytes);
    }
  } finally {
    await handle.close();
  }
  return { path, name, sizeMiB, bytes: sizeMiB * MiB, sha1: hash.digest('hex') };
}

export async function sha1OfFile(path: string): Promise<string> {
  const hash = createHash('sha1');
  for await (const chunk of createReadStream(path, { highWaterMark: MiB })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** Peak resident set (VmHWM) of a live process in MB (10^6 bytes); NaN once it is gone. */
export async function peakRssMB(pid: number | undefined): Promise<number> {
  if (pid === undefined) return NaN;
  try {
    const status = await readFile(`/proc/${pid}/status`, 'utf8');
    const kib = /VmHWM:\s+(\d+)\s+kB/.exec(status)?.[1];
    return kib ? (Number(kib) * 1024) / 1e6 : NaN;
  } catch {
    return NaN;
  }
}

/**
 * Polls VmHWM of a process that exits by itself when done (aria2c): the last value read
 * before it exits. VmHWM only grows, so a 10 ms poll misses at most the last 10 ms.
 */
export class PeakRssPoller {
  private peak = NaN;
  private readonly timer: NodeJS.Timeout;

  constructor(pid: number | undefined, everyMs = 10) {
    this.timer = setInterval(() => {
      void peakRssMB(pid).then((mb) => {
        if (!Number.isNaN(mb) && !(mb <= this.peak)) this.peak = mb;
      });
    }, everyMs);
  }

  stop(): number {
    clearInterval(this.timer);
    return this.peak;
  }
}

/**
 * CPU time a live process has used so far, in seconds: in total and in the kernel; NaN
 * once it is gone. One argument, so that `pids.map(cpuSeconds)` reads processes.
 */
export function cpuSeconds(pid: number | undefined): Promise<{ total: number; kernel: number }> {
  return pid === undefined ? Promise.resolve(GONE) : readCpuSeconds(`/proc/${pid}/stat`);
}

/** The same for one thread of a live process (`thread` is a thread id; the process id for its main thread). */
export function threadCpuSeconds(pid: number | undefined, thread: number | undefined): Promise<{ total: number; kernel: number }> {
  return pid === undefined || thread === undefined ? Promise.resolve(GONE) : readCpuSeconds(`/proc/${pid}/task/${thread}/stat`);
}

const GONE = { total: NaN, kernel: NaN };

async function readCpuSeconds(statFile: string): Promise<{ total: number; kernel: number }> {
  try {
    const stat = await readFile(statFile, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // utime and stime are fields 14 and 15 of the whole line, in clock ticks (100/s on Linux).
    const user = Number(fields[11]) / 100;
    const kernel = Number(fields[12]) / 100;
    return { total: user + kernel, kernel };
  } catch {
    return GONE;
  }
}
