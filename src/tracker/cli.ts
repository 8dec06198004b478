/**
 * The `tracker` command line. `tracker tracker_info.txt N` runs tracker N (the seed's
 * invocation); admin subcommands that inspect the log are added beside `start`.
 */
import { Command, InvalidArgumentError } from 'commander';
import { createInterface } from 'node:readline';
import { parseHostPort, readTrackerInfo } from '../wire/tracker-info.js';
import { addAdminCommands } from './admin/commands.js';
import { statusCommand } from './admin/status.js';
import { Tracker } from './tracker.js';

export function defaultDataDir(id: number): string {
  return `./data/tracker-${id}`;
}

export function parseTrackerNumber(value: string): number {
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 1) throw new InvalidArgumentError('the tracker number is a line of tracker_info.txt: 1, 2, ...');
  return n;
}

function parsePeer(value: string): { host: string; port: number } {
  const peer = parseHostPort(value);
  if (!peer) throw new InvalidArgumentError('expected host:port');
  return peer;
}

function parsePositive(value: string): number {
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 1) throw new InvalidArgumentError('expected a positive whole number');
  return n;
}

export function trackerProgram(): Command {
  const program = new Command('tracker')
    .description('Run a tracker of the group file-sharing system, or inspect its event log.')
    .showHelpAfterError('(run with --help for usage)');

  program
    .command('start', { isDefault: true })
    .description('run tracker N from tracker_info.txt (the default command: `tracker tracker_info.txt 1`)')
    .argument('<tracker_info>', 'file listing the trackers, one IP:PORT per line')
    .argument('<n>', 'which line of tracker_info.txt is this tracker (1, 2, ...)', parseTrackerNumber)
    .option('--data-dir <dir>', 'where the SQLite event log lives (default: ./data/tracker-N)')
    .option('--cluster-secret-file <file>', 'file holding the secret shared by both trackers (default: env TRACKER_CLUSTER_SECRET, else <data-dir>/../cluster.secret, created on first start)')
    .option('--snapshot-every <events>', 'take a snapshot of the state every this many events', parsePositive, 50_000)
    .option('--peer <host:port>', "dial the twin tracker here instead of at its tracker_info.txt line (e.g. through a proxy)", parsePeer)
    .addHelpText('after', '\nType "quit" (when run in a terminal) or send SIGINT/SIGTERM to stop it cleanly.')
    .action(async (info: string, id: number, opts: { dataDir?: string; clusterSecretFile?: string; snapshotEvery: number; peer?: { host: string; port: number } }) => {
      const tracker = await Tracker.start({
        id,
        trackers: readTrackerInfo(info),
        dataDir: opts.dataDir ?? defaultDataDir(id),
        secretFile: opts.clusterSecretFile,
        snapshotEvery: opts.snapshotEvery,
        peer: opts.peer,
      });
      runUntilStopped(tracker);
    });

  program.addCommand(statusCommand());
  addAdminCommands(program);

  return program;
}

/** Stops cleanly on SIGINT/SIGTERM, or on "quit" typed at a terminal. */
function runUntilStopped(tracker: Tracker): void {
  let stopping = false;
  const stop = (why: string) => {
    if (stopping) return;
    stopping = true;
    tracker.log.info(`stopping (${why})`);
    tracker.stop().then(
      () => process.exit(0),
      (error: unknown) => {
        tracker.log.error({ err: error }, 'unclean stop');
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
  if (process.stdin.isTTY) {
    const rl = createInterface({ input: process.stdin });
    rl.on('line', (line) => {
      const word = line.trim();
      if (word === 'quit' || word === 'exit') stop(word);
      else if (word === 'status') console.log(JSON.stringify(tracker.health(), null, 2));
      else if (word !== '') console.log('commands here: status, quit');
    });
  }
}
