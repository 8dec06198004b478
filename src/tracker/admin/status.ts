/**
 * `tracker status tracker_info.txt N` (or `--url http://host:port`): reads GET /health of
 * a running tracker and prints its replication link, the lag in events, the per-origin
 * marks on both sides and the state hash; `--json` prints /health as it came.
 */
import { Command, InvalidArgumentError } from 'commander';
import { readTrackerInfo } from '../../wire/tracker-info.js';
import { clockSkewWarning, clocksApart } from '../twin-clock.js';

/** How long to wait for /health before calling the tracker unreachable. */
export const STATUS_TIMEOUT_MS = 3000;
/** Exit code when the tracker answers but its link to the twin has a problem, or it waits for the twin after a restore. */
export const EXIT_LINK_PROBLEM = 2;

/** What an operator can do about each reason a link fails. */
const PROBLEM_HINTS: Record<string, string> = {
  AUTH_FAILED: 'the two trackers do not share one cluster secret: give both the same --cluster-secret-file (README, "Cluster secret")',
  AUTH_TIMEOUT: 'the other side did not prove the cluster secret in time: is it a tracker of this cluster, and the same version?',
  UNEXPECTED_PEER: 'the tracker that answered is not the twin tracker_info.txt names: check both tracker_info files',
  VERSION_MISMATCH: 'the two trackers run different versions: upgrade both',
  CHAIN_BROKEN: "the twins hold different histories of one tracker's events (a log restored or replaced while its twin was away took new commands): see docs/operations.md, \"Two histories\"",
  LOCAL_ERROR: "this tracker could not store its twin's events: see its log",
  BAD_FRAME: 'the other side sent something that is not the replication protocol',
};

interface Health {
  readonly tracker?: number;
  readonly status?: string;
  readonly events?: number;
  readonly stateHash?: string;
  readonly stateHashEvents?: number;
  readonly originMarks?: Record<string, number>;
  readonly replication?: {
    readonly link?: string;
    readonly peer?: { id?: number; address?: string };
    readonly twinAck?: string;
    readonly inSync?: boolean;
    readonly lagEvents?: number | null;
    readonly localMarks?: Record<string, number>;
    readonly peerMarks?: Record<string, number>;
    readonly caughtUp?: { events: number; ms: number } | null;
    readonly lagging?: boolean;
    readonly holdingCommits?: boolean;
    readonly refolding?: boolean;
    readonly problem?: { code: string; detail: string; at: string; times: number } | null;
    readonly restoredFrom?: { file: string; at: string } | null;
    readonly twinClockAheadMs?: number | null;
  } | null;
}

export function statusCommand(): Command {
  return new Command('status')
    .description("show a running tracker's replication link, lag, per-origin marks and state hash (reads its /health)")
    .argument('[tracker_info]', 'file listing the trackers, one IP:PORT per line')
    .argument('[n]', 'which line of tracker_info.txt (1, 2, ...)')
    .option('--url <url>', 'the tracker\'s base URL instead, e.g. http://127.0.0.1:9901')
    .option('--port <port>', 'the tracker\'s port on 127.0.0.1 instead')
    .option('--json', 'print /health as JSON')
    .addHelpText('after', `\nExit code: 0 when the tracker answers, 1 when it does not, ${EXIT_LINK_PROBLEM} when it answers but its link to the twin keeps failing or it waits for the twin after a restore.`)
    .action(async (info: string | undefined, n: string | undefined, opts: { url?: string; port?: string; json?: boolean }) => {
      const base = baseUrl(info, n, opts);
      let health: Health;
      try {
        const res = await fetch(`${base}/health`, { signal: AbortSignal.timeout(STATUS_TIMEOUT_MS) });
        if (!res.ok) throw new Error(`HTTP ${res.status}`);
        health = (await res.json()) as Health;
      } catch (error) {
        console.error(`tracker status: no answer from ${base}/health (${error instanceof Error ? error.message : String(error)}); is the tracker running?`);
        process.exitCode = 1;
        return;
      }
      console.log(opts.json ? JSON.stringify(health, null, 2) : formatStatus(health, base));
      if (linkProblem(health.replication) || health.replication?.restoredFrom) process.exitCode = EXIT_LINK_PROBLEM;
    });
}

function baseUrl(info: string | undefined, n: string | undefined, opts: { url?: string; port?: string }): string {
  if (opts.url) return opts.url.replace(/\/+$/, '');
  if (opts.port) {
    const port = Number(opts.port);
    if (!Number.isSafeInteger(port) || port < 1 || port > 65535) throw new InvalidArgumentError('--port must be 1 to 65535');
    return `http://127.0.0.1:${port}`;
  }
  if (!info || !n) throw new InvalidArgumentError('give tracker_info.txt and N, or --url, or --port');
  const id = Number(n);
  const address = readTrackerInfo(info).find((t) => t.id === id);
  if (!address) throw new InvalidArgumentError(`${info} has no tracker ${n}`);
  return `http://${address.host}:${address.port}`;
}

/** The link's last failure, unless the link is up and in sync now (it healed; /health keeps it a while, see STABLE_LINK_MS). */
function linkProblem(r: Health['replication']): { code: string; detail: string; at: string; times: number } | undefined {
  if (!r?.problem || (r.link === 'up' && r.inSync)) return undefined;
  return r.problem;
}

/** The human-readable report. */
export function formatStatus(h: Health, where: string): string {
  const behind = h.stateHashEvents !== undefined && h.stateHashEvents !== h.events ? ` (of the state at ${h.stateHashEvents} events: events are arriving)` : '';
  const lines = [`tracker ${h.tracker ?? '?'} at ${where}: ${h.status ?? '?'}, ${h.events ?? '?'} events folded`, `state hash  ${h.stateHash ?? '?'}${behind}`];
  const r = h.replication;
  if (!r) {
    lines.push('replication: none (tracker_info.txt lists no twin)');
    for (const [origin, seq] of Object.entries(h.originMarks ?? {})) lines.push(`  origin ${origin}: seq ${seq}`);
    return lines.join('\n');
  }
  const peer = `tracker ${r.peer?.id ?? '?'} (${r.peer?.address ?? '?'})`;
  const neverLinked = r.link !== 'up' && (r.lagEvents === null || Object.keys(r.peerMarks ?? {}).length === 0);
  const sync = r.inSync ? 'in sync' : neverLinked ? 'lag unknown (not linked since start)' : `lag ${r.lagEvents ?? '?'} events`;
  const notes = [r.lagging && 'lagging (acks on local commit)', r.holdingCommits && 'holding commits while catching up', r.refolding && 're-folding in the background (events arrived that sort before folded ones; in sync once done)'];
  lines.push(`replication: link ${r.link ?? '?'} to ${peer}, ${[sync, ...notes.filter(Boolean)].join(', ')}`);
  const problem = linkProblem(r);
  if (problem) {
    lines.push(`  link problem: ${problem.code} (${problem.times} time(s) in a row, last at ${problem.at}): ${problem.detail}`);
    lines.push(`  ${PROBLEM_HINTS[problem.code] ?? 'see the tracker log'}`);
  }
  if (r.restoredFrom) lines.push(`  restored from ${r.restoredFrom.file} at ${r.restoredFrom.at}: accepts no command until tracker ${r.peer?.id ?? '?'} is reached (or restart with --twin-lost)`);
  if (typeof r.twinClockAheadMs === 'number' && clocksApart(r.twinClockAheadMs)) lines.push(`  warning: ${clockSkewWarning(r.peer?.id ?? 0, r.twinClockAheadMs)}`);
  if (r.twinAck) lines.push(`  commands are acknowledged once the twin has ${r.twinAck === 'write' ? 'written their events to its log (--twin-ack write)' : 'their events on its disk (--twin-ack flush)'}`);
  const local = r.localMarks ?? {};
  const remote = r.peerMarks ?? {};
  const origins = [...new Set([...Object.keys(local), ...Object.keys(remote)])].sort((a, b) => Number(a) - Number(b));
  lines.push('  origin      here      twin');
  for (const o of origins) lines.push(`  ${o.padStart(6)}  ${String(local[o] ?? 0).padStart(8)}  ${(neverLinked ? '?' : String(remote[o] ?? 0)).padStart(8)}`);
  if (r.caughtUp) lines.push(`last catch-up: ${r.caughtUp.events} events in ${r.caughtUp.ms} ms`);
  return lines.join('\n');
}
