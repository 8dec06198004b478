/**
 * Soak (issue 7): both trackers, 20 clients (4 real client processes driven through their
 * scripted mode, 16 TrackerConnection clients in this process), continuous mixed commands
 * and real peer-to-peer transfers for a bounded time, with a SIGKILL + restart of one
 * tracker (alternating) every minute. Every acknowledged command is recorded with the
 * effect it must have; at the end each effect is checked on BOTH trackers (a missing one
 * is an acknowledged event lost), every transfer's file is checked against its source
 * SHA-1, and the trackers' final state hashes must be equal.
 *
 * Options: --minutes N (default 5), --kill-every S (seconds, default 60).
 * Writes bench/results/soak.json. Everything runs on 127.0.0.1 and stops by itself.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { TrackerConnection, TrackerError } from '../src/client/tracker-connection.js';
import { CLIENT_BIN, Cluster, freePort, waitFor } from '../src/demo/local-cluster.js';
import { ScriptedClient } from '../src/demo/scripted-client.js';
import type { ArgsOf, Op } from '../src/wire/client-protocol.js';
import { PIECE_SIZE } from '../src/wire/manifest.js';
import { numberOption, printTable, writeResults } from './lib/stats.js';

const PROCESS_CLIENTS = 4;
const LIBRARY_CLIENTS = 16;
const PASSWORD = 'soak-pw';
/** Pause between one library client's commands: 16 clients, ~40 commands/s each at most. */
const COMMAND_PAUSE_MS = 25;
const TRANSFER_TIMEOUT_MS = 90_000;


const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const sha1 = (data: Buffer): string => createHash('sha1').update(data).digest('hex');
const mib = (bytes: number): number => Math.round((bytes / 1024 / 1024) * 10) / 10;

function rssOf(pid: number | undefined): number {
  if (pid === undefined) return 0;
  try {
    return Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) * 1024;
  } catch {
    return 0;
  }
}

/** What an acknowledged command must have left in the state. */
type Effect =
  | { readonly kind: 'owner'; readonly user: string; readonly group: string }
  | { readonly kind: 'requested'; readonly user: string; readonly group: string }
  | { readonly kind: 'member'; readonly user: string; readonly group: string }
  | { readonly kind: 'file'; readonly user: string; readonly group: string; readonly name: string };

interface ProcessRss {
  name: string;
  pid: number | undefined;
  startMiB: number;
  endMiB: number;
}

export default async function run(args: string[]): Promise<void> {
  const minutes = numberOption(args, 'minutes', 5);
  const killEveryMs = numberOption(args, 'kill-every', 60) * 1000;
  const cluster = await Cluster.create(2);
  const rss: ProcessRss[] = [];
  const started = Date.now();
  const deadline = started + minutes * 60_000;
  const stats = { commands: 0, commandsRefused: 0, commandsUnconfirmed: 0, byOp: {} as Record<string, number>, refusedByCode: {} as Record<string, number>, transfers: 0, transfersVerified: 0, transfersFailed: [] as string[], kills: [] as { tracker: number; atS: number }[] };
  const effects: Effect[] = [];
  const library: TrackerConnection[] = [];
  const processes: ScriptedClient[] = [];
  try {
    for (const id of [1, 2]) {
      const t = await cluster.start(id);
      rss.push({ name: `tracker ${id} (first run)`, pid: t.proc!.pid, startMiB: mib(rssOf(t.proc!.pid)), endMiB: 0 });
    }
    const trackers = cluster.trackers.map((t) => ({ id: t.id, host: '127.0.0.1', port: t.port }));

    // ---- clients
    const filesDir = join(cluster.dir, 'files');
    mkdirSync(filesDir, { recursive: true });
    for (let i = 0; i < PROCESS_CLIENTS; i++) {
      const port = await freePort();
      const c = new ScriptedClient(CLIENT_BIN, `127.0.0.1:${port}`, cluster.infoFile, ['--state-dir', join(cluster.dir, `pc${i}`)], cluster.dir);
      processes.push(c);
      await c.must(`create_user pc${i} ${PASSWORD}`);
      await c.must(`login pc${i} ${PASSWORD}`);
      rss.push({ name: `client process pc${i}`, pid: c.pid, startMiB: mib(rssOf(c.pid)), endMiB: 0 });
    }
    await processes[0]!.must('create_group share');
    for (let i = 1; i < PROCESS_CLIENTS; i++) {
      await processes[i]!.must('join_group share');
      await processes[0]!.must(`accept_request share pc${i}`);
    }
    for (let i = 0; i < LIBRARY_CLIENTS; i++) {
      const c = new TrackerConnection(trackers);
      await c.connect();
      await c.request('create_user', { user: `tc${i}`, password: PASSWORD });
      await c.request('login', { user: `tc${i}`, password: PASSWORD, peer: `127.0.0.1:${40000 + i}` });
      library.push(c);
    }
    rss.push({ name: 'soak process (16 library clients)', pid: process.pid, startMiB: mib(rssOf(process.pid)), endMiB: 0 });
    console.log(`soak: ${PROCESS_CLIENTS} client processes + ${LIBRARY_CLIENTS} library clients, ${minutes} min, a tracker SIGKILLed every ${killEveryMs / 1000} s`);

    const running = (): boolean => Date.now() < deadline;
    const groups: { group: string; owner: number }[] = [];

    /** One acknowledged command, counted; refusals and unconfirmed ones are counted apart. */
    async function command<O extends Op>(c: TrackerConnection, op: O, a: ArgsOf<O>): Promise<unknown> {
      try {
        const data = await c.request(op, a);
        stats.commands++;
        stats.byOp[op] = (stats.byOp[op] ?? 0) + 1;
        return data;
      } catch (error) {
        if (error instanceof TrackerError && ['NO_TRACKER', 'CLOSED', 'TRACKER_CATCHING_UP', 'TIMEOUT'].includes(error.code)) stats.commandsUnconfirmed++;
        else {
          stats.commandsRefused++;
          const code = error instanceof TrackerError ? error.code : 'ERROR';
          stats.refusedByCode[code] = (stats.refusedByCode[code] ?? 0) + 1;
        }
        return undefined;
      }
    }

    async function libraryClient(i: number): Promise<void> {
      const c = library[i]!;
      const me = `tc${i}`;
      let n = 0;
      while (running()) {
        n++;
        const roll = Math.random();
        if (roll < 0.15 || groups.filter((g) => g.owner === i).length === 0) {
          const group = `s${i}-${n}`;
          if ((await command(c, 'create_group', { group })) !== undefined) {
            groups.push({ group, owner: i });
            effects.push({ kind: 'owner', user: me, group });
          }
        } else if (roll < 0.35) {
          const others = groups.filter((g) => g.owner !== i);
          const target = others[Math.floor(Math.random() * others.length)];
          if (target && (await command(c, 'join_group', { group: target.group })) !== undefined) effects.push({ kind: 'requested', user: me, group: target.group });
        } else if (roll < 0.5) {
          const mine = groups.filter((g) => g.owner === i);
          const g = mine[Math.floor(Math.random() * mine.length)]!;
          const pending = (await command(c, 'list_requests', { group: g.group })) as string[] | undefined;
          const user = pending?.[0];
          if (user && (await command(c, 'accept_request', { group: g.group, user })) !== undefined) effects.push({ kind: 'member', user, group: g.group });
        } else if (roll < 0.6) {
          const mine = groups.filter((g) => g.owner === i);
          const g = mine[Math.floor(Math.random() * mine.length)]!;
          const name = `f${n}.bin`;
          const size = PIECE_SIZE + Math.floor(Math.random() * PIECE_SIZE);
          const pieceHashes = [0, 1].map((p) => sha1(Buffer.from(`${me}/${name}#${p}`)));
          if ((await command(c, 'upload_file', { group: g.group, name, size, pieceSize: PIECE_SIZE, pieceHashes, sha1: sha1(Buffer.from(`${me}/${name}`)) })) !== undefined) {
            effects.push({ kind: 'file', user: me, group: g.group, name });
          }
        } else if (roll < 0.8) {
          await command(c, 'list_groups', {});
        } else {
          const g = groups[Math.floor(Math.random() * groups.length)];
          if (g) await command(c, 'list_files', { group: g.group });
        }
        await sleep(COMMAND_PAUSE_MS);
      }
    }

    /** Real transfers: one process shares a fresh random file, another downloads it; checked by SHA-1. */
    async function transfers(lane: number): Promise<void> {
      let n = 0;
      while (running()) {
        n++;
        const from = processes[(lane + n) % PROCESS_CLIENTS]!;
        const to = processes[(lane + n + 1 + (n % (PROCESS_CLIENTS - 1))) % PROCESS_CLIENTS]!;
        if (from === to) continue;
        const name = `t${lane}-${n}.bin`;
        const bytes = randomBytes(PIECE_SIZE * (1 + (n % 4)) + Math.floor(Math.random() * PIECE_SIZE));
        const source = join(filesDir, name);
        writeFileSync(source, bytes);
        const up = await from.send(`upload_file ${source} share`);
        if (!up.ok) {
          await sleep(500);
          continue;
        }
        const dest = join(cluster.dir, `dl-${lane}-${n}`);
        mkdirSync(dest, { recursive: true });
        const down = await to.send(`download_file share ${name} ${dest}`);
        if (!down.ok) {
          stats.transfersFailed.push(`${name}: download_file ${down.error?.code}`);
          await sleep(500);
          continue;
        }
        stats.transfers++;
        const outcome = await waitFor(
          `the download of ${name}`,
          () => to.events.find((e) => (e.event === 'download_done' || e.event === 'download_failed') && e.name === name),
          TRANSFER_TIMEOUT_MS,
          50,
        ).catch(() => undefined);
        if (outcome?.event !== 'download_done') {
          stats.transfersFailed.push(`${name}: ${outcome ? String(outcome.error) : 'timed out'}`);
          continue;
        }
        if (sha1(readFileSync(String(outcome.path))) === sha1(bytes)) stats.transfersVerified++;
        else stats.transfersFailed.push(`${name}: content differs from the source`);
      }
    }

    async function killer(): Promise<void> {
      let victim = 1;
      let next = started + killEveryMs;
      while (Date.now() + 5_000 < deadline) {
        if (Date.now() < next) {
          await sleep(200);
          continue;
        }
        const t = cluster.trackers[victim - 1]!;
        const incarnation = rss.find((r) => r.pid === t.proc!.pid);
        if (incarnation) incarnation.endMiB = mib(rssOf(t.proc!.pid));
        await cluster.kill(victim, 'SIGKILL');
        stats.kills.push({ tracker: victim, atS: Math.round((Date.now() - started) / 1000) });
        console.log(`soak: SIGKILLed tracker ${victim} at ${stats.kills.at(-1)!.atS} s; restarting it`);
        await sleep(1_000);
        const back = await cluster.start(victim);
        rss.push({ name: `tracker ${victim} (restart ${stats.kills.length})`, pid: back.proc!.pid, startMiB: mib(rssOf(back.proc!.pid)), endMiB: 0 });
        victim = 3 - victim;
        next += killEveryMs;
      }
    }

    await Promise.all([...library.map((_, i) => libraryClient(i)), transfers(0), transfers(1), killer()]);

    // ---- the end: RSS, convergence, then every acknowledged effect on both trackers
    for (const r of rss) if (r.endMiB === 0) r.endMiB = mib(rssOf(r.pid));
    for (const c of library) c.close();
    const hashes = await waitFor(
      'both trackers to converge',
      async () => {
        const [a, b] = await Promise.all([cluster.health(1), cluster.health(2)]);
        await sleep(500);
        const [c, d] = await Promise.all([cluster.health(1), cluster.health(2)]);
        return a.stateHash === b.stateHash && c.stateHash === d.stateHash && a.stateHash === c.stateHash ? { 1: c.stateHash, 2: d.stateHash } : undefined;
      },
      60_000,
    );
    const lost: Record<number, string[]> = { 1: [], 2: [] };
    for (const id of [1, 2]) lost[id] = await missingEffects(cluster, id, effects);
    const result = {
      minutes,
      killEverySeconds: killEveryMs / 1000,
      clients: { processes: PROCESS_CLIENTS, library: LIBRARY_CLIENTS },
      commandsDone: stats.commands,
      commandsByOp: stats.byOp,
      commandsRefused: stats.commandsRefused,
      commandsRefusedByCode: stats.refusedByCode,
      commandsUnconfirmed: stats.commandsUnconfirmed,
      transfersStarted: stats.transfers,
      transfersVerified: stats.transfersVerified,
      transfersFailed: stats.transfersFailed,
      kills: stats.kills,
      acknowledgedEffectsChecked: effects.length,
      acknowledgedEventsLost: { tracker1: lost[1]!.length, tracker2: lost[2]!.length, examples: [...lost[1]!, ...lost[2]!].slice(0, 10) },
      rss,
      finalStateHashes: hashes,
      hashesEqual: hashes[1] === hashes[2],
    };
    console.log('');
    printTable(['process', 'pid', 'RSS start MiB', 'RSS end MiB'], rss.map((r) => [r.name, r.pid ?? '-', r.startMiB, r.endMiB]));
    console.log('');
    printTable(
      ['commands', 'refused', 'unconfirmed', 'transfers verified', 'transfers failed', 'kills', 'acked effects', 'lost on 1', 'lost on 2', 'hashes equal'],
      [[stats.commands, stats.commandsRefused, stats.commandsUnconfirmed, `${stats.transfersVerified}/${stats.transfers}`, stats.transfersFailed.length, stats.kills.length, effects.length, lost[1]!.length, lost[2]!.length, String(result.hashesEqual)]],
    );
    console.log(`\nresults: ${writeResults('soak', result)}`);
    if (lost[1]!.length + lost[2]!.length > 0 || !result.hashesEqual || stats.transfersFailed.length > 0) process.exitCode = 1;
  } finally {
    for (const c of library) c.close();
    await Promise.all(processes.map((p) => p.kill('SIGKILL')));
    await cluster.destroy();
  }
}

/** Checks every effect on tracker `id`, logged in there as each user involved; returns the missing ones. */
async function missingEffects(cluster: Cluster, id: number, effects: readonly Effect[]): Promise<string[]> {
  const t = cluster.trackers[id - 1]!;
  const missing: string[] = [];
  const byUser = new Map<string, Effect[]>();
  for (const e of effects) byUser.set(e.user, [...(byUser.get(e.user) ?? []), e]);
  let peer = 45000 + id * 100;
  for (const [user, mine] of byUser) {
    const c = new TrackerConnection([{ id, host: '127.0.0.1', port: t.port }]);
    await c.connect();
    try {
      await c.request('login', { user, password: PASSWORD, peer: `127.0.0.1:${peer++}` });
      const roles = new Map(((await c.request('list_groups', {})) as { group: string; role: string | null }[]).map((r) => [r.group, r.role]));
      const files = new Map<string, Set<string>>();
      for (const e of mine) {
        const role = roles.get(e.group);
        const ok =
          e.kind === 'owner' ? role === 'owner'
          : e.kind === 'requested' ? role === 'pending' || role === 'member'
          : e.kind === 'member' ? role === 'member'
          : await (async () => {
              if (!files.has(e.group)) files.set(e.group, new Set(((await c.request('list_files', { group: e.group })) as { name: string }[]).map((f) => f.name)));
              return files.get(e.group)!.has(e.name);
            })();
        if (!ok) missing.push(`tracker ${id}: ${e.kind} ${e.user} ${e.group}${e.kind === 'file' ? `/${e.name}` : ''} (role ${role})`);
      }
    } finally {
      c.close();
    }
  }
  return missing;
}
