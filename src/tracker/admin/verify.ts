/**
 * `tracker verify`: the full integrity check of a tracker's log (see integrity.ts):
 * every origin's hash chain, seq continuity, envelope schema, and every snapshot against
 * a replay to its position. Exits 0 when all is well, EXIT_DAMAGED (2) naming the first
 * bad event (origin:seq, local id, what is wrong) or snapshot otherwise. Read-only: safe
 * while the tracker runs.
 */
import { Command } from 'commander';
import { dataDirOf, EXIT_DAMAGED, logFileOf, openLogReadOnly, targetOptions, type TargetOptions } from './data-dir.js';
import { describeProblem, verifyLog } from './integrity.js';
import { printJson } from './output.js';

export function verifyCommand(): Command {
  return targetOptions(
    new Command('verify').description('check every hash chain, seq, envelope and snapshot of the log; exit 2 naming the first bad one'),
  )
    .addHelpText('after', '\nA tracker checks only the tail after its newest snapshot when it starts; this is the full check.')
    .action((options: TargetOptions) => {
      const dataDir = dataDirOf(options);
      const store = openLogReadOnly(dataDir);
      try {
        const verdict = verifyLog(store);
        if (options.json) {
          printJson({ file: logFileOf(dataDir), ...verdict, problem: verdict.problem ?? null, description: verdict.problem ? describeProblem(verdict.problem) : null });
        } else if (verdict.problem) {
          console.log(`DAMAGED ${logFileOf(dataDir)}: ${describeProblem(verdict.problem)}`);
        } else {
          const { eventsChecked: events, snapshotsChecked: snapshots } = verdict;
          console.log(`ok ${logFileOf(dataDir)}: ${events} event${events === 1 ? '' : 's'} and ${snapshots} snapshot${snapshots === 1 ? '' : 's'} verified in ${(verdict.ms / 1000).toFixed(2)} s`);
        }
        if (!verdict.ok) process.exitCode = EXIT_DAMAGED;
      } finally {
        void store.close();
      }
    });
}
