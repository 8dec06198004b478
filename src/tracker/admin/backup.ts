/**
 * `tracker backup <file>` and `tracker restore <file>`: copies of a tracker's log.
 *
 * backup  SQLite's online backup (better-sqlite3's db.backup()) from a read-only
 *         connection, copied in one step so it is one consistent point of the log even
 *         while the tracker serves and appends. The copy is a single self-contained file
 *         (rollback journal, no -wal beside it), verified in full before it gets its
 *         name: a backup that exists is a good one.
 * restore Refuses while a tracker runs on the data dir (its run lock) and holds that lock
 *         itself meanwhile; verifies the backup in full first; refuses to replace an
 *         existing log unless --force, and then moves the old one aside (with its -wal
 *         and -shm) as events.db.replaced-<time>, never deleting it. The log it puts back is
 *         marked restored: it accepts commands once it has reached its twin (restored-log.ts).
 */
import Database from 'better-sqlite3';
import { existsSync, renameSync, rmSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { Command } from 'commander';
import { EventStore } from '../../events/log/event-store.js';
import { stateHash } from '../../events/state-codec.js';
import { markRestored } from '../restored-log.js';
import { dataDirOf, EXIT_DAMAGED, logFileOf, targetOptions, type TargetOptions } from './data-dir.js';
import { describeProblem, verifyLog } from './integrity.js';
import { bytes, keyValues, printJson } from './output.js';
import { loadProjection } from './projection.js';
import { acquireRunLock, DataDirBusy } from './run-lock.js';

const SIDE_FILES = ['', '-wal', '-shm', '-journal'];

export interface CopyReport {
  readonly file: string;
  readonly dataDir: string;
  readonly bytes: number;
  readonly events: number;
  readonly snapshots: number;
  readonly stateHash: string;
  readonly ms: number;
  /** restore --force: where the replaced log went. */
  readonly movedAside?: string | null;
}

/** Thrown when a copy fails its verification; the command exits with EXIT_DAMAGED. */
export class DamagedCopy extends Error {
  readonly code = 'DAMAGED';
}

export async function backupLog(dataDir: string, file: string, force = false): Promise<CopyReport> {
  const started = performance.now();
  if (existsSync(file) && !force) throw new Error(`${file} exists; pass --force to overwrite it`);
  const partial = `${file}.partial`;
  removeWithSideFiles(partial);
  const source = openExisting(logFileOf(dataDir));
  try {
    // One step for whatever remains after the first: the copy is one consistent read.
    await source.db.backup(partial, { progress: ({ remainingPages }) => Math.max(remainingPages, 1) });
  } finally {
    void source.close();
  }
  const copy = new Database(partial);
  copy.pragma('journal_mode = DELETE'); // self-contained: no -wal beside the backup
  copy.close();
  const summary = checkedSummary(partial, 'the new backup');
  if (!summary.ok) {
    removeWithSideFiles(partial);
    throw new DamagedCopy(`the backup failed verification, so the live log is damaged: ${summary.problem}; run tracker verify --data-dir ${dataDir}`);
  }
  removeWithSideFiles(file);
  renameSync(partial, file);
  return { file, dataDir, bytes: statSync(file).size, ...summary.counts, ms: performance.now() - started };
}

export async function restoreLog(dataDir: string, file: string, force = false): Promise<CopyReport> {
  const started = performance.now();
  if (!existsSync(file)) throw new Error(`no backup at ${file}`);
  // Checked before the data dir is touched (the run lock would create it).
  const summary = checkedSummary(file, 'the backup');
  if (!summary.ok) throw new DamagedCopy(`${file} failed verification: ${summary.problem}; nothing was changed`);
  let release: () => void;
  try {
    release = acquireRunLock(dataDir);
  } catch (error) {
    if (error instanceof DataDirBusy) throw new Error(`${error.message}: stop that tracker before restoring into its data dir`);
    throw error;
  }
  try {
    const target = logFileOf(dataDir);
    let movedAside: string | null = null;
    if (SIDE_FILES.some((s) => existsSync(target + s))) {
      if (!force) throw new Error(`${dataDir} already holds an event log (${target}); pass --force to replace it (the old one is moved aside, not deleted)`);
      movedAside = `${target}.replaced-${new Date().toISOString().replace(/[:.]/g, '-')}`;
      for (const s of SIDE_FILES) if (existsSync(target + s)) renameSync(target + s, movedAside + s);
    }
    const restoring = `${target}.restoring`;
    removeWithSideFiles(restoring);
    const source = openExisting(file);
    try {
      await source.db.backup(restoring, { progress: ({ remainingPages }) => Math.max(remainingPages, 1) });
    } finally {
      void source.close();
    }
    const copy = EventStore.open(restoring);
    try {
      markRestored(copy, { file: resolve(file), at: new Date().toISOString() });
      copy.db.pragma('wal_checkpoint(TRUNCATE)');
    } finally {
      await copy.close();
    }
    for (const s of SIDE_FILES) if (existsSync(restoring + s)) renameSync(restoring + s, target + s);
    return { file, dataDir, bytes: statSync(target).size, ...summary.counts, movedAside, ms: performance.now() - started };
  } finally {
    release();
  }
}

function openExisting(file: string): EventStore {
  if (!existsSync(file)) throw new Error(`no event log at ${file}`);
  return EventStore.openReadOnly(file);
}

type Summary = { ok: true; counts: { events: number; snapshots: number; stateHash: string } } | { ok: false; problem: string };

/** The full verification of a copy, and what it holds if it passes. */
function checkedSummary(file: string, what: string): Summary {
  let store: EventStore;
  try {
    store = EventStore.openReadOnly(file);
  } catch (error) {
    return { ok: false, problem: `${what} cannot be opened as an event log (${error instanceof Error ? error.message : String(error)})` };
  }
  try {
    const verdict = verifyLog(store);
    if (verdict.problem) return { ok: false, problem: describeProblem(verdict.problem) };
    const { state } = loadProjection(store);
    return { ok: true, counts: { events: state.eventCount, snapshots: store.listSnapshots().length, stateHash: stateHash(state) } };
  } catch (error) {
    return { ok: false, problem: `${what} is not a readable event log (${error instanceof Error ? error.message : String(error)})` };
  } finally {
    void store.close();
  }
}

function removeWithSideFiles(file: string): void {
  for (const s of SIDE_FILES) rmSync(file + s, { force: true });
}

export function backupCommand(): Command {
  return targetOptions(
    new Command('backup')
      .description("copy the tracker's log to <file>, consistently, even while it serves; the copy is verified before it is kept")
      .argument('<file>', 'where to write the backup (a single SQLite file)')
      .option('--force', 'overwrite <file> if it exists'),
  ).action(async (file: string, options: TargetOptions & { force?: boolean }) => {
    await runCopy(() => backupLog(dataDirOf(options), file, options.force), options.json, 'backup');
  });
}

export function restoreCommand(): Command {
  return targetOptions(
    new Command('restore')
      .description('replace a stopped tracker\'s log with a backup, after verifying the backup in full')
      .argument('<file>', 'a file written by tracker backup')
      .option('--force', 'replace an existing log (it is moved aside as events.db.replaced-<time>, not deleted)'),
  )
    .addHelpText(
      'after',
      '\nRefuses while a tracker runs on the data dir. The restored tracker accepts no command until it has reached its twin and caught up the events of its own that are newer than the backup (otherwise it would fork its history). If the twin is lost for good, start the tracker with --twin-lost.',
    )
    .action(async (file: string, options: TargetOptions & { force?: boolean }) => {
      await runCopy(() => restoreLog(dataDirOf(options), file, options.force), options.json, 'restore');
    });
}

async function runCopy(copy: () => Promise<CopyReport>, json: boolean | undefined, verb: 'backup' | 'restore'): Promise<void> {
  let report: CopyReport;
  try {
    report = await copy();
  } catch (error) {
    if (!(error instanceof DamagedCopy)) throw error;
    console.error(`tracker ${verb}: ${error.message}`);
    process.exitCode = EXIT_DAMAGED;
    return;
  }
  if (json) {
    printJson(report);
    return;
  }
  const pairs: [string, string | number][] =
    verb === 'backup'
      ? [['backup', `${report.file} (${bytes(report.bytes)}), verified, in ${Math.round(report.ms)} ms`], ['from', report.dataDir]]
      : [['restored', `${report.file} into ${report.dataDir}, verified, in ${Math.round(report.ms)} ms`], ['old log', report.movedAside ?? 'none (the data dir had no log)']];
  pairs.push(['events', report.events], ['snapshots', report.snapshots], ['state hash', report.stateHash]);
  console.log(keyValues(pairs));
}
