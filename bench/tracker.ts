/**
 * Tracker benchmark (issue: event-sourced tracker). Against a real tracker process:
 * - acknowledged durable commands per second, and p50/p99 latency, with 1 and with 50
 *   concurrent clients, after WARMUP_MS of the same load. Each command is create_group
 *   with an idempotency key, as the client sends it: one event, fsynced before the
 *   acknowledgement. The load comes from lean WebSocket clients in this process, so the
 *   tracker, not the generator, is measured.
 * - restart-to-ready with 1,000,000 events in the log (bench/synthetic-log.ts), with the
 *   newest snapshot placed where the default policy (every DEFAULT_SNAPSHOT_EVERY events)
 *   leaves the most to replay. Timed from spawn until /health answers.
 * - commands on a big state: one client's sequential create_group on a tracker whose log
 *   holds those 1,000,000 events, for --seconds N x 4 per run, while background snapshots
 *   of that state (12.8 MB of text each, one every DEFAULT_SNAPSHOT_EVERY events) are
 *   taken and a monitor reads /health (with the state hash) once a second. The longest
 *   waits are what those cost the commands.
 * Options: --seconds N (per throughput run, default 5), --events N (default 1000000),
 * --runs N (default 3; medians are reported), --only throughput|restart|big-state.
 */
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import WebSocket from 'ws';
import { EventStore } from '../src/events/log/event-store.js';
import { DEFAULT_SNAPSHOT_EVERY } from '../src/events/log/ledger.js';
import { foldEvents } from '../src/events/log/fold.js';
import { encodeState, initialState, stateHash } from '../src/events/index.js';
import { Cluster } from '../src/demo/local-cluster.js';
import { measureDurableCommit, type Floor } from './lib/floors.js';
import { median, numberOption, percentile, printTable, stringOption, writeResults } from './lib/stats.js';
import { idempotencyKey } from '../src/wire/idempotency-key.js';
import { writeSyntheticLog } from './lib/synthetic-log.js';


export default async function run(args: string[]): Promise<void> {
  const seconds = numberOption(args, 'seconds', 5);
  const events = numberOption(args, 'events', 1_000_000);
  const runs = numberOption(args, 'runs', 3);
  const only = stringOption(args, 'only');
  if (only !== undefined && !PARTS.includes(only)) throw new Error(`--only takes one of ${PARTS.join(', ')}, not ${only}`);
  let disk: Medians<Floor> | undefined;
  let throughput: (Medians<Throughput> & { clients: number })[] | undefined;
  if (only === undefined || only === 'throughput') {
    // Alternating within each run (floor, 1 client, 50 clients), so that all three see
    // the same moments of a shared, noisy machine.
    const floors = [];
    const byClients = new Map<number, Throughput[]>(CLIENT_COUNTS.map((c) => [c, []]));
    for (let r = 0; r < runs; r++) {
      floors.push(await measureDurableCommit());
      for (const clients of CLIENT_COUNTS) byClients.get(clients)!.push(await measureThroughput(clients, seconds));
    }
    disk = medians(floors);
    throughput = CLIENT_COUNTS.map((clients) => ({ clients, ...medians(byClients.get(clients)!) }));
    console.log(`\nacknowledged durable commands (create_group + idempotency key), real tracker process, WAL + synchronous=FULL; medians of ${runs} runs`);
    printTable(
      ['clients', 'commands/s', 'p50 ms', 'p99 ms', 'commands/s of each run'],
      [
        ['disk floor: one-row durable SQLite transactions, no tracker', Math.round(disk.perSecond), disk.p50.toFixed(3), disk.p99.toFixed(3), disk.runs.map((d) => Math.round(d.perSecond)).join(', ')],
        ...throughput.map((t) => [t.clients, Math.round(t.perSecond), t.p50.toFixed(3), t.p99.toFixed(3), t.runs.map((x) => Math.round(x.perSecond)).join(', ')]),
      ],
    );
  }
  let restart: Awaited<ReturnType<typeof measureRestart>> | undefined;
  if (only === undefined || only === 'restart') {
    restart = await measureRestart(events, runs);
    console.log(`\nrestart-to-ready with ${restart.events.toLocaleString()} events in the log; medians of ${runs} restarts`);
    printTable(
      ['events', 'snapshot at', 'tail replayed', 'log loaded ms', 'spawn to /health ms', 'spawn to /health of each run'],
      [[restart.events, restart.snapshotAt, restart.tail, restart.loadMs, restart.readyMs, restart.runs.map((x) => x.readyMs).join(', ')]],
    );
  }
  const bigState = only === undefined || only === 'big-state' ? await measureBigState(events, seconds * 4, runs) : undefined;
  console.log(`\nresults: ${writeResults('tracker', { disk, throughput, restart, bigState })}`);
}

/** What --only may pick. */
const PARTS = ['throughput', 'restart', 'big-state'];
const CLIENT_COUNTS = [1, 50];
/**
 * Commands of each run not counted: a freshly spawned tracker's first seconds are its
 * JIT warm-up (at one client, most commands over 1.5 ms fell in the first 2 s), which a
 * long-running server is past. The steady state is what the figures describe.
 */
const WARMUP_MS = 2000;

interface Throughput {
  readonly clients: number;
  readonly commands: number;
  readonly perSecond: number;
  readonly p50: number;
  readonly p99: number;
}

/** Each figure's median over the runs (each figure on its own), and the runs themselves. */
type Medians<T> = { readonly perSecond: number; readonly p50: number; readonly p99: number; readonly runs: T[] };

function medians<T extends { perSecond: number; p50: number; p99: number }>(runs: T[]): Medians<T> {
  return { perSecond: median(runs.map((r) => r.perSecond)), p50: median(runs.map((r) => r.p50)), p99: median(runs.map((r) => r.p99)), runs };
}

/** One WebSocket client that sends a request and waits for its reply, and nothing else. */
class LeanClient {
  private waiting: ((reply: { ok: boolean; error?: unknown }) => void) | undefined;
  private constructor(private readonly ws: WebSocket) {
    ws.on('message', (data) => this.waiting?.(JSON.parse(data.toString()) as { ok: boolean }));
  }

  static async open(port: number): Promise<LeanClient> {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/client`);
    await new Promise((resolve, reject) => (ws.once('open', resolve), ws.once('error', reject)));
    return new LeanClient(ws);
  }

  request(id: number, op: string, args: object, idem?: string): Promise<void> {
    return new Promise((resolve, reject) => {
      this.waiting = (reply) => (reply.ok ? resolve() : reject(new Error(JSON.stringify(reply.error))));
      this.ws.send(JSON.stringify({ id, op, args, idem }));
    });
  }

  close(): void {
    this.ws.close();
  }
}

async function measureThroughput(clients: number, seconds: number): Promise<Throughput> {
  const cluster = await Cluster.create(1);
  try {
    await cluster.start(1);
    const port = cluster.trackers[0]!.port;
    const conns = await Promise.all(
      Array.from({ length: clients }, async (_, i) => {
        const c = await LeanClient.open(port);
        await c.request(1, 'create_user', { user: `b${i}`, password: 'pw' }, `u${i}`);
        await c.request(2, 'login', { user: `b${i}`, password: 'pw', peer: `127.0.0.1:${10000 + i}` }, `l${i}`);
        return c;
      }),
    );
    const latencies: number[] = [];
    const warmupEnd = performance.now() + WARMUP_MS;
    const end = warmupEnd + seconds * 1000;
    await Promise.all(
      conns.map(async (c, i) => {
        for (let n = 3; performance.now() < end; n++) {
          const t0 = performance.now();
          await c.request(n, 'create_group', { group: `c${i}-${n}` }, idempotencyKey());
          if (t0 >= warmupEnd) latencies.push(performance.now() - t0);
        }
      }),
    );
    for (const c of conns) c.close();
    latencies.sort((a, b) => a - b);
    return { clients, commands: latencies.length, perSecond: latencies.length / seconds, p50: percentile(latencies, 50), p99: percentile(latencies, 99) };
  } finally {
    await cluster.destroy();
  }
}

async function measureRestart(events: number, runs: number) {
  const cluster = await Cluster.create(1);
  try {
    const { snapshotAt, tail } = await seedLog(cluster, events, DEFAULT_SNAPSHOT_EVERY - 1);
    const measured = [];
    for (let r = 0; r < runs; r++) {
      const t0 = performance.now();
      const t = await cluster.start(1);
      const readyMs = Math.round(performance.now() - t0);
      const loaded = /"ms":(\d+)/.exec(t.output)?.[1];
      const health = await cluster.health(1);
      if (health.events !== events) throw new Error(`tracker loaded ${health.events} events, expected ${events}`);
      measured.push({ loadMs: Number(loaded), readyMs });
      await cluster.kill(1, 'SIGTERM');
    }
    return { events, snapshotAt, tail, loadMs: median(measured.map((m) => m.loadMs)), readyMs: median(measured.map((m) => m.readyMs)), runs: measured };
  } finally {
    await cluster.destroy();
  }
}

/**
 * Writes `events` synthetic events into tracker 1's log, and a snapshot `tail` events
 * before their end (so that many are replayed at the next start).
 */
async function seedLog(cluster: Cluster, events: number, tail: number): Promise<{ snapshotAt: number; tail: number }> {
  const dataDir = cluster.trackers[0]!.dataDir;
  mkdirSync(dataDir, { recursive: true });
  const store = EventStore.open(join(dataDir, 'events.db'));
  writeSyntheticLog(store, events);
  tail = Math.min(events, tail);
  const snapshotAt = events - tail;
  if (snapshotAt > 0) {
    const at = store.db.prepare('SELECT hlc, origin, seq FROM events ORDER BY hlc, origin, seq LIMIT 1 OFFSET ?').get(snapshotAt - 1) as { hlc: number; origin: number; seq: number };
    const state = initialState();
    foldEvents(store, state, { upTo: at });
    store.saveSnapshot(at, state.eventCount, stateHash(state), encodeState(state), Date.now());
  }
  await store.close();
  return { snapshotAt, tail };
}

/** The big-state run's monitor asks for /health this often. */
const MONITOR_POLL_MS = 1000;
/** Waits of this many ms or more are counted: a command normally takes well under 2 ms. */
const LONG_WAIT_MS = 20;

/**
 * One client's sequential commands on a state of `events` events, for `seconds` after
 * WARMUP_MS, while the tracker takes its background snapshots (the log's own snapshot
 * is the last one, so the first comes DEFAULT_SNAPSHOT_EVERY commands in); `runs`
 * trackers one after another on the same log. Each figure is the median over the runs.
 */
async function measureBigState(events: number, seconds: number, runs: number) {
  const cluster = await Cluster.create(1);
  try {
    await seedLog(cluster, events, 0);
    const measured: BigStateRun[] = [];
    for (let r = 0; r < runs; r++) {
      measured.push(await commandsOnBigState(cluster, seconds, r));
      await cluster.kill(1, 'SIGTERM');
    }
    const mid = (f: (run: BigStateRun) => number) => median(measured.map(f));
    const result = { events, seconds, p50: mid((x) => x.p50), p99: mid((x) => x.p99), p999: mid((x) => x.p999), max: mid((x) => x.max), longWaits: mid((x) => x.longWaits), runs: measured };
    console.log(`\none client's sequential create_group on a state of ${events.toLocaleString()} events, ${seconds} s per run, while background snapshots are taken and a monitor reads /health every ${MONITOR_POLL_MS / 1000} s; medians of ${runs} runs`);
    printTable(
      ['p50 ms', 'p99 ms', 'p99.9 ms', 'max ms', `waits >= ${LONG_WAIT_MS} ms`, 'each run: commands, snapshots stored, /health answers, five longest ms'],
      [[result.p50.toFixed(3), result.p99.toFixed(3), result.p999.toFixed(1), result.max.toFixed(1), result.longWaits, measured.map((x) => `${x.commands}, ${x.snapshots}, ${x.healthPolls}, ${x.longest.map((ms) => ms.toFixed(0)).join(' / ')}`).join('; ')]],
    );
    return result;
  } finally {
    await cluster.destroy();
  }
}

interface BigStateRun {
  readonly commands: number;
  readonly snapshots: number;
  readonly healthPolls: number;
  readonly p50: number;
  readonly p99: number;
  readonly p999: number;
  readonly max: number;
  readonly longWaits: number;
  readonly longest: readonly number[];
}

async function commandsOnBigState(cluster: Cluster, seconds: number, run: number): Promise<BigStateRun> {
  const tracker = await cluster.start(1);
  const c = await LeanClient.open(tracker.port);
  const user = `big-state-${run}`;
  await c.request(1, 'create_user', { user, password: 'pw' }, `u${run}`);
  await c.request(2, 'login', { user, password: 'pw', peer: '127.0.0.1:10000' }, `l${run}`);
  const latencies: number[] = [];
  const warmupEnd = performance.now() + WARMUP_MS;
  const end = warmupEnd + seconds * 1000;
  const snapshotsBefore = countSnapshots(tracker.output);
  // A monitor asks for /health (the state hash among it) once a second, as an operator's would.
  let polls = 0;
  const monitor = setInterval(() => void cluster.health(1).then(() => (polls += 1), () => undefined), MONITOR_POLL_MS);
  try {
    for (let n = 3; performance.now() < end; n++) {
      const t0 = performance.now();
      await c.request(n, 'create_group', { group: `g${run}-${n}` }, idempotencyKey());
      if (t0 >= warmupEnd) latencies.push(performance.now() - t0);
    }
  } finally {
    clearInterval(monitor);
  }
  c.close();
  latencies.sort((a, b) => a - b);
  return {
    commands: latencies.length,
    snapshots: countSnapshots(tracker.output) - snapshotsBefore,
    healthPolls: polls,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    p999: percentile(latencies, 99.9),
    max: latencies[latencies.length - 1] ?? 0,
    longWaits: latencies.filter((ms) => ms >= LONG_WAIT_MS).length,
    longest: latencies.slice(-5).reverse(),
  };
}

function countSnapshots(output: string): number {
  return output.split('snapshot taken').length - 1;
}
