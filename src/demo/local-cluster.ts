/**
 * Real tracker processes on loopback, for the demo, the benchmarks and the tests: free
 * ports, a temp dir with tracker_info.txt and a cluster secret, spawn/kill/restart by
 * process id, and cleanup of everything it started. Every wait is bounded.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

/** The repository root, whether this runs from src/demo or dist/src/demo. */
export const ROOT = resolve(import.meta.dirname, import.meta.dirname.includes('/dist/') ? '../../..' : '../..');
export const TRACKER_BIN = join(ROOT, 'dist/bin/tracker.js');
export const CLIENT_BIN = join(ROOT, 'dist/bin/client.js');

/**
 * Ports are picked below the kernel's ephemeral range, from which it draws the local port
 * of every outgoing connection and of every `listen(0)`: a port from that range, free
 * when checked, could be taken by a connection (of any process) before the tracker or
 * client started on it binds it, or before it binds it again after a restart
 * (EADDRINUSE, seen once in a full test run).
 */
export function listeningPortRange(): { readonly from: number; readonly to: number } {
  let ephemeralFrom = 32_768; // Linux's default
  try {
    ephemeralFrom = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]) || ephemeralFrom;
  } catch {
    // not Linux: keep the default
  }
  return { from: Math.max(1024, ephemeralFrom - 12_000), to: ephemeralFrom - 1 };
}

/** A port on 127.0.0.1 that nothing listens on now, chosen at random from listeningPortRange. */
export async function freePort(): Promise<number> {
  const { from, to } = listeningPortRange();
  for (let attempt = 0; attempt < 100; attempt++) {
    const port = from + Math.floor(Math.random() * (to - from + 1));
    if (await canListen(port)) return port;
  }
  throw new Error(`no free port found in ${from}-${to}`);
}

function canListen(port: number): Promise<boolean> {
  return new Promise((resolveFree) => {
    const server = createServer();
    server.once('error', () => resolveFree(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolveFree(true)));
  });
}

export async function waitFor<T>(what: string, probe: () => Promise<T | undefined> | T | undefined, timeoutMs = 10_000, everyMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

export interface TrackerProcess {
  readonly id: number;
  readonly port: number;
  readonly dataDir: string;
  proc: ChildProcess | undefined;
  output: string;
}

export class Cluster {
  readonly dir: string;
  readonly infoFile: string;
  readonly secretFile: string;
  readonly trackers: TrackerProcess[];
  private readonly started = new Set<ChildProcess>();

  private constructor(dir: string, ports: number[]) {
    this.dir = dir;
    this.infoFile = join(dir, 'tracker_info.txt');
    this.secretFile = join(dir, 'cluster.secret');
    writeFileSync(this.infoFile, ports.map((p) => `127.0.0.1:${p}`).join('\n') + '\n');
    writeFileSync(this.secretFile, 'test-cluster-secret-0123456789abcdef\n');
    this.trackers = ports.map((port, i) => ({ id: i + 1, port, dataDir: join(dir, `tracker-${i + 1}`), proc: undefined, output: '' }));
  }

  /** A temp dir and free ports for `count` trackers; nothing started yet. */
  static async create(count = 2): Promise<Cluster> {
    const dir = mkdtempSync(join(tmpdir(), 'p2p-cluster-'));
    const ports: number[] = [];
    for (let i = 0; i < count; i++) ports.push(await freePort());
    return new Cluster(dir, ports);
  }

  /** Starts tracker `id` and waits until /health answers. */
  async start(id: number, extraArgs: string[] = []): Promise<TrackerProcess> {
    const t = this.trackers[id - 1]!;
    const proc = spawn(process.execPath, [TRACKER_BIN, this.infoFile, String(id), '--data-dir', t.dataDir, '--cluster-secret-file', this.secretFile, ...extraArgs], {
      cwd: this.dir,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, LOG_LEVEL: process.env.LOG_LEVEL ?? 'info' },
    });
    t.proc = proc;
    t.output = '';
    this.started.add(proc);
    proc.stdout!.on('data', (d: Buffer) => (t.output += d.toString()));
    proc.stderr!.on('data', (d: Buffer) => (t.output += d.toString()));
    proc.once('exit', () => this.started.delete(proc));
    await waitFor(`tracker ${id} /health`, async () => {
      if (proc.exitCode !== null) throw new Error(`tracker ${id} exited with ${proc.exitCode}:\n${t.output}`);
      return (await this.health(id).catch(() => undefined)) ? true : undefined;
    });
    return t;
  }

  async health(id: number): Promise<Record<string, unknown> & { stateHash: string; events: number }> {
    const res = await fetch(`http://127.0.0.1:${this.trackers[id - 1]!.port}/health`, { signal: AbortSignal.timeout(2000) });
    if (!res.ok) throw new Error(`health ${res.status}`);
    return (await res.json()) as Record<string, unknown> & { stateHash: string; events: number };
  }

  /** Sends `signal` to tracker `id` (a process this cluster started) and waits for it to exit. */
  async kill(id: number, signal: NodeJS.Signals = 'SIGKILL'): Promise<number | null> {
    const proc = this.trackers[id - 1]!.proc;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return proc?.exitCode ?? null;
    const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
    proc.kill(signal);
    return Promise.race([exited, new Promise<null>((_, reject) => setTimeout(() => reject(new Error(`tracker ${id} did not exit on ${signal}`)), 10_000))]);
  }

  /** Kills every process this cluster started and removes the temp dir. */
  async destroy(): Promise<void> {
    await Promise.all([...this.started].map((proc) => new Promise<void>((r) => {
      if (proc.exitCode !== null || proc.signalCode !== null) return r();
      proc.once('exit', () => r());
      proc.kill('SIGKILL');
    })));
    rmSync(this.dir, { recursive: true, force: true });
  }
}
