/**
 * This system, for the transfer benchmarks: real processes on 127.0.0.1. One `OurSwarm`
 * is two trackers and up to MAX_SEEDERS seeding client processes (each with the same
 * upload cap, or none) sharing one payload; `download(n)` starts a fresh downloading
 * client process, times one download from exactly n seeders, reads its peak RSS and ends it.
 *
 * n seeders without restarting anything: seeder i shares the file in groups g(i+1)..gMAX,
 * so the tracker hands the downloader of group g<n> exactly seeders 0..n-1.
 * Time is from sending `download_file` to the `download_done` event (the client sends
 * it once the whole-file SHA-1 matched and the file was renamed into place).
 */
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CLIENT_BIN, Cluster, freePort } from '../../src/demo/local-cluster.js';
import { ScriptedClient } from '../../src/demo/scripted-client.js';
import { cpuSeconds, peakRssMB, type Payload } from './files.js';

export const MAX_SEEDERS = 3;
const LEECHER = 'leech';
/** Runs the client under --cpu-prof (peak RSS is then the wrapper's, not the client's). */
const PROFILED_CLIENT_BIN = fileURLToPath(new URL('./profiled-client.js', import.meta.url));

export interface TransferResult {
  readonly seconds: number;
  readonly peakRssMB: number;
  /** aria2c only: spawn to exit, and first announce to completion. */
  readonly exitSeconds?: number;
  readonly afterStartSeconds?: number;
  /** ours only: CPU seconds used during the download by the downloading client and by the seeders. */
  readonly leecherCpuSeconds?: number;
  /** Of which in the kernel (socket reads, page cache writes and the page faults they take). */
  readonly leecherKernelSeconds?: number;
  readonly seedersCpuSeconds?: number;
}

export interface OurSwarmOptions {
  readonly payload: Payload;
  /** Upload cap of each seeder as the client takes it (`20M`), or null. */
  readonly cap: string | null;
  readonly seeders?: number;
  /** If set, the downloading client runs with --cpu-prof and writes its profile here. */
  readonly profileDir?: string;
}

export class OurSwarm {
  private readonly seeders: ScriptedClient[] = [];
  private runs = 0;

  private constructor(
    private readonly cluster: Cluster,
    private readonly options: OurSwarmOptions,
  ) {}

  static async start(options: OurSwarmOptions): Promise<OurSwarm> {
    const cluster = await Cluster.create(2);
    const swarm = new OurSwarm(cluster, options);
    try {
      await cluster.start(1);
      await cluster.start(2);
      await swarm.startSeeders(options.seeders ?? MAX_SEEDERS);
    } catch (err) {
      await swarm.close();
      throw err;
    }
    return swarm;
  }

  private async startSeeders(count: number): Promise<void> {
    const capArgs = this.options.cap ? ['--max-upload-rate', this.options.cap] : [];
    for (let i = 0; i < count; i++) this.seeders.push(await this.client(`seed${i}`, capArgs));
    const [owner] = this.seeders;
    const groups = Array.from({ length: count }, (_, n) => `g${n + 1}`);
    for (const group of groups) await owner!.must(`create_group ${group}`);
    const leecher = await this.client(LEECHER, [], true);
    try {
      for (const [i, seeder] of this.seeders.entries()) {
        for (const group of groups.slice(i)) {
          if (i > 0) await admit(owner!, seeder, `seed${i}`, group);
          await seeder.must(`upload_file ${this.options.payload.path} ${group}`);
        }
      }
      for (const group of groups) await admit(owner!, leecher, LEECHER, group);
    } finally {
      await leecher.kill('SIGTERM');
    }
  }

  /**
   * One download from the first `seeders` seeders by a new client process (`clientBin`:
   * another build of the client, to compare two builds in one run).
   */
  async download(seeders: number, timeoutMs: number, clientBin?: string): Promise<TransferResult> {
    const run = ++this.runs;
    const dest = join(this.cluster.dir, `download-${run}`);
    mkdirSync(dest, { recursive: true });
    const leecher = await this.client(LEECHER, [], false, run, this.options.profileDir, clientBin);
    try {
      const group = `g${seeders}`;
      const pids = [leecher.pid, ...this.seeders.slice(0, seeders).map((s) => s.pid)];
      const cpu0 = await Promise.all(pids.map(cpuSeconds));
      const t0 = performance.now();
      await leecher.must(`download_file ${group} ${this.options.payload.name} ${dest}`);
      await outcome(leecher, timeoutMs);
      const seconds = (performance.now() - t0) / 1000;
      const rss = await peakRssMB(leecher.pid);
      const cpu = (await Promise.all(pids.map(cpuSeconds))).map((c, i) => ({ total: c.total - cpu0[i]!.total, kernel: c.kernel - cpu0[i]!.kernel }));
      // Leave the swarm so the next run's downloader is not handed this (dead) peer.
      await leecher.send(`stop_share ${group} ${this.options.payload.name}`, 10_000);
      return {
        seconds,
        peakRssMB: rss,
        leecherCpuSeconds: cpu[0]!.total,
        leecherKernelSeconds: cpu[0]!.kernel,
        seedersCpuSeconds: cpu.slice(1).reduce((a, b) => a + b.total, 0),
      };
    } finally {
      await leecher.kill('SIGTERM');
      rmSync(dest, { recursive: true, force: true });
    }
  }

  async close(): Promise<void> {
    await Promise.all(this.seeders.map((s) => s.kill('SIGKILL')));
    await this.cluster.destroy();
  }

  private async client(user: string, args: string[], create = true, run = 0, profileDir?: string, clientBin = CLIENT_BIN): Promise<ScriptedClient> {
    const address = `127.0.0.1:${await freePort()}`;
    const stateDir = join(this.cluster.dir, `state-${user}-${run}`);
    if (profileDir) process.env.P2P_CPU_PROF_DIR = profileDir;
    if (profileDir) process.env.P2P_PROFILED_BIN = clientBin;
    const bin = profileDir ? PROFILED_CLIENT_BIN : clientBin;
    const c = new ScriptedClient(bin, address, this.cluster.infoFile, ['--state-dir', stateDir, ...args], this.cluster.dir);
    try {
      if (create) await c.must(`create_user ${user} pw-${user}`);
      await c.must(`login ${user} pw-${user}`);
    } catch (err) {
      await c.kill('SIGKILL');
      throw err;
    }
    return c;
  }
}

async function admit(owner: ScriptedClient, member: ScriptedClient, user: string, group: string): Promise<void> {
  await member.must(`join_group ${group}`);
  await owner.must(`accept_request ${group} ${user}`);
}

/** Waits for download_done (or throws on download_failed), polling the client's events. */
async function outcome(client: ScriptedClient, timeoutMs: number): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    for (const e of client.events) {
      if (e.event === 'download_done') return;
      if (e.event === 'download_failed') throw new Error(`ours: download failed: ${String(e.error)}`);
    }
    if (performance.now() > deadline) throw new Error(`ours: no download_done within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}
