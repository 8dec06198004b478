/**
 * Replay benchmark (issue 5): how fast `tracker replay` rebuilds the state from the
 * first event, ignoring snapshots. Writes a realistic log (bench/synthetic-log.ts: two
 * origins, users, logins/logouts, drops and resumes, groups and joins, uploads, swarms)
 * by sealing envelopes straight into an EventStore, then times replayLog, the function
 * behind `tracker replay`, in this process. Target: 1,000,000 events in under 5 s.
 *
 * `--breakdown` also times the parts on the same log: the SQLite scan alone, the scan
 * plus JSON.parse, and the full fold (the rest is evolve and the garbage collector).
 *
 * Options: --events N (default 1000000), --runs N (default 3), --db FILE (keep the
 * generated log there and reuse it on the next run if it holds N events), --breakdown.
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initialState } from '../src/events/index.js';
import { EventStore } from '../src/events/log/event-store.js';
import { foldEvents } from '../src/events/log/fold.js';
import { replayLog, type ReplayReport } from '../src/tracker/admin/replay.js';
import { median, printTable, stringOption, writeResults } from './lib/stats.js';
import { ensureSyntheticLog } from './lib/synthetic-log.js';

export const TARGET_MS = 5000;


export default async function run(args: string[]): Promise<void> {
  const events = Number(stringOption(args, 'events') ?? 1_000_000);
  const runs = Number(stringOption(args, 'runs') ?? 3);
  const kept = stringOption(args, 'db');
  const temp = kept ? undefined : mkdtempSync(join(tmpdir(), 'bench-replay-'));
  const file = kept ?? join(temp!, 'events.db');
  try {
    const generated = await ensureSyntheticLog(file, events);
    const store = EventStore.openReadOnly(file);
    try {
      const measured: { report: ReplayReport; wallMs: number; cpuMs: number }[] = [];
      for (let i = 0; i < runs; i++) {
        const cpu = process.cpuUsage();
        const t0 = performance.now();
        const report = await replayLog(store);
        const wallMs = performance.now() - t0;
        const used = process.cpuUsage(cpu);
        measured.push({ report, wallMs, cpuMs: (used.user + used.system) / 1000 });
      }
      const hashes = new Set(measured.map((m) => m.report.stateHash));
      if (hashes.size !== 1) throw new Error(`replays disagree: ${[...hashes].join(', ')}`);
      const breakdown = args.includes('--breakdown') ? await measureParts(store) : undefined;
      const best = Math.min(...measured.map((m) => m.report.ms));
      const med = median(measured.map((m) => m.report.ms));
      printTable(
        ['run', 'events', 'replay ms', 'events/s', 'cpu ms'],
        measured.map((m, i) => [i + 1, m.report.events, Math.round(m.report.ms), m.report.eventsPerSecond, Math.round(m.cpuMs)]),
      );
      if (breakdown) printTable(['part', 'ms'], Object.entries(breakdown).map(([k, v]) => [k, Math.round(v)]));
      const verdict = med < TARGET_MS ? 'under' : 'OVER';
      console.log(`replay of ${events.toLocaleString('en-US')} events: median ${Math.round(med)} ms, best ${Math.round(best)} ms (${verdict} the ${TARGET_MS} ms target); state ${[...hashes][0]!.slice(0, 12)}`);
      const out = writeResults('replay', {
        events,
        dbBytes: statSync(file).size,
        generated,
        runs: measured.map((m) => ({ ms: Math.round(m.report.ms), cpuMs: Math.round(m.cpuMs), eventsPerSecond: m.report.eventsPerSecond })),
        medianMs: Math.round(med),
        bestMs: Math.round(best),
        targetMs: TARGET_MS,
        breakdown,
        stateHash: [...hashes][0],
        cpus: (await import('node:os')).cpus().length,
        node: process.version,
      });
      console.log(`results: ${out}`);
    } finally {
      await store.close();
    }
  } finally {
    if (temp) rmSync(temp, { recursive: true, force: true });
  }
}

/** Where the time goes: the same read as the fold, without and with parsing, on one thread and on two. */
async function measureParts(store: EventStore): Promise<Record<string, number>> {
  const sql = 'SELECT hlc, origin, seq, type, data FROM events ORDER BY hlc, origin, seq';
  const time = (f: () => void) => {
    const t0 = performance.now();
    f();
    return performance.now() - t0;
  };
  const scan = time(() => {
    let n = 0;
    for (const row of store.db.prepare(sql).raw(true).iterate() as IterableIterator<unknown[]>) n += (row[4] as string).length;
    if (n < 0) throw new Error('unreachable');
  });
  const parse = time(() => {
    for (const row of store.db.prepare(sql).raw(true).iterate() as IterableIterator<unknown[]>) JSON.parse(row[4] as string);
  });
  const oneThread = time(() => foldEvents(store, initialState()));
  const t0 = performance.now();
  await replayLog(store);
  const twoThreads = performance.now() - t0;
  return { 'sqlite scan': scan, 'scan + JSON.parse': parse, 'fold on one thread (+ evolve, GC)': oneThread, 'replay (read on a worker thread)': twoThreads };
}
