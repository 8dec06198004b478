/**
 * The `tracker` command line. `tracker tracker_info.txt N` runs tracker N (the seed's
 * invocation); admin subcommands that inspect the log are added beside `start`.
 */
import { Command, InvalidArgumentError, Option } from 'commander';
import { createInterface } from 'node:readline';
import { parseHostPort, readTrackerInfo } from '../wire/tracker-info.js';
import { addAdminCommands } from './admin/commands.js';
import { statusCommand } from './admin/status.js';
import { SESSION_TTL_MS, TICKET_TTL_MS } from './client-connection.js';
import { DEFAULT_LIMITS } from './limits.js';
import { Tracker } from './tracker.js';
import { DEFAULT_TWIN_STATE_MIN } from './log-sender.js';
import { DEFAULT_SNAPSHOT_EVERY } from '../events/log/ledger.js';
import { DEFAULT_TWIN_ACK, TWIN_ACKS, type TwinAck } from '../events/replication/protocol.js';

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

/** Seconds (fractions allowed, for tests) to milliseconds. */
function parseSeconds(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError('expected a positive number of seconds');
  return Math.max(1, Math.round(n * 1000));
}

const seconds = (ms: number): string => `${ms / 1000}`;

interface StartOptions {
  dataDir?: string;
  clusterSecretFile?: string;
  snapshotEvery: number;
  peer?: { host: string; port: number };
  ticketTtl?: number;
  sessionTtl?: number;
  maxConnections?: number;
  maxConnectionsPerAddress?: number;
  handshakeTimeout?: number;
  idleTimeout?: number;
  twinAck: TwinAck;
  twinLost?: boolean;
  twinStateMin: number;
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
    .option('--snapshot-every <events>', 'snapshot the state every this many events (on a worker thread)', parsePositive, DEFAULT_SNAPSHOT_EVERY)
    .option('--peer <host:port>', "dial the twin tracker here instead of at its tracker_info.txt line (e.g. through a proxy)", parsePeer)
    .addOption(
      new Option(
        '--twin-ack <when>',
        "while the twin is linked, a command is acknowledged once its events are on the twin's disk ('flush') or written to the twin's log before its fsync ('write': faster, and safe against a crash of either tracker; see docs/operations.md)",
      )
        .choices(TWIN_ACKS)
        .default(DEFAULT_TWIN_ACK),
    )
    .option('--twin-lost', 'after `tracker restore`: the twin is lost for good, so accept commands without first reaching it to catch up (see docs/operations.md)')
    .option(
      '--twin-state-min <events>',
      "when the twin lacks at least this many events, send it this tracker's state ahead of them, so that it stores them without folding them (see docs/operations.md)",
      parsePositive,
      DEFAULT_TWIN_STATE_MIN,
    )
    .option('--ticket-ttl <seconds>', `how long a download ticket lets its holder open new peer connections (default: ${seconds(TICKET_TTL_MS)})`, parseSeconds)
    .option('--session-ttl <seconds>', `how long a session lives after login; older ones must login again (default: ${seconds(SESSION_TTL_MS)}, 7 days)`, parseSeconds)
    .option('--max-connections <n>', `open connections in total (default: ${DEFAULT_LIMITS.maxConnections})`, parsePositive)
    .option('--max-connections-per-address <n>', `open connections from one IP address (default: ${DEFAULT_LIMITS.maxConnectionsPerAddress})`, parsePositive)
    .option('--handshake-timeout <seconds>', `time from connect to a complete request or upgrade (default: ${seconds(DEFAULT_LIMITS.handshakeTimeoutMs)})`, parseSeconds)
    .option('--idle-timeout <seconds>', `a client connection that sends nothing for this long is closed (default: ${seconds(DEFAULT_LIMITS.clientIdleTimeoutMs)})`, parseSeconds)
    .addHelpText('after', '\nType "quit" (when run in a terminal) or send SIGINT/SIGTERM to stop it cleanly.')
    .action(async (info: string, id: number, opts: StartOptions) => {
      const trackers = readTrackerInfo(info);
      if (id > trackers.length) throw new Error(`tracker ${id} is not listed: ${info} has ${trackers.length} tracker${trackers.length === 1 ? '' : 's'}`);
      const tracker = await Tracker.start({
        id,
        trackers,
        dataDir: opts.dataDir ?? defaultDataDir(id),
        secretFile: opts.clusterSecretFile,
        snapshotEvery: opts.snapshotEvery,
        peer: opts.peer,
        twinAck: opts.twinAck,
        twinLost: opts.twinLost,
        twinStateMin: opts.twinStateMin,
        ticketTtlMs: opts.ticketTtl,
        sessionTtlMs: opts.sessionTtl,
        limits: {
          ...(opts.maxConnections && { maxConnections: opts.maxConnections }),
          ...(opts.maxConnectionsPerAddress && { maxConnectionsPerAddress: opts.maxConnectionsPerAddress }),
          ...(opts.handshakeTimeout && { handshakeTimeoutMs: opts.handshakeTimeout }),
          ...(opts.idleTimeout && { clientIdleTimeoutMs: opts.idleTimeout }),
        },
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
