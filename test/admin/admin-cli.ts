/**
 * The admin tests' tools: run the real `tracker` binary's subcommands as child processes
 * (bounded in time, killed by their own process id), and drive a real tracker through
 * the real client connection.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { TrackerConnection } from '../../src/client/tracker-connection.js';
import { readTrackerInfo } from '../../src/wire/tracker-info.js';
import { TRACKER_BIN, waitFor, type Cluster } from '../helpers/cluster.js';

export interface CliRun {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

export const ADMIN_TIMEOUT_MS = 20_000;

/** `node dist/bin/tracker.js ...args`; resolves when it exits (killed after timeoutMs). */
export async function trackerCli(args: string[], options: { cwd?: string; timeoutMs?: number } = {}): Promise<CliRun> {
  const proc = spawn(process.execPath, [TRACKER_BIN, ...args], { cwd: options.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  proc.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  proc.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const timer = setTimeout(() => proc.kill('SIGKILL'), options.timeoutMs ?? ADMIN_TIMEOUT_MS);
  const code = await new Promise<number | null>((resolve) => proc.once('exit', (c) => resolve(c)));
  clearTimeout(timer);
  return { code, stdout, stderr };
}

/** Runs a subcommand with --json and parses its output; fails the test with stderr if it did not exit 0. */
export async function trackerJson<T = Record<string, unknown>>(args: string[], options: { cwd?: string } = {}): Promise<T> {
  const run = await trackerCli([...args, '--json'], options);
  if (run.code !== 0) throw new Error(`tracker ${args.join(' ')} exited ${run.code}:\n${run.stderr}${run.stdout}`);
  return JSON.parse(run.stdout) as T;
}

/** A long-running subcommand (events --follow), with its output collected as it comes. */
export class LiveCli {
  readonly proc: ChildProcess;
  stdout = '';
  stderr = '';

  constructor(args: string[]) {
    this.proc = spawn(process.execPath, [TRACKER_BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.proc.stdout!.on('data', (d: Buffer) => (this.stdout += d.toString()));
    this.proc.stderr!.on('data', (d: Buffer) => (this.stderr += d.toString()));
  }

  lines(): string[] {
    return this.stdout.split('\n').filter((l) => l.trim() !== '');
  }

  waitForLine(what: string, match: (line: string) => boolean, timeoutMs = 10_000): Promise<string> {
    return waitFor(what, () => this.lines().find(match), timeoutMs);
  }

  /** Sends `signal` and resolves with the exit code; SIGKILLs it if it does not exit in time. */
  async stop(signal: NodeJS.Signals = 'SIGINT', timeoutMs = 5000): Promise<number | null> {
    if (this.proc.exitCode !== null) return this.proc.exitCode;
    const exited = new Promise<number | null>((resolve) => this.proc.once('exit', (code) => resolve(code)));
    this.proc.kill(signal);
    const timer = setTimeout(() => this.proc.kill('SIGKILL'), timeoutMs);
    const code = await exited;
    clearTimeout(timer);
    return code;
  }
}

/** A logged-in client of the tracker(s) in `infoFile`, through the real TrackerConnection. */
export async function connectAs(infoFile: string, user: string, password: string, options: { create?: boolean; peer?: string } = {}): Promise<TrackerConnection> {
  const conn = new TrackerConnection(readTrackerInfo(infoFile));
  await conn.connect();
  if (options.create ?? true) await conn.request('create_user', { user, password });
  await conn.request('login', { user, password, peer: options.peer ?? '127.0.0.1:1' });
  return conn;
}

/** Creates a user without logging in. */
export async function createUser(infoFile: string, user: string, password: string): Promise<void> {
  const conn = new TrackerConnection(readTrackerInfo(infoFile));
  try {
    await conn.connect();
    await conn.request('create_user', { user, password });
  } finally {
    conn.close();
  }
}

/** Waits until tracker `id` has stored a snapshot covering at least `events` events (snapshots are taken in the background). */
export async function waitForSnapshot(cluster: Cluster, id: number, events = 1): Promise<void> {
  await waitFor(`a snapshot of ${events} events on tracker ${id}`, async () => {
    const res = await fetch(`http://127.0.0.1:${cluster.trackers[id - 1]!.port}/metrics`, { signal: AbortSignal.timeout(2000) });
    const text = await res.text();
    const since = Number(/^tracker_events_since_snapshot (\S+)$/m.exec(text)?.[1]);
    const age = Number(/^tracker_snapshot_age_seconds (\S+)$/m.exec(text)?.[1]);
    const health = await cluster.health(id);
    return age >= 0 && health.events - since >= events ? true : undefined;
  });
}
