/**
 * The admin subcommands of `tracker`, registered beside `start` (and `status`). Each
 * lives in its own module; all take --data-dir / -n and --json (see data-dir.ts).
 *
 *   inspect   the current state as tables         events    the log, one event per line
 *   replay    rebuild from the first event         verify    check every chain and snapshot
 *   snapshot  take one now (tracker stopped)       backup    copy the log, safely while serving
 *   restore   put a backup in place (tracker stopped)
 */
import type { Command } from 'commander';
import { backupCommand, restoreCommand } from './backup.js';
import { eventsCommand } from './events.js';
import { inspectCommand } from './inspect.js';
import { replayCommand } from './replay.js';
import { snapshotCommand } from './snapshot.js';
import { verifyCommand } from './verify.js';

export function addAdminCommands(program: Command): Command {
  for (const command of [inspectCommand(), eventsCommand(), replayCommand(), verifyCommand(), snapshotCommand(), backupCommand(), restoreCommand()]) {
    program.addCommand(command);
  }
  return program;
}
