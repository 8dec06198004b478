/**
 * The randomized fault test with many seeds, as the benchmark job runs it (CI runs 3):
 * test/replication/faults.e2e.test.ts itself, under vitest, with FAULT_SEEDS. Each seed:
 * 4 clients issue mixed commands to both trackers while the link between them is cut and
 * healed and each tracker is SIGKILLed and restarted at random points; at the end no
 * acknowledged event is missing on either tracker, the state hashes are equal, and every
 * conflict is listed alike on both. Even seeds run with --twin-ack write.
 *
 * Options: --seeds N (default 20), --first-seed S (default 1), --steps N (steps per seed,
 * default 60). Prints one line per seed and writes bench/results/faults.json; exits 1 if
 * any seed failed. About 6 s per seed here; the whole run is cut off at 60 s per seed.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from '../src/demo/local-cluster.js';
import type { FaultRun } from '../test/helpers/fault-run.js';
import { median, numberOption, printTable, writeResults } from './lib/stats.js';

const TEST_FILE = 'test/replication/faults.e2e.test.ts';
const MS_PER_SEED_LIMIT = 60_000;

/** The part of vitest's JSON report read here. */
interface VitestReport {
  readonly testResults: readonly {
    readonly assertionResults: readonly { readonly title: string; readonly status: string; readonly duration?: number; readonly failureMessages: readonly string[]; readonly meta?: { readonly faultRun?: FaultRun } }[];
  }[];
}

interface SeedResult {
  readonly seed: number;
  readonly passed: boolean;
  readonly seconds: number;
  readonly run?: FaultRun;
  readonly failure?: string;
}

export default async function run(args: string[]): Promise<void> {
  const seeds = numberOption(args, 'seeds', 20);
  const firstSeed = numberOption(args, 'first-seed', 1);
  const steps = numberOption(args, 'steps', 60);
  const dir = mkdtempSync(join(tmpdir(), 'bench-faults-'));
  const reportFile = join(dir, 'report.json');
  console.log(`faults: seeds ${firstSeed}..${firstSeed + seeds - 1}, ${steps} steps each (${TEST_FILE})`);
  const started = performance.now();
  try {
    const limitMs = seeds * MS_PER_SEED_LIMIT + 60_000;
    const code = await vitest(reportFile, { FAULT_SEEDS: String(seeds), FAULT_FIRST_SEED: String(firstSeed), FAULT_STEPS: String(steps) }, limitMs);
    if (!existsSync(reportFile)) {
      console.error(`faults: vitest ended (exit ${code ?? 'by signal'}) without its report: no results; the run's limit is ${limitMs / 1000} s`);
      process.exitCode = 1;
      return;
    }
    const results = seedResults(JSON.parse(readFileSync(reportFile, 'utf8')) as VitestReport);
    const minutes = Math.round((performance.now() - started) / 6000) / 10;
    printTable(
      ['seed', '--twin-ack', 'kills', 'link cuts', 'acked users/groups/joins', 'conflicts', 'events', 's', 'result'],
      results.map((r) => [r.seed, r.run?.twinAck ?? '', r.run?.kills ?? '', r.run?.cuts ?? '', r.run ? `${r.run.acknowledged.users}/${r.run.acknowledged.groups}/${r.run.acknowledged.joins}` : '', r.run?.conflicts ?? '', r.run?.events ?? '', r.seconds, r.passed ? 'passed' : `FAILED: ${r.failure}`]),
    );
    const failed = results.filter((r) => !r.passed);
    const total = (f: (run: FaultRun) => number) => results.reduce((sum, r) => sum + (r.run ? f(r.run) : 0), 0);
    const totals = { kills: total((r) => r.kills), cuts: total((r) => r.cuts), conflicts: total((r) => r.conflicts), events: total((r) => r.events) };
    const summary = { seeds: results.length, firstSeed, steps, passed: results.length - failed.length, failed: failed.map((r) => r.seed), medianSeconds: median(results.map((r) => r.seconds)), minutes, totals, results };
    console.log(`${summary.passed} of ${summary.seeds} seeds passed in ${minutes} min (median ${summary.medianSeconds} s per seed): ${totals.kills} kills -9, ${totals.cuts} link cuts, ${totals.conflicts} conflicts listed alike on both trackers, ${totals.events} events`);
    console.log(`wrote ${writeResults('faults', summary)}`);
    if (code !== 0 || failed.length > 0 || results.length !== seeds) process.exitCode = 1;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function seedResults(report: VitestReport): SeedResult[] {
  return report.testResults.flatMap((file) =>
    file.assertionResults.map((t) => ({
      seed: Number(/seed (\d+)/.exec(t.title)?.[1]),
      passed: t.status === 'passed',
      seconds: Math.round((t.duration ?? 0) / 100) / 10,
      ...(t.meta?.faultRun && { run: t.meta.faultRun }),
      ...(t.status !== 'passed' && { failure: (t.failureMessages[0] ?? t.status).split('\n')[0]!.slice(0, 200) }),
    })),
  );
}

/**
 * Runs the fault test file under vitest (progress on this terminal, the report to
 * `reportFile`); its exit code. Vitest leads a process group of its own, so that a run
 * past `limitMs` is ended with everything it started (its workers, their trackers).
 */
function vitest(reportFile: string, env: Record<string, string>, limitMs: number): Promise<number | null> {
  const child = spawn(process.execPath, [join(ROOT, 'node_modules/vitest/vitest.mjs'), 'run', TEST_FILE, '--reporter=verbose', '--reporter=json', `--outputFile.json=${reportFile}`], {
    cwd: ROOT,
    stdio: 'inherit',
    env: { ...process.env, ...env },
    detached: true,
  });
  const group = (signal: NodeJS.Signals) => {
    if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) process.kill(-child.pid, signal);
  };
  const timer = setTimeout(() => {
    console.error(`faults: still running after ${limitMs / 1000} s; stopping it and every process it started`);
    group('SIGKILL');
  }, limitMs);
  // Its own group does not get the terminal's Ctrl-C: pass it on (vitest then stops its trackers).
  const forward = (signal: NodeJS.Signals) => group(signal);
  process.on('SIGINT', forward);
  process.on('SIGTERM', forward);
  return new Promise((resolve) => {
    child.once('exit', (code) => {
      clearTimeout(timer);
      process.off('SIGINT', forward);
      process.off('SIGTERM', forward);
      resolve(code);
    });
  });
}
