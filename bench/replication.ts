/**
 * Replication benchmark (issue 3), against two real tracker processes on loopback:
 * - lag: ms from an event being durable on tracker 1 to it being durable and folded on
 *   tracker 2, p50/p99, at about 1,000 and 10,000 create_group commands/s offered to
 *   tracker 1 (open loop, several clients). Tracker 2 measures it (the `at` stamp on each
 *   live `events` frame; both processes read the same wall clock) and /health reports it.
 * - catch-up: tracker 1's log holds 1,000,000 events (bench/synthetic-log.ts: the
 *   realistic two-origin mix, written offline); tracker 2 starts empty. Timed from its
 *   spawn to both in sync, and as tracker 2 reports it (link up to caught up); and the
 *   CPU-seconds each tracker spent on it, beside the cores there are. Then a partition
 *   healing: tracker 2 starts with its own origin's events of that log only, so the
 *   events it catches up on interleave with (sort before) events it has folded; meanwhile
 *   /health is asked one request after another, and the longest wait for an answer is
 *   reported (how long tracker 2's event loop was held at most).
 * - per-command latency, one client of tracker 1, one command at a time, three ways: twin
 *   connected (the command waits for its ack) with the default --twin-ack flush (the twin
 *   acks once the event is on its disk), with tracker 1 restarted with --twin-ack write
 *   (once written to the twin's log), and twin down (local commit only). The three
 *   alternate in --runs rounds, and each cost is the median over the rounds of the
 *   difference to twin down in the same round. Beside it, the floor of the difference
 *   with flush (bench/lib/floors.ts): a durable one-row commit plus a WebSocket round trip
 *   between two processes, each paced FLOOR_PACE_MS apart like the commands the twin
 *   sees one at a time (the commit back to back too, for comparison).
 * - the same under load: LOAD_CLIENTS clients in a closed loop (each sends its next
 *   command when the last is acknowledged) for --seconds, each way in each round; the
 *   cost per command is the difference of the mean times per command (1 / commands/s).
 * Options: --seconds N per load level (default 5), --events N for catch-up (default
 * 1000000), --runs N catch-ups of the same log and latency rounds, medians reported
 * (default 3), --commands N per latency round (default 2000), --only lag|latency|catchup.
 */
import { mkdirSync, rmSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';
import { TrackerConnection } from '../src/client/tracker-connection.js';
import { Cluster, waitFor } from '../src/demo/local-cluster.js';
import { encodeState, initialState, stateHash } from '../src/events/index.js';
import { EventStore, type Position } from '../src/events/log/event-store.js';
import { foldEvents } from '../src/events/log/fold.js';
import { DB_FILE } from '../src/tracker/tracker.js';
import type { ReplicationStatus } from '../src/tracker/replication-link.js';
import { cpuSeconds, threadCpuSeconds } from './lib/files.js';
import { measureDurableCommit, measureWsRoundTrip, type Floor } from './lib/floors.js';
import { median, numberOption, percentile, printTable, writeResults } from './lib/stats.js';
import { writeSyntheticLog } from './lib/synthetic-log.js';

/** Enough connections that none nears the tracker's limit of requests in flight. */
const LOAD_CLIENTS = 32;
/**
 * The floor's commits and round trips are this far apart: about the pace of the commands
 * one client sends one at a time (a millisecond each), which is what the twin sees.
 */
const FLOOR_PACE_MS = 1;
/** Paced samples per floor measure (about 1.2 s each). */
const FLOOR_SAMPLES = 1000;
const RATES = [1000, 10_000];

type Health = Awaited<ReturnType<Cluster['health']>> & { originMarks: Record<string, number>; replication: ReplicationStatus };


export default async function run(args: string[]): Promise<void> {
  const seconds = numberOption(args, 'seconds', 5);
  const events = numberOption(args, 'events', 1_000_000);
  const commands = numberOption(args, 'commands', 2000);
  const runs = numberOption(args, 'runs', 3);
  const only = args.includes('--only') ? args[args.indexOf('--only') + 1] : undefined;
  const wanted = (part: string) => only === undefined || only === part;

  const lag = wanted('lag') ? await measureLag(seconds) : [];
  console.log('\nreplication lag (durable on tracker 1 -> durable and folded on tracker 2), create_group, open loop');
  printTable(
    ['offered/s', 'acked/s', 'cmd p50 ms', 'cmd p99 ms', 'lag p50 ms', 'lag p99 ms', 'lag max ms', 'lag samples'],
    lag.map((l) => [l.offered, Math.round(l.achieved), l.commandP50.toFixed(2), l.commandP99.toFixed(2), l.lagP50, l.lagP99, l.lagMax, l.lagSamples]),
  );

  const latency = wanted('latency') ? await measureLatency(commands, seconds, runs) : undefined;
  if (latency) printLatency(latency, seconds);

  const catchUp = wanted('catchup') ? await measureCatchUp(events, runs) : { events: 0, dataMB: 0, runs: [], caughtUpMs: NaN, spawnToSyncMs: NaN, cpuSeconds: undefined, healing: undefined };
  console.log(`\ncatch-up of ${catchUp.events.toLocaleString()} missed events (tracker 2 starts empty), median of ${catchUp.runs.length} run(s)`);
  printTable(
    ['events', 'MB of data', 'link up -> caught up ms', 'spawn -> in sync ms', 'events/s', 'each run (link up -> caught up)'],
    [[catchUp.events, catchUp.dataMB, catchUp.caughtUpMs, catchUp.spawnToSyncMs, Math.round(catchUp.events / (catchUp.caughtUpMs / 1000)), catchUp.runs.map((r) => r.caughtUpMs).join(' / ')]],
  );
  if (catchUp.healing) {
    const h = catchUp.healing;
    console.log(`after a partition (tracker 2 holds its own origin's events, which interleave with tracker 1's): ${h.events.toLocaleString()} events caught up in ${h.caughtUpMs} ms, median of ${h.runs.length} (${h.runs.map((r) => r.caughtUpMs).join(' / ')})`);
    console.log(`  tracker 2's longest /health answer during it (its event loop held): ${h.longestHealthMs} ms, median of ${h.runs.length} (${h.runs.map((r) => r.longestHealthMs).join(' / ')})`);
  }
  if (catchUp.cpuSeconds) {
    const cpu = catchUp.cpuSeconds;
    console.log(
      `CPU-seconds, medians: tracker 1 (sending) ${cpu.sender.toFixed(1)}, tracker 2 (receiving) ${cpu.receiver.toFixed(1)} of which its event loop ${cpu.receiverMain.toFixed(1)}; ` +
        `together ${(cpu.sender + cpu.receiver).toFixed(1)} on ${availableParallelism()} cores`,
    );
  }
  console.log(`\nresults: ${writeResults('replication', { lag, latency: latency ?? null, catchUp })}`);
}

async function health(cluster: Cluster, id: number): Promise<Health> {
  return (await cluster.health(id)) as Health;
}

async function inSync(cluster: Cluster, timeoutMs = 60_000): Promise<[Health, Health]> {
  return waitFor(
    'both trackers in sync',
    async () => {
      const both = await Promise.all([health(cluster, 1), health(cluster, 2)]).catch(() => undefined);
      return both && both[0].replication.inSync && both[1].replication.inSync && both[0].stateHash === both[1].stateHash ? both : undefined;
    },
    timeoutMs,
    100,
  );
}

async function loggedIn(cluster: Cluster, id: number, user: string): Promise<TrackerConnection> {
  const c = new TrackerConnection([{ id, host: '127.0.0.1', port: cluster.trackers[id - 1]!.port }]);
  await c.connect();
  await c.request('create_user', { user, password: 'bench' });
  await c.request('login', { user, password: 'bench', peer: `127.0.0.1:${7000 + user.length}` });
  return c;
}

async function measureLag(seconds: number) {
  const cluster = await Cluster.create(2);
  const clients: TrackerConnection[] = [];
  try {
    await Promise.all([cluster.start(1), cluster.start(2)]);
    await inSync(cluster);
    for (let i = 0; i < LOAD_CLIENTS; i++) clients.push(await loggedIn(cluster, 1, `loader${i}`));
    const results = [];
    for (const rate of RATES) {
      // a fresh tracker 2 per level, so its lag samples are this level's only
      await cluster.kill(2, 'SIGTERM');
      await cluster.start(2);
      await inSync(cluster);
      const load = await offer(clients, rate, seconds, `r${rate}-`);
      await inSync(cluster);
      const lagMs = (await health(cluster, 2)).replication.applyLagMs;
      results.push({
        offered: rate,
        achieved: load.acked / seconds,
        failed: load.failed,
        commandP50: load.p50,
        commandP99: load.p99,
        lagP50: lagMs?.p50 ?? NaN,
        lagP99: lagMs?.p99 ?? NaN,
        lagMax: lagMs?.max ?? NaN,
        lagSamples: lagMs?.events ?? 0,
      });
    }
    return results;
  } finally {
    for (const c of clients) c.close();
    await cluster.destroy();
  }
}

/** Offers `rate` create_group commands per second for `seconds`, spread over the clients. */
async function offer(clients: TrackerConnection[], rate: number, seconds: number, prefix: string) {
  const latencies: number[] = [];
  const inFlight: Promise<void>[] = [];
  let failed = 0;
  let sent = 0;
  const started = performance.now();
  const total = rate * seconds;
  while (sent < total) {
    const due = Math.min(total, Math.floor(((performance.now() - started) / 1000) * rate));
    for (; sent < due; sent++) {
      const t0 = performance.now();
      inFlight.push(
        clients[sent % clients.length]!.request('create_group', { group: `${prefix}${sent}` }).then(
          () => void latencies.push(performance.now() - t0),
          () => void (failed += 1),
        ),
      );
    }
    await new Promise((r) => setTimeout(r, 1));
  }
  await Promise.all(inFlight);
  latencies.sort((a, b) => a - b);
  return { acked: latencies.length, failed, p50: percentile(latencies, 50), p99: percentile(latencies, 99) };
}

/** The three ways a command of tracker 1 is acknowledged, in the order each round measures them. */
const WAYS = [
  { key: 'flush', twin: 'connected, --twin-ack flush' },
  { key: 'write', twin: 'connected, --twin-ack write' },
  { key: 'alone', twin: 'down' },
] as const;
type Way = (typeof WAYS)[number]['key'];

async function measureLatency(commands: number, seconds: number, rounds: number) {
  const cluster = await Cluster.create(2);
  const clients: TrackerConnection[] = [];
  try {
    await Promise.all([cluster.start(1), cluster.start(2)]);
    await inSync(cluster);
    /** One client for the sequential run and LOAD_CLIENTS for the loaded one, all of tracker 1 (closed after each way: the tracker caps connections per address). */
    const connect = async (tag: string) => {
      for (const c of clients.splice(0)) c.close();
      // The tracker counts a closed connection out a moment later; new ones past its cap get 503.
      await waitFor('tracker 1 to count the closed clients out', async () => ((await health(cluster, 1)).clients === 0 ? true : undefined));
      clients.push(await loggedIn(cluster, 1, `solo-${tag}`));
      for (let i = 0; i < LOAD_CLIENTS; i++) clients.push(await loggedIn(cluster, 1, `loader${i}-${tag}`));
      return { solo: clients[0]!, loaders: clients.slice(1) };
    };
    const sequential = async (client: TrackerConnection, prefix: string) => {
      const latencies: number[] = [];
      for (let i = 0; i < commands; i++) {
        const t0 = performance.now();
        await client.request('create_group', { group: `${prefix}${i}` });
        latencies.push(performance.now() - t0);
      }
      latencies.sort((a, b) => a - b);
      const mean = latencies.reduce((a, b) => a + b, 0) / latencies.length;
      return { commands, mean, p50: percentile(latencies, 50), p99: percentile(latencies, 99) };
    };
    /** The sequential run (after a warm-up of JIT and page cache), then the loaded one. */
    const both = async (tag: string) => {
      const { solo, loaders } = await connect(tag);
      await sequential(solo, `warm-${tag}-`);
      return { one: await sequential(solo, `${tag}-`), loaded: await closedLoop(loaders, seconds, `${tag}-load-`) };
    };
    /** Puts the cluster in the state `way` needs: tracker 1 with its --twin-ack, tracker 2 up and in sync, or down. */
    const arrange = async (way: Way) => {
      if (way === 'alone') {
        await cluster.kill(2, 'SIGKILL');
        await waitFor('tracker 1 to see the link down', async () => ((await health(cluster, 1)).replication.link !== 'up' ? true : undefined));
        return;
      }
      const twin = cluster.trackers[1]!.proc;
      if (twin?.exitCode !== null || twin.signalCode !== null) await cluster.start(2);
      await cluster.kill(1, 'SIGTERM');
      await cluster.start(1, way === 'write' ? ['--twin-ack', 'write'] : []);
      await inSync(cluster);
    };

    // The three ways alternate, round after round, so that a slow minute of this VM
    // weighs on all of them; each figure is the median over the rounds.
    const measured: Record<Way, Awaited<ReturnType<typeof both>>[]> = { flush: [], write: [], alone: [] };
    const floors: { commit: Floor; commitBackToBack: Floor; roundTrip: Floor }[] = [];
    for (let round = 1; round <= rounds; round++) {
      for (const { key } of WAYS) {
        await arrange(key);
        measured[key].push(await both(`${key}${round}`));
        if (key === 'flush') floors.push({ commit: await measureDurableCommit(FLOOR_SAMPLES, FLOOR_PACE_MS), commitBackToBack: await measureDurableCommit(), roundTrip: await pingTracker(cluster, 1) });
      }
    }

    const mid = (way: Way) => {
      const runs = measured[way];
      return {
        one: { commands, mean: median(runs.map((r) => r.one.mean)), p50: median(runs.map((r) => r.one.p50)), p99: median(runs.map((r) => r.one.p99)) },
        loaded: { clients: LOAD_CLIENTS, perSecond: median(runs.map((r) => r.loaded.perSecond)), p50: median(runs.map((r) => r.loaded.p50)), p99: median(runs.map((r) => r.loaded.p99)) },
      };
    };
    /** Per round, the way's figure less the twin-down one of the same round; the median of those. */
    const cost = (way: Way) => {
      const byRound = measured[way].map((r, i) => {
        const alone = measured.alone[i]!;
        return { deltaMeanMs: r.one.mean - alone.one.mean, deltaP50Ms: r.one.p50 - alone.one.p50, loadedCostMs: 1000 / r.loaded.perSecond - 1000 / alone.loaded.perSecond };
      });
      return {
        deltaMeanMs: median(byRound.map((c) => c.deltaMeanMs)),
        deltaP50Ms: median(byRound.map((c) => c.deltaP50Ms)),
        loadedCostMs: median(byRound.map((c) => c.loadedCostMs)),
        byRound,
      };
    };
    const floor = {
      paceMs: FLOOR_PACE_MS,
      commit: { p50: median(floors.map((f) => f.commit.p50)) },
      commitBackToBack: { p50: median(floors.map((f) => f.commitBackToBack.p50)) },
      roundTrip: { p50: median(floors.map((f) => f.roundTrip.p50)) },
    };
    return {
      rounds,
      runs: WAYS.map(({ key, twin }) => ({ twin, ...mid(key).one })),
      loaded: WAYS.map(({ key, twin }) => ({ twin, ...mid(key).loaded })),
      flush: cost('flush'),
      write: cost('write'),
      floor,
      floorP50Ms: floor.commit.p50 + floor.roundTrip.p50,
    };
  } finally {
    for (const c of clients) c.close();
    await cluster.destroy();
  }
}

function printLatency(latency: Awaited<ReturnType<typeof measureLatency>>, seconds: number): void {
  console.log(`\nper-command latency, one client of tracker 1, sequential create_group; the three ways alternate, medians of ${latency.rounds} rounds`);
  printTable(
    ['twin', 'commands per round', 'mean ms', 'p50 ms', 'p99 ms'],
    latency.runs.map((r) => [r.twin, r.commands, r.mean.toFixed(3), r.p50.toFixed(3), r.p99.toFixed(3)]),
  );
  for (const ack of ['flush', 'write'] as const) {
    const c = latency[ack];
    const rounds = c.byRound.map((r) => `+${r.deltaP50Ms.toFixed(3)}`).join(' / ');
    console.log(`cost of semi-synchronous replication, --twin-ack ${ack}: +${c.deltaMeanMs.toFixed(3)} ms mean, +${c.deltaP50Ms.toFixed(3)} ms p50 per command (p50 per round: ${rounds})`);
  }
  const { commit, commitBackToBack, roundTrip, paceMs } = latency.floor;
  console.log(`floor of the cost with flush on this machine now: the twin's durable write (one-row commit, p50 ${commit.p50.toFixed(3)} ms ${paceMs} ms after the last; ${commitBackToBack.p50.toFixed(3)} ms right after it) + one WebSocket round trip between two processes (p50 ${roundTrip.p50.toFixed(3)} ms) = ${latency.floorP50Ms.toFixed(3)} ms`);
  console.log(`\nunder load: ${LOAD_CLIENTS} clients of tracker 1, closed loop, create_group, ${seconds} s each way per round`);
  printTable(
    ['twin', 'commands/s', 'ms per command (1 / commands/s)', 'p50 ms', 'p99 ms'],
    latency.loaded.map((r) => [r.twin, Math.round(r.perSecond), (1000 / r.perSecond).toFixed(4), r.p50.toFixed(3), r.p99.toFixed(3)]),
  );
  for (const ack of ['flush', 'write'] as const) console.log(`cost of semi-synchronous replication under load, --twin-ack ${ack}: +${latency[ack].loadedCostMs.toFixed(4)} ms per command`);
}

/** Each client sends its next create_group as soon as the last one is acknowledged, for `seconds`. */
async function closedLoop(clients: TrackerConnection[], seconds: number, prefix: string) {
  const latencies: number[] = [];
  const started = performance.now();
  const deadline = started + seconds * 1000;
  let sent = 0;
  await Promise.all(
    clients.map(async (c) => {
      while (performance.now() < deadline) {
        const t0 = performance.now();
        await c.request('create_group', { group: `${prefix}${sent++}` });
        latencies.push(performance.now() - t0);
      }
    }),
  );
  const elapsed = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  return { clients: clients.length, commands: latencies.length, perSecond: latencies.length / elapsed, p50: percentile(latencies, 50), p99: percentile(latencies, 99) };
}

/** WebSocket round trips between this process and tracker `id` (see measureWsRoundTrip). */
async function pingTracker(cluster: Cluster, id: number) {
  const ws = new WebSocket(`ws://127.0.0.1:${cluster.trackers[id - 1]!.port}/client`, { perMessageDeflate: false });
  try {
    await new Promise((resolve, reject) => (ws.once('open', resolve), ws.once('error', reject)));
    return await measureWsRoundTrip(ws, FLOOR_SAMPLES, FLOOR_PACE_MS);
  } finally {
    ws.terminate();
  }
}

async function measureCatchUp(events: number, runs: number) {
  const cluster = await Cluster.create(2);
  try {
    const dataDir = cluster.trackers[0]!.dataDir;
    mkdirSync(dataDir, { recursive: true });
    const store = EventStore.open(join(dataDir, DB_FILE));
    writeSyntheticLog(store, events);
    // a snapshot at the end, so tracker 1 starts without replaying the million (not what is measured)
    const state = initialState();
    foldEvents(store, state);
    const end = store.db.prepare('SELECT hlc, origin, seq FROM events ORDER BY hlc DESC, origin DESC, seq DESC LIMIT 1').get() as Position;
    store.saveSnapshot(end, state.eventCount, stateHash(state), encodeState(state), Date.now());
    const dataMB = Math.round(((store.db.prepare('SELECT sum(length(data)) AS n FROM events').get() as { n: number }).n / 1e6) * 10) / 10;
    await store.close();
    await cluster.start(1);
    const each: { caughtUpMs: number; spawnToSyncMs: number; cpuSeconds: { sender: number; receiver: number; receiverMain: number } }[] = [];
    for (let run = 1; run <= runs; run++) {
      if (run > 1) {
        // the same catch-up again: tracker 2 from an empty data dir
        await cluster.kill(2, 'SIGTERM');
        rmSync(cluster.trackers[1]!.dataDir, { recursive: true, force: true });
      }
      const senderPid = cluster.trackers[0]!.proc?.pid;
      const senderBefore = await cpuSeconds(senderPid);
      const t0 = performance.now();
      const t2 = await cluster.start(2);
      // watch the log line, not /health: every /health digests the whole state, which would slow what is measured
      await waitFor('tracker 2 to catch up', () => (t2.output.includes('caught up with tracker 1') ? true : undefined), 300_000, 10);
      const spawnToSyncMs = Math.round(performance.now() - t0);
      // from spawn, so tracker 2's start-up (a few tenths of a second) is in its figure
      const cpu = {
        sender: (await cpuSeconds(senderPid)).total - senderBefore.total,
        receiver: (await cpuSeconds(t2.proc?.pid)).total,
        receiverMain: (await threadCpuSeconds(t2.proc?.pid, t2.proc?.pid)).total,
      };
      const [, two] = await inSync(cluster, 60_000);
      if (two.events !== events) throw new Error(`tracker 2 holds ${two.events} events, expected ${events}`);
      each.push({ caughtUpMs: two.replication.caughtUp?.ms ?? NaN, spawnToSyncMs, cpuSeconds: cpu });
      console.log(
        `[catch-up run ${run}] link up -> caught up ${each[run - 1]!.caughtUpMs} ms, spawn -> in sync ${spawnToSyncMs} ms; ` +
          `CPU-s: tracker 1 ${cpu.sender.toFixed(1)}, tracker 2 ${cpu.receiver.toFixed(1)} (event loop ${cpu.receiverMain.toFixed(1)}); ${twinStateNote(t2.output)}`,
      );
    }
    const healing = await measureHealing(cluster, runs);
    const cpuSecondsMedians = {
      sender: median(each.map((r) => r.cpuSeconds.sender)),
      receiver: median(each.map((r) => r.cpuSeconds.receiver)),
      receiverMain: median(each.map((r) => r.cpuSeconds.receiverMain)),
    };
    return { events, dataMB, runs: each, caughtUpMs: median(each.map((r) => r.caughtUpMs)), spawnToSyncMs: median(each.map((r) => r.spawnToSyncMs)), cpuSeconds: cpuSecondsMedians, healing };
  } finally {
    await cluster.destroy();
  }
}

/**
 * A partition healing: tracker 2 starts with a log of its own origin's events only (its
 * side of the partition), and catches up on tracker 1's, which interleave with its own
 * in the fold order, so they sort before events it has already folded.
 */
async function measureHealing(cluster: Cluster, runs: number) {
  const each: { events: number; caughtUpMs: number; longestHealthMs: number }[] = [];
  for (let run = 1; run <= runs; run++) {
    await cluster.kill(2, 'SIGTERM');
    const dataDir = cluster.trackers[1]!.dataDir;
    rmSync(dataDir, { recursive: true, force: true });
    mkdirSync(dataDir, { recursive: true });
    const source = EventStore.openReadOnly(join(cluster.trackers[0]!.dataDir, DB_FILE));
    const own = EventStore.open(join(dataDir, DB_FILE));
    try {
      for (let after = 0; ; ) {
        const rows = source.ofOrigin(2, after, 50_000);
        if (rows.length === 0) break;
        own.append(rows, { waitForDisk: false });
        after = rows[rows.length - 1]!.seq;
      }
    } finally {
      await source.close();
      await own.close();
    }
    const t2 = await cluster.start(2);
    const caughtUp = () => t2.output.includes('caught up with tracker 1');
    const probe = probeHealth(cluster, 2, caughtUp);
    await waitFor('tracker 2 to catch up', () => (caughtUp() ? true : undefined), 600_000, 10);
    const longestHealthMs = await probe;
    const [, two] = await inSync(cluster, 60_000);
    each.push({ events: two.replication.caughtUp?.events ?? NaN, caughtUpMs: two.replication.caughtUp?.ms ?? NaN, longestHealthMs });
    console.log(`[catch-up after a partition, run ${run}] ${each[run - 1]!.events} events, link up -> caught up ${each[run - 1]!.caughtUpMs} ms; longest /health answer meanwhile ${longestHealthMs} ms; ${twinStateNote(t2.output)}`);
  }
  return { events: median(each.map((r) => r.events)), caughtUpMs: median(each.map((r) => r.caughtUpMs)), longestHealthMs: median(each.map((r) => r.longestHealthMs)), runs: each };
}

/**
 * Asks tracker `id` for /health one request after the other until `done`: the longest
 * wait for an answer (ms) is how long its event loop was held at most, as a client sees it.
 */
async function probeHealth(cluster: Cluster, id: number, done: () => boolean): Promise<number> {
  let longest = 0;
  while (!done()) {
    const t0 = performance.now();
    await health(cluster, id).catch(() => undefined);
    longest = Math.max(longest, performance.now() - t0);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return Math.round(longest);
}

/** What tracker 2's log says of the state tracker 1 sent ahead of the catch-up (--twin-state-min). */
function twinStateNote(output: string): string {
  const read = /sent its state ahead of the catch-up \((\d+) characters, read in (\d+) ms\)/.exec(output);
  const taken = /caught-up events \(\d+ events, taken in (\d+) ms\)/.exec(output);
  if (!read) return 'no twin state: tracker 2 folded the events';
  return taken ? `twin state of ${(Number(read[1]) / 1e6).toFixed(1)} MB read in ${read[2]} ms, taken in ${taken[1]} ms` : `twin state of ${(Number(read[1]) / 1e6).toFixed(1)} MB read in ${read[2]} ms, not taken`;
}
