/** The `client` command line: `client IP:PORT tracker_info.txt` (the seed's invocation). */
import { Command, InvalidArgumentError } from 'commander';
import { readTrackerInfo, parseHostPort } from '../wire/tracker-info.js';
import { ClientNode } from './client-node.js';
import { MAX_CONNECTIONS } from './peer-server.js';
import { splitCommands } from './commands.js';
import { parseRate } from './rate-limiter.js';
import { Repl } from './repl.js';

function parseAddress(value: string): { host: string; port: number } {
  const address = parseHostPort(value);
  if (!address) throw new InvalidArgumentError('expected IP:PORT, e.g. 127.0.0.1:9909');
  return address;
}

function rateOption(value: string): number {
  try {
    return parseRate(value);
  } catch (error) {
    throw new InvalidArgumentError((error as Error).message);
  }
}

function countOption(value: string): number {
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 1) throw new InvalidArgumentError('expected a positive whole number');
  return n;
}

/** The commands of --exec; a quote left open stops the client before anything runs. */
function execScript(text: string, command: Command): string[] {
  try {
    return splitCommands(text);
  } catch (error) {
    return command.error(`error: ${(error as Error).message}`);
  }
}

export function clientProgram(): Command {
  return new Command('client')
    .description('A peer of the group file-sharing system: talks to the trackers, serves and downloads file pieces.')
    .argument('<ip:port>', 'where this client serves pieces to other peers', parseAddress)
    .argument('<tracker_info>', 'file listing the trackers, one IP:PORT per line')
    .option('--exec <commands>', 'run these commands, separated by ";", then exit')
    .option('--json', 'print one JSON object per command result (for scripts)')
    .option('--state-dir <dir>', 'where this client remembers shares and downloads (default: ./data/client-IP-PORT)')
    .option('--max-upload-rate <rate>', 'cap on bytes/s served to other peers, e.g. 20M or 512k', rateOption)
    .option('--max-download-rate <rate>', 'cap on bytes/s downloaded, e.g. 50M', rateOption)
    .option('--max-upload-connections <n>', `peers served at once (concurrent uploads; default ${MAX_CONNECTIONS})`, countOption)
    .addHelpText('after', '\nWithout --exec, commands come from standard input: an interactive prompt on a terminal (type help),\nor one per line from a pipe, each waiting for its reply. The exit code is non-zero if any command failed.')
    .showHelpAfterError('(run with --help for usage)')
    .action(async (address: { host: string; port: number }, info: string, opts: { exec?: string; json?: boolean; stateDir?: string; maxUploadRate?: number; maxDownloadRate?: number; maxUploadConnections?: number }, command: Command) => {
      const script = opts.exec === undefined ? undefined : execScript(opts.exec, command);
      const node = new ClientNode({
        ...address,
        trackers: readTrackerInfo(info),
        stateDir: opts.stateDir ?? `./data/client-${address.host}-${address.port}`,
        maxUploadRate: opts.maxUploadRate,
        maxDownloadRate: opts.maxDownloadRate,
        maxUploadConnections: opts.maxUploadConnections,
      });
      const interactive = script === undefined && process.stdin.isTTY === true;
      const repl = new Repl(node, {
        json: opts.json === true,
        color: process.stdout.isTTY === true && !process.env.NO_COLOR && opts.json !== true,
        input: process.stdin,
        output: process.stdout,
        interactive,
      });
      try {
        await node.start();
      } catch (error) {
        throw new Error(`cannot serve pieces on ${address.host}:${address.port}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
      }
      const stop = async (code: number) => {
        await node.stop().catch(() => undefined);
        process.exit(code);
      };
      process.on('SIGINT', () => void stop(130));
      process.on('SIGTERM', () => void stop(143));
      const code = script !== undefined ? await repl.runScript(script) : await repl.runInput();
      await stop(code);
    });
}
