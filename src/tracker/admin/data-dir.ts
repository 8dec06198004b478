/**
 * Which tracker an admin command works on, the same way for every subcommand:
 *
 *   --data-dir <dir>   that data directory
 *   -n, --tracker <N>  shorthand for --data-dir ./data/tracker-N (the start command's default)
 *   neither            ./data/tracker-1
 *
 * Paths are relative to the current directory, like the start command's. Plus `--json`
 * for machine-readable output.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import { EventStore } from '../../events/log/event-store.js';
import { DB_FILE } from '../tracker.js';

export const DEFAULT_TRACKER = 1;

/** Exit status of a check that found damage (usage errors and failures exit 1). */
export const EXIT_DAMAGED = 2;

export interface TargetOptions {
  readonly dataDir?: string;
  readonly tracker?: number;
  readonly json?: boolean;
}

export const dataDirOfTracker = (n: number): string => `./data/tracker-${n}`;

/** Adds --data-dir, -n/--tracker and --json to an admin subcommand. */
export function targetOptions(command: Command): Command {
  return command
    .addOption(new Option('-d, --data-dir <dir>', 'the tracker\'s data directory').conflicts('tracker'))
    .addOption(new Option('-n, --tracker <N>', 'shorthand for --data-dir ./data/tracker-N').argParser(parseTracker))
    .option('--json', 'machine-readable output (JSON)')
    .addHelpText('after', `\nWhich tracker: --data-dir <dir>, or -n N for ./data/tracker-N; with neither, ${dataDirOfTracker(DEFAULT_TRACKER)}.`);
}

export function dataDirOf(options: TargetOptions): string {
  return options.dataDir ?? dataDirOfTracker(options.tracker ?? DEFAULT_TRACKER);
}

export function logFileOf(dataDir: string): string {
  return join(dataDir, DB_FILE);
}

/** Opens a tracker's log for reading (safe while it runs), or explains why not. */
export function openLogReadOnly(dataDir: string): EventStore {
  const file = logFileOf(dataDir);
  if (!existsSync(file)) throw new Error(`no event log at ${file}: has a tracker run with --data-dir ${dataDir}? (see --data-dir / -n)`);
  return EventStore.openReadOnly(file);
}

function parseTracker(value: string): number {
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 1) throw new InvalidArgumentError('the tracker number is a line of tracker_info.txt: 1, 2, ...');
  return n;
}
