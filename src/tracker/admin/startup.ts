/**
 * What a tracker does with its log before it serves: take the data dir's run lock (one
 * tracker per log), open the log, and run the start-up integrity check. A log that fails
 * the check is not served: the tracker refuses to start, says what is wrong, and names
 * the two ways out.
 */
import { EventStore } from '../../events/log/event-store.js';
import type { Logger } from '../logger.js';
import { checkAtStart, describeProblem } from './integrity.js';
import { holdRunLock } from './run-lock.js';

export class StartRefused extends Error {
  readonly code = 'LOG_DAMAGED';
}

/** The log at `file` in `dataDir`, locked and checked; throws (having closed it) if it must not be served. */
export function openTrackerLog(dataDir: string, file: string, log: Logger): EventStore {
  const store = EventStore.open(file);
  try {
    holdRunLock(store.db, dataDir);
    const verdict = checkAtStart(store);
    if (verdict.problem) {
      log.error({ problem: verdict.problem }, 'the event log failed its start-up check');
      throw new StartRefused(refusal(dataDir, describeProblem(verdict.problem)));
    }
    log.info({ checked: verdict.eventsChecked, checkMs: Math.round(verdict.ms) }, 'log checked');
    return store;
  } catch (error) {
    void store.close();
    throw error;
  }
}

export function refusal(dataDir: string, what: string): string {
  return [
    `the event log in ${dataDir} failed its start-up check, so this tracker will not serve it:`,
    `  ${what}`,
    'Two ways out:',
    `  1. restore a good backup:  tracker restore <backup-file> --data-dir ${dataDir} --force`,
    `  2. move the data dir aside (mv ${dataDir} ${dataDir}.damaged) and start the tracker again:`,
    '     it starts empty and catches up every event from its twin tracker.',
    `For a full report first: tracker verify --data-dir ${dataDir}`,
  ].join('\n');
}
