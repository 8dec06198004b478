/**
 * `tracker status tracker_info.txt N` (or `--url http://host:port`): reads GET /health of
 * a running tracker and prints its replication link, the lag in events, the per-origin
 * marks on both sides and the state hash; `--json` prints /health as it came.
 */
import { Command, InvalidArgumentError } from 'commander';
import { readTrackerInfo } from '../../wire/tracker-info.js';

/** How long to wait for /health before calling the tracker unreachable. */
export const STATUS_TIMEOUT_MS = 3000;

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
    readonly lagEvents?: number;
    readonly localMarks?: Record<string, number>;
    readonly peerMarks?: Record<string, number>;
    readonly caughtUp?: { events: number; ms: number } | null;
    readonly lagging?: boolean;
    readonly holdingCommits?: boolean;
    readonly refolding?: boolean;
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
  const sync = r.inSync ? 'in sync' : `lag ${r.lagEvents ?? '?'} events`;
  const notes = [r.lagging && 'lagging (acks on local commit)', r.holdingCommits && 'holding commits while catching up', r.refolding && 're-folding in the background (events arrived that sort before folded ones; in sync once done)'];
  lines.push(`replication: link ${r.link ?? '?'} to ${peer}, ${[sync, ...notes.filter(Boolean)].join(', ')}`);
  if (r.twinAck) lines.push(`  commands are acknowledged once the twin has ${r.twinAck === 'write' ? 'written their events to its log (--twin-ack write)' : 'their events on its disk (--twin-ack flush)'}`);
  const local = r.localMarks ?? {};
  const remote = r.peerMarks ?? {};
  const origins = [...new Set([...Object.keys(local), ...Object.keys(remote)])].sort((a, b) => Number(a) - Number(b));
  lines.push('  origin      here      twin');
  for (const o of origins) lines.push(`  ${o.padStart(6)}  ${String(local[o] ?? 0).padStart(8)}  ${String(remote[o] ?? 0).padStart(8)}`);
  if (r.caughtUp) lines.push(`last catch-up: ${r.caughtUp.events} events in ${r.caughtUp.ms} ms`);
  return lines.join('\n');
}
