/**
 * `tracker snapshot`: takes a snapshot of a STOPPED tracker's state now, on its log file.
 *
 * A running tracker takes snapshots by itself every --snapshot-every events (default
 * DEFAULT_SNAPSHOT_EVERY) and keeps the newest few; so while one runs on the data
 * dir (its run lock is held) this command refuses rather than write beside it. Offline it
 * holds the run lock itself (no tracker can start meanwhile), opens the log with the
 * ledger, exactly as a tracker would, and has the ledger take the snapshot.
 */
import { existsSync } from 'node:fs';
import { Command } from 'commander';
import { EventStore } from '../../events/log/event-store.js';
import { DEFAULT_SNAPSHOT_EVERY, Ledger } from '../../events/log/ledger.js';
import { dataDirOf, logFileOf, targetOptions, type TargetOptions } from './data-dir.js';
import { checkAtStart, describeProblem } from './integrity.js';
import { keyValues, printJson } from './output.js';
import { acquireRunLock, DataDirBusy } from './run-lock.js';

export interface SnapshotReport {
  readonly taken: boolean;
  readonly id: number;
  readonly position: string;
  readonly eventCount: number;
  readonly stateHash: string;
  readonly ms: number;
}

/** Takes a snapshot of the log in a stopped tracker's data dir (or says the newest already covers everything). */
export function snapshotOffline(dataDir: string): SnapshotReport {
  const file = logFileOf(dataDir);
  if (!existsSync(file)) throw new Error(`no event log at ${file}: has a tracker run with --data-dir ${dataDir}?`);
  let release: () => void;
  try {
    release = acquireRunLock(dataDir);
  } catch (error) {
    if (error instanceof DataDirBusy) {
      throw new Error(
        `${error.message}. A running tracker takes its own snapshots every --snapshot-every events (default ${DEFAULT_SNAPSHOT_EVERY.toLocaleString('en-US')}); ` +
          'to take one now, stop it first and run this again.',
      );
    }
    throw error;
  }
  const started = performance.now();
  const store = EventStore.open(file);
  try {
    const verdict = checkAtStart(store); // never snapshot what a tracker would refuse to serve
    if (verdict.problem) throw new Error(`the log at ${file} is damaged (${describeProblem(verdict.problem)}); run tracker verify`);
    const ledger = new Ledger(store, { origin: 0 }); // origin unused: it only folds and snapshots, never commits
    ledger.open();
    const newest = store.latestSnapshot();
    const covered = newest !== undefined && newest.eventCount === ledger.current.eventCount;
    if (!covered && !ledger.snapshot()) throw new Error(`the log at ${file} is empty: nothing to snapshot`);
    const s = store.latestSnapshot()!;
    return { taken: !covered, id: s.id, position: `${s.origin}:${s.seq}`, eventCount: s.eventCount, stateHash: s.stateHash, ms: performance.now() - started };
  } finally {
    void store.close();
    release();
  }
}

export function snapshotCommand(): Command {
  return targetOptions(new Command('snapshot').description("take a snapshot of a stopped tracker's state now"))
    .addHelpText(
      'after',
      [
        '',
        `A running tracker snapshots by itself every --snapshot-every events (default ${DEFAULT_SNAPSHOT_EVERY.toLocaleString('en-US')}),`,
        'so this refuses while one runs on the data dir: stop it first.',
      ].join('\n'),
    )
    .action((options: TargetOptions) => {
      const report = snapshotOffline(dataDirOf(options));
      if (options.json) printJson(report);
      else
        console.log(
          keyValues([
            ['snapshot', report.taken ? `#${report.id} taken in ${Math.round(report.ms)} ms` : `#${report.id} already covers every event: none taken`],
            ['position', report.position],
            ['events', report.eventCount],
            ['state hash', report.stateHash],
          ]),
        );
    });
}
