/**
 * BitTorrent (aria2c) for the transfer benchmarks, under the same conditions as
 * `OurSwarm`: on 127.0.0.1, up to MAX_SEEDERS seeding aria2c processes (same upload
 * cap, or none) and, per run, one aria2c downloader into an empty directory.
 *
 * - The torrent is made by mktorrent with 512 KiB pieces (`-l 19`), like our pieces.
 * - The tracker is `BtTracker`, a tiny HTTP tracker in this process: announce -> a
 *   bencoded compact peer list. It hands the downloader exactly the seeders of the
 *   current run, so n seeders need no restart. DHT, LPD and PEX are off: peers come
 *   only from it.
 * - Seeders start with --check-integrity (every piece hash-checked against the torrent)
 *   and --seed-ratio=0.0 (seed forever); each has its own directory holding a hard link
 *   to the payload. The downloader runs with --seed-time=0, so it exits as soon as every
 *   piece arrived and passed its SHA-1 (aria2 checks each piece on arrival).
 * - Time is from spawning the downloader to the moment it calls its
 *   --on-bt-download-complete hook (a one-line shell script that writes the time), i.e.
 *   once the last piece passed its SHA-1; its exit comes ~1-2 s later, after announcing
 *   and stopping (recorded as exitSeconds). It includes aria2c's start-up: aria2 works
 *   in 1 s ticks, so its first announce and first connection take ~2 s;
 *   `afterStartSeconds` (from its first announce) shows the rate without that. The file
 *   is then checked against the payload's SHA-1, outside the time.
 * - Every aria2c gets --stop-with-process=<this pid>, so none outlives the benchmark.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { linkSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, waitFor } from '../../src/demo/local-cluster.js';
import { PeakRssPoller, sha1OfFile, type Payload } from './files.js';
import type { TransferResult } from './ours.js';

export const MAX_SEEDERS = 3;

/** Options every aria2c gets: peers only from our tracker, quiet output. */
const COMMON_ARGS = [
  '--enable-dht=false',
  '--enable-dht6=false',
  '--bt-enable-lpd=false',
  '--enable-peer-exchange=false',
  '--realtime-chunk-checksum=true',
  '--console-log-level=warn',
  '--summary-interval=0',
  '--download-result=hide',
  '--bt-save-metadata=false',
  '--auto-file-renaming=false',
  '--allow-overwrite=true',
  `--stop-with-process=${process.pid}`,
];

// ------------------------------------------------------------------ tracker

interface Announce {
  readonly infoHash: string;
  readonly port: number;
  readonly left: number;
  readonly event: string;
}

/** A minimal BitTorrent HTTP tracker: seeders are remembered, the downloader gets `offer`. */
export class BtTracker {
  /** Ports of the seeders handed to anyone who is not a seeder. */
  offer: number[] = [];
  readonly seeds = new Set<number>();
  /** performance.now() of each peer's (by port) first `started` announce. */
  readonly startedAt = new Map<number, number>();
  private readonly server: Server;
  port = 0;

  constructor() {
    this.server = createServer((req, res) => this.handle(req, res));
  }

  async listen(): Promise<string> {
    this.port = await freePort();
    await new Promise<void>((resolve) => this.server.listen(this.port, '127.0.0.1', resolve));
    return `http://127.0.0.1:${this.port}/announce`;
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const announce = parseAnnounce(req.url ?? '');
    if (!announce) {
      res.writeHead(400).end(bencode({ 'failure reason': 'bad announce' }));
      return;
    }
    const now = performance.now();
    if (announce.event === 'started' && !this.startedAt.has(announce.port)) this.startedAt.set(announce.port, now);
    if (announce.left === 0) this.seeds.add(announce.port);
    const peers = this.seeds.has(announce.port) ? [] : this.offer;
    const compact = Buffer.alloc(6 * peers.length);
    peers.forEach((port, i) => {
      compact.set([127, 0, 0, 1], 6 * i);
      compact.writeUInt16BE(port, 6 * i + 4);
    });
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end(bencode({ complete: this.seeds.size, incomplete: 0, interval: 1800, 'min interval': 1800, peers: compact }));
  }
}

function parseAnnounce(url: string): Announce | null {
  const [path, query = ''] = url.split('?', 2);
  if (path !== '/announce') return null;
  const fields = new Map<string, Buffer>();
  for (const pair of query.split('&')) {
    const [key, value = ''] = pair.split('=', 2);
    fields.set(key!, percentDecode(value));
  }
  const infoHash = fields.get('info_hash');
  const port = Number(fields.get('port')?.toString());
  const left = Number(fields.get('left')?.toString());
  if (!infoHash || infoHash.length !== 20 || !Number.isInteger(port) || !Number.isFinite(left)) return null;
  return { infoHash: infoHash.toString('hex'), port, left, event: fields.get('event')?.toString() ?? '' };
}

/** Percent-decoding to bytes (info_hash is binary, not UTF-8). */
function percentDecode(text: string): Buffer {
  const out: number[] = [];
  for (let i = 0; i < text.length; i++) {
    if (text[i] === '%' && /^[0-9a-fA-F]{2}$/.test(text.slice(i + 1, i + 3))) {
      out.push(parseInt(text.slice(i + 1, i + 3), 16));
      i += 2;
    } else out.push(text[i] === '+' ? 0x20 : text.charCodeAt(i));
  }
  return Buffer.from(out);
}

type BValue = number | string | Buffer | BValue[] | { [key: string]: BValue };

export function bencode(value: BValue): Buffer {
  if (typeof value === 'number') return Buffer.from(`i${Math.trunc(value)}e`);
  if (typeof value === 'string') value = Buffer.from(value);
  if (Buffer.isBuffer(value)) return Buffer.concat([Buffer.from(`${value.length}:`), value]);
  if (Array.isArray(value)) return Buffer.concat([Buffer.from('l'), ...value.map(bencode), Buffer.from('e')]);
  const keys = Object.keys(value).sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
  return Buffer.concat([Buffer.from('d'), ...keys.flatMap((k) => [bencode(k), bencode(value[k]!)]), Buffer.from('e')]);
}

// ------------------------------------------------------------------ swarm

export interface Aria2SwarmOptions {
  readonly payload: Payload;
  /** Upload cap of each seeder as aria2c takes it (`20M`: K and M are powers of 1024), or null. */
  readonly cap: string | null;
  readonly seeders?: number;
}

export class Aria2Swarm {
  private readonly seeders: { proc: ChildProcess; port: number }[] = [];
  private readonly tracker = new BtTracker();
  private torrent = '';
  private readonly hook: string;
  private runs = 0;
  private output = '';

  private constructor(
    private readonly dir: string,
    private readonly options: Aria2SwarmOptions,
  ) {
    this.hook = join(dir, 'on-complete.sh');
  }

  static async start(options: Aria2SwarmOptions): Promise<Aria2Swarm> {
    const swarm = new Aria2Swarm(mkdtempSync(join(tmpdir(), 'p2p-aria2-')), options);
    try {
      await swarm.setUp(options.seeders ?? MAX_SEEDERS);
    } catch (err) {
      await swarm.close();
      throw err;
    }
    return swarm;
  }

  private async setUp(count: number): Promise<void> {
    const announceUrl = await this.tracker.listen();
    writeFileSync(this.hook, '#!/bin/sh\ndate +%s%N > "$P2P_BENCH_DONE_FILE"\n', { mode: 0o755 });
    this.torrent = join(this.dir, `${this.options.payload.name}.torrent`);
    await runToEnd('mktorrent', ['-l', '19', '-a', announceUrl, '-o', this.torrent, this.options.payload.path], 120_000);
    const capArgs = this.options.cap ? [`--max-overall-upload-limit=${this.options.cap}`] : [];
    for (let i = 0; i < count; i++) {
      const dir = join(this.dir, `seed${i}`);
      mkdirSync(dir);
      linkSync(this.options.payload.path, join(dir, this.options.payload.name));
      const port = await freePort();
      const args = [...COMMON_ARGS, `--dir=${dir}`, `--listen-port=${port}`, '--check-integrity=true', '--seed-ratio=0.0', ...capArgs, this.torrent];
      const proc = spawn('aria2c', args, { stdio: ['ignore', 'pipe', 'pipe'] });
      proc.stdout!.on('data', (d: Buffer) => (this.output += d.toString()));
      proc.stderr!.on('data', (d: Buffer) => (this.output += d.toString()));
      this.seeders.push({ proc, port });
    }
    // Ready once each has checked every piece and announced itself complete.
    await waitFor(
      'aria2c seeders to verify the file and announce',
      () => {
        const dead = this.seeders.find((s) => s.proc.exitCode !== null);
        if (dead) throw new Error(`aria2c seeder exited with ${dead.proc.exitCode}: ${this.output}`);
        return this.seeders.every((s) => this.tracker.seeds.has(s.port)) ? true : undefined;
      },
      300_000,
      50,
    );
  }

  async download(seeders: number, timeoutMs: number): Promise<TransferResult> {
    const run = ++this.runs;
    const dest = join(this.dir, `download-${run}`);
    mkdirSync(dest);
    this.tracker.offer = this.seeders.slice(0, seeders).map((s) => s.port);
    const port = await freePort();
    const doneFile = `${dest}.done`;
    const args = [...COMMON_ARGS, `--dir=${dest}`, `--listen-port=${port}`, '--seed-time=0', '--file-allocation=falloc', `--on-bt-download-complete=${this.hook}`, this.torrent];
    try {
      const t0 = performance.now();
      const proc = spawn('aria2c', args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, P2P_BENCH_DONE_FILE: doneFile } });
      const rss = new PeakRssPoller(proc.pid);
      let output = '';
      proc.stdout!.on('data', (d: Buffer) => (output += d.toString()));
      proc.stderr!.on('data', (d: Buffer) => (output += d.toString()));
      const code = await exited(proc, timeoutMs);
      const exitSeconds = (performance.now() - t0) / 1000;
      const peak = rss.stop();
      if (code !== 0) throw new Error(`aria2c download exited with ${code}: ${output.trim()}`);
      const got = await sha1OfFile(join(dest, this.options.payload.name));
      if (got !== this.options.payload.sha1) throw new Error(`aria2c downloaded a file with SHA-1 ${got}, expected ${this.options.payload.sha1}`);
      // The hook wrote the wall-clock time (ns) at which the download was complete.
      const doneNs = readFileSync(doneFile, 'utf8').trim();
      const completed = /^\d+$/.test(doneNs) ? Number(BigInt(doneNs) / 1000n) / 1000 - performance.timeOrigin : undefined;
      const started = this.tracker.startedAt.get(port);
      const seconds = completed !== undefined ? (completed - t0) / 1000 : exitSeconds;
      return {
        seconds,
        peakRssMB: peak,
        exitSeconds,
        afterStartSeconds: completed !== undefined && started !== undefined ? (completed - started) / 1000 : undefined,
      };
    } finally {
      rmSync(dest, { recursive: true, force: true });
      rmSync(doneFile, { force: true });
    }
  }

  async close(): Promise<void> {
    await Promise.all(this.seeders.map((s) => stop(s.proc)));
    await this.tracker.close();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Resolves with the exit code; kills the process (by its pid) if it overstays. */
function exited(proc: ChildProcess, timeoutMs: number): Promise<number | null> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`${String(proc.spawnargs[0])} did not finish within ${timeoutMs} ms`));
    }, timeoutMs);
    proc.once('error', (err) => (clearTimeout(timer), reject(err)));
    proc.once('exit', (code) => (clearTimeout(timer), resolve(code)));
  });
}

async function runToEnd(command: string, args: string[], timeoutMs: number): Promise<void> {
  const proc = spawn(command, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  proc.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const code = await exited(proc, timeoutMs);
  if (code !== 0) throw new Error(`${command} exited with ${code}: ${err.trim()}`);
}

function stop(proc: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (proc.exitCode !== null || proc.signalCode !== null) return resolve();
    proc.once('exit', () => resolve());
    proc.kill('SIGKILL');
  });
}
