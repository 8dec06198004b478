/**
 * The transfer matrix shared by `bench/transfer.ts` (this system alone) and
 * `bench/vs-bittorrent.ts` (this system and aria2c): for each upload cap and file size,
 * set each system's swarm up once, then run by run and seeder count by seeder count
 * time one download per system, alternating which system goes first, so that both see
 * the same machine load. Medians per (system, size, seeders, cap).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseRate } from '../../src/client/rate-limiter.js';
import { availableParallelism } from 'node:os';
import { median, printTable } from './stats.js';
import { Aria2Swarm } from './aria2.js';
import { makeRandomFile, MiB, type Payload } from './files.js';
import { measureLimits, type Limits } from './limits.js';
import { OurSwarm, type TransferResult } from './ours.js';

/**
 * Pause before every download. On this VM, memory freed less than about 2 s earlier is
 * reused cheaply, but after that the guest has handed it back to the host, and taking it
 * again costs several times as much kernel time: writing 1 GiB into the page cache took
 * 0.2 s of kernel CPU right after another 1 GiB file was deleted, 1.4-1.7 s three or six
 * seconds after. Without a pause, a run that follows a fast one (whose download was
 * just deleted) is measured warm and a run that follows aria2c's 4 s one cold: the order
 * of the runs, not the system, decided up to 40% of a 1 GiB figure. Every run now starts cold.
 */
export const SETTLE_MS = 4000;

export type SystemName = 'ours' | 'bittorrent';

export interface MatrixOptions {
  readonly systems: readonly SystemName[];
  readonly sizes: readonly number[];
  readonly seeders: readonly number[];
  readonly runs: number;
  /** Upload cap per seeder (`20M`), or null for none. */
  readonly caps: readonly (string | null)[];
  /** Our downloading client writes a CPU profile here (--cpu-prof). */
  readonly profileDir?: string;
}

export interface Row {
  readonly system: SystemName;
  readonly sizeMiB: number;
  readonly seeders: number;
  /** The cap in MB/s (10^6 bytes/s), null when uncapped. */
  readonly capMBps: number | null;
  /** The cap as written on the command line (binary suffix: 20M = 20 MiB/s). */
  readonly cap: string | null;
  readonly runs: number;
  readonly seconds: number[];
  readonly medianSeconds: number;
  readonly medianMBps: number;
  /** Highest peak RSS of the downloading process over the runs. */
  readonly peakRssMB: number;
  /** aria2c only: median MB/s from its first tracker announce (without its ~2 s of start-up ticks). */
  readonly afterStartMBps?: number;
  /** Ours only: median CPU-seconds of one download, the downloading client's (and of them in its kernel) and all seeders'. */
  readonly cpuSeconds?: { readonly leecher: number; readonly leecherKernel: number; readonly seeders: number };
}

export interface MatrixResult {
  readonly limits: Limits;
  readonly limitSamples: Limits[];
  readonly rows: Row[];
  readonly wallSeconds: number;
}

interface Swarm {
  download(seeders: number, timeoutMs: number): Promise<TransferResult>;
  close(): Promise<void>;
}

export async function runMatrix(options: MatrixOptions): Promise<MatrixResult> {
  const started = performance.now();
  const dir = mkdtempSync(join(tmpdir(), 'p2p-bench-'));
  const samples = new Map<string, TransferResult[]>();
  const limitSamples: Limits[] = [];
  const maxSeeders = Math.max(...options.seeders);
  try {
    const payloads = new Map<number, Payload>();
    for (const size of options.sizes) payloads.set(size, await makeRandomFile(dir, `payload-${size}MiB.bin`, size));
    for (const cap of options.caps) {
      for (const size of options.sizes) {
        const limits = await measureLimits();
        limitSamples.push(limits);
        log(`limits: loopback TCP ${limits.tcpMBps.toFixed(0)} MB/s, SHA-1 ${limits.sha1MBps.toFixed(0)} MB/s`);
        const payload = payloads.get(size)!;
        const swarms = new Map<SystemName, Swarm>();
        try {
          for (const system of options.systems) {
            log(`setting up ${system}: ${size} MiB, ${maxSeeders} seeder(s), cap ${cap ?? 'none'}`);
            swarms.set(system, await startSwarm(system, payload, cap, maxSeeders, options.profileDir));
          }
          for (let run = 1; run <= options.runs; run++) {
            for (const [i, n] of options.seeders.entries()) {
              // Who goes first changes from run to run for every seeder count.
              const order = rotate(options.systems, run + i);
              for (const system of order) {
                await new Promise((r) => setTimeout(r, SETTLE_MS));
                const result = await swarms.get(system)!.download(n, timeoutFor(payload.bytes, cap, n));
                const key = rowKey(system, size, n, cap);
                samples.set(key, [...(samples.get(key) ?? []), result]);
                log(
                  `${system.padEnd(10)} ${size} MiB from ${n} seeder(s), cap ${cap ?? 'none'}, run ${run}: ` +
                    `${result.seconds.toFixed(2)} s, ${(payload.bytes / 1e6 / result.seconds).toFixed(1)} MB/s, peak RSS ${result.peakRssMB.toFixed(0)} MB` +
                    (result.leecherCpuSeconds !== undefined ? `, CPU s: leecher ${result.leecherCpuSeconds.toFixed(2)} (kernel ${result.leecherKernelSeconds!.toFixed(2)}), seeders ${result.seedersCpuSeconds!.toFixed(2)}` : ''),
                );
              }
            }
          }
        } finally {
          for (const swarm of swarms.values()) await swarm.close().catch(() => undefined);
        }
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const rows: Row[] = [];
  for (const cap of options.caps) {
    for (const size of options.sizes) {
      for (const n of options.seeders) {
        for (const system of options.systems) {
          const results = samples.get(rowKey(system, size, n, cap)) ?? [];
          const seconds = results.map((r) => r.seconds);
          const medianSeconds = median(seconds);
          const afterStart = results.flatMap((r) => (r.afterStartSeconds !== undefined ? [r.afterStartSeconds] : []));
          const cpu = results.flatMap((r) => (r.leecherCpuSeconds !== undefined ? [r] : []));
          rows.push({
            system,
            sizeMiB: size,
            seeders: n,
            capMBps: cap ? round(parseRate(cap) / 1e6) : null,
            cap,
            runs: results.length,
            seconds: seconds.map(round),
            medianSeconds: round(medianSeconds),
            medianMBps: round((size * MiB) / 1e6 / medianSeconds),
            peakRssMB: round(Math.max(...results.map((r) => r.peakRssMB))),
            ...(afterStart.length > 0 ? { afterStartMBps: round((size * MiB) / 1e6 / median(afterStart)) } : {}),
            ...(cpu.length > 0
              ? {
                  cpuSeconds: {
                    leecher: round(median(cpu.map((r) => r.leecherCpuSeconds!))),
                    leecherKernel: round(median(cpu.map((r) => r.leecherKernelSeconds!))),
                    seeders: round(median(cpu.map((r) => r.seedersCpuSeconds!))),
                  },
                }
              : {}),
          });
        }
      }
    }
  }
  const limits = {
    tcpMBps: round(median(limitSamples.map((l) => l.tcpMBps))),
    sha1MBps: round(median(limitSamples.map((l) => l.sha1MBps))),
  };
  return { limits, limitSamples, rows, wallSeconds: round((performance.now() - started) / 1000) };
}

/** Medians of 3 seeders over 1 seeder, per system, size and cap. */
export function scaling(rows: readonly Row[]): { system: SystemName; sizeMiB: number; cap: string | null; factor: number }[] {
  const out = [];
  for (const row of rows) {
    if (row.seeders !== 3) continue;
    const one = rows.find((r) => r.system === row.system && r.sizeMiB === row.sizeMiB && r.cap === row.cap && r.seeders === 1);
    if (one) out.push({ system: row.system, sizeMiB: row.sizeMiB, cap: row.cap, factor: round(row.medianMBps / one.medianMBps) });
  }
  return out;
}

/**
 * Where our downloads' CPU time went, per row: the downloading client's (in its kernel),
 * the seeders', their sum against what the machine's cores offer in the download's time,
 * and the part of it that no implementation can skip: the two SHA-1 passes (per piece and
 * whole file) over every byte at the SHA-1 rate measured in the same run.
 */
export function printCpuSeconds(rows: readonly Row[], sha1MBps: number): void {
  const ours = rows.filter((r) => r.cpuSeconds !== undefined);
  if (ours.length === 0) return;
  const cores = availableParallelism();
  console.log(`
our CPU-seconds per download (medians): downloading client (kernel), seeders, all of it against ${cores} cores x the median time`);
  printTable(
    ['size MiB', 'seeders', 'cap/seeder', 'median s', 'leecher CPU s', 'seeders CPU s', 'all', 'of cores', 'two SHA-1 passes'],
    ours.map((r) => {
      const cpu = r.cpuSeconds!;
      const all = cpu.leecher + cpu.seeders;
      return [r.sizeMiB, r.seeders, r.cap ?? 'none', r.medianSeconds.toFixed(2), `${cpu.leecher.toFixed(2)} (${cpu.leecherKernel.toFixed(2)})`, cpu.seeders.toFixed(2), all.toFixed(2), `${((100 * all) / (cores * r.medianSeconds)).toFixed(0)}%`, ((2 * r.sizeMiB * MiB) / 1e6 / sha1MBps).toFixed(2)];
    }),
  );
}

export interface CommonOptions {
  readonly sizes: number[];
  readonly seeders: number[];
  readonly runs: number;
  readonly caps: (string | null)[];
}

/** --sizes 64,256,1024 --seeders 1,2,3 --runs N [--capped | --uncapped] [--cap 20M] */
export function parseCommonOptions(args: readonly string[], defaults: { runs: number }): CommonOptions {
  const value = (name: string): string | undefined => {
    const at = args.indexOf(`--${name}`);
    return at >= 0 ? args[at + 1] : undefined;
  };
  const list = (name: string, fallback: number[]): number[] => {
    const text = value(name);
    if (!text) return fallback;
    const numbers = text.split(',').map(Number);
    if (numbers.some((n) => !Number.isInteger(n) || n <= 0)) throw new Error(`--${name} takes positive integers, e.g. 1,2,3`);
    return numbers;
  };
  const seeders = list('seeders', [1, 2, 3]);
  if (Math.max(...seeders) > 3) throw new Error('--seeders: at most 3');
  const runs = Number(value('runs') ?? defaults.runs);
  if (!Number.isInteger(runs) || runs < 1) throw new Error('--runs takes a positive integer');
  const cap = value('cap') ?? '20M';
  parseRate(cap);
  const capped = args.includes('--capped');
  const uncapped = args.includes('--uncapped');
  const caps = capped === uncapped ? [null, cap] : capped ? [cap] : [null];
  return { sizes: list('sizes', [64, 256, 1024]), seeders, runs, caps };
}

function startSwarm(system: SystemName, payload: Payload, cap: string | null, seeders: number, profileDir?: string): Promise<Swarm> {
  return system === 'ours' ? OurSwarm.start({ payload, cap, seeders, profileDir }) : Aria2Swarm.start({ payload, cap, seeders });
}

/** Generous: three times the capped (or a slow 30 MB/s) transfer time, plus a minute. */
function timeoutFor(bytes: number, cap: string | null, seeders: number): number {
  const rate = cap ? parseRate(cap) * seeders : 30e6;
  return 60_000 + Math.ceil((3 * bytes * 1000) / rate);
}

function rotate<T>(items: readonly T[], by: number): T[] {
  const k = by % items.length;
  return [...items.slice(k), ...items.slice(0, k)];
}

function rowKey(system: SystemName, size: number, seeders: number, cap: string | null): string {
  return `${system}/${size}/${seeders}/${cap ?? '-'}`;
}

function round(n: number): number {
  return Math.round(n * 100) / 100;
}

function log(text: string): void {
  console.error(`[${new Date().toISOString().slice(11, 19)}] ${text}`);
}
