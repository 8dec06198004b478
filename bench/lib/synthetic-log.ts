/**
 * A realistic event log, written fast: sealed envelopes appended straight into an
 * EventStore, in big transactions, without running trackers. Two origins interleave as
 * two replicating trackers would (the second's events arrive a little late, so local
 * arrival order differs from fold order), and the mix follows a busy deployment:
 * users sign up, log in and out, drop and resume, create and join groups, share files
 * (1 KiB to 32 MiB, so 1 to 64 pieces), join swarms and stop sharing.
 *
 * The generator keeps a small model of who exists, who is online and what is shared, so
 * nearly every event is valid when folded (a few conflicts are realistic and kept).
 * Populations stay bounded (online sessions, files) the way a live system's do.
 * Deterministic for a given seed.
 */
import { existsSync, rmSync, statSync } from 'node:fs';
import { accountOf, GENESIS_PREV, HLC_TICKS_PER_MS, seal, type DomainEvent, type Envelope } from '../../src/events/index.js';
import { EventStore } from '../../src/events/log/event-store.js';
import { idempotencyKey } from '../../src/wire/idempotency-key.js';
import { mulberry32 } from '../../test/helpers/random.js';

export interface SyntheticLogOptions {
  readonly seed?: number;
  /** Wall time of the first event, ms. */
  readonly startMs?: number;
  /** Events per transaction. */
  readonly batch?: number;
}

const MAX_ONLINE_SESSIONS = 600;
const MAX_FILES = 4000;
const MAX_GROUP_MEMBERS = 40;
const PIECE_SIZE = 512 * 1024;
/** Origin 2's events are delivered to this log in bursts of about this many. */
const REPLICATION_BURST = 40;

interface ModelSession {
  readonly id: string;
  readonly user: number;
  epoch: number;
  online: boolean;
}
interface ModelGroup {
  readonly name: string;
  readonly owner: number;
  readonly members: number[];
  readonly requests: number[];
}
interface ModelFile {
  readonly group: ModelGroup;
  readonly name: string;
  readonly owner: number;
  readonly leechers: Set<number>;
}

/** Appends `count` events to an empty store. Returns how many it wrote per origin. */
export function writeSyntheticLog(store: EventStore, count: number, options: SyntheticLogOptions = {}): Map<number, number> {
  const random = mulberry32(options.seed ?? 1);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)]!;
  const scratch = Buffer.alloc(64);
  const randomBytes = (n: number): Buffer => {
    for (let i = 0; i < n; i += 4) scratch.writeUInt32LE((random() * 0x100000000) >>> 0, i);
    return scratch.subarray(0, n);
  };
  const hex = (n: number): string => randomBytes(Math.ceil(n / 2)).toString('hex').slice(0, n);
  const b64 = (n: number): string => randomBytes(Math.ceil((n * 3) / 4)).toString('base64').slice(0, n);

  const users: string[] = [];
  /** Each user's account, which the events of their commands name. */
  const accounts: string[] = [];
  const peerOf = (u: number): string => `10.${(u >> 16) & 255}.${(u >> 8) & 255}.${u & 255}:${6000 + (u % 1000)}`;
  const sessionOfUser = new Map<number, ModelSession>();
  const sessions: ModelSession[] = [];
  const groups: ModelGroup[] = [];
  const files: ModelFile[] = [];
  let fileCounter = 0;

  const removeAt = <T>(xs: T[], i: number): void => {
    xs[i] = xs[xs.length - 1]!;
    xs.pop();
  };
  const dropSession = (s: ModelSession): void => {
    sessionOfUser.delete(s.user);
    removeAt(sessions, sessions.indexOf(s));
  };

  /** One event chosen by the mix, or undefined when the model cannot make that kind now. */
  const next = (): DomainEvent | undefined => {
    const r = random() * 100;
    if (users.length < 50 || r < 2) {
      const user = `user${String(users.length).padStart(6, '0')}`;
      const passwordHash = `scrypt$16384$8$1$${b64(24)}$${b64(44)}`;
      users.push(user);
      accounts.push(accountOf(passwordHash));
      return { type: 'user_created', data: { user, passwordHash } };
    }
    if (r < 17) {
      if (sessions.length >= MAX_ONLINE_SESSIONS) return logout();
      const u = Math.floor(random() * users.length);
      if (sessionOfUser.has(u)) return logout(sessionOfUser.get(u));
      const s: ModelSession = { id: hex(32), user: u, epoch: 0, online: true };
      sessions.push(s);
      sessionOfUser.set(u, s);
      return { type: 'session_started', data: { session: s.id, user: users[u]!, peer: peerOf(u), account: accounts[u]! } };
    }
    if (r < 22) {
      const s = sessions.length > 0 ? pick(sessions) : undefined;
      if (!s || s.online) return undefined;
      s.epoch += 1;
      s.online = true;
      return { type: 'session_resumed', data: { session: s.id, epoch: s.epoch } };
    }
    if (r < 27) {
      const s = sessions.length > 0 ? pick(sessions) : undefined;
      if (!s || !s.online) return undefined;
      s.online = false;
      return { type: 'session_lost', data: { session: s.id, epoch: s.epoch } };
    }
    if (r < 40) return logout();
    if (r < 40.5) {
      const owner = Math.floor(random() * users.length);
      const g: ModelGroup = { name: `group${String(groups.length).padStart(5, '0')}`, owner, members: [owner], requests: [] };
      groups.push(g);
      return { type: 'group_created', data: { group: g.name, owner: users[owner]!, account: accounts[owner]! } };
    }
    if (r < 46.5) {
      const g = groups.length > 0 ? pick(groups) : undefined;
      const u = Math.floor(random() * users.length);
      if (!g || g.members.length >= MAX_GROUP_MEMBERS || g.members.includes(u) || g.requests.includes(u)) return undefined;
      g.requests.push(u);
      return { type: 'join_requested', data: { group: g.name, user: users[u]!, account: accounts[u]! } };
    }
    if (r < 52) {
      const g = groups.length > 0 ? pick(groups) : undefined;
      if (!g || g.requests.length === 0) return undefined;
      const u = g.requests.shift()!;
      const accepted = random() < 0.9;
      if (accepted) g.members.push(u);
      const data = { group: g.name, user: users[u]!, by: users[g.owner]!, account: accounts[g.owner]! };
      return { type: accepted ? 'join_request_accepted' : 'join_request_rejected', data };
    }
    if (r < 52.3) {
      const g = groups.length > 0 ? pick(groups) : undefined;
      if (!g || g.members.length < 2) return undefined;
      const at = 1 + Math.floor(random() * (g.members.length - 1)); // never the owner
      const u = g.members[at]!;
      g.members.splice(at, 1);
      for (let i = files.length - 1; i >= 0; i--) {
        const f = files[i]!;
        if (f.group !== g) continue;
        if (f.owner === u) removeAt(files, i);
        else f.leechers.delete(u);
      }
      return { type: 'member_left', data: { group: g.name, user: users[u]!, account: accounts[u]! } };
    }
    if (r < 64) {
      if (files.length >= MAX_FILES) return stopShare();
      const g = groups.length > 0 ? pick(groups) : undefined;
      if (!g) return undefined;
      const owner = pick(g.members);
      const size = Math.floor(Math.exp(Math.log(1024) + random() * (Math.log(32 * 1024 * 1024) - Math.log(1024))));
      const pieces = Math.max(1, Math.ceil(size / PIECE_SIZE));
      const f: ModelFile = { group: g, name: `file-${fileCounter++}.${pick(['pdf', 'zip', 'mp4', 'txt', 'png', 'tar.gz'])}`, owner, leechers: new Set() };
      files.push(f);
      const pieceHashes = Array.from({ length: pieces }, () => hex(40));
      return {
        type: 'file_shared',
        data: { group: g.name, name: f.name, size, pieceSize: PIECE_SIZE, pieceHashes, sha1: hex(40), user: users[owner]!, peer: peerOf(owner), account: accounts[owner]! },
      };
    }
    if (r < 89) {
      const f = files.length > 0 ? pick(files) : undefined;
      if (!f) return undefined;
      const u = pick(f.group.members);
      if (u === f.owner || f.leechers.has(u)) return undefined;
      f.leechers.add(u);
      return { type: 'swarm_joined', data: { group: f.group.name, name: f.name, user: users[u]!, peer: peerOf(u), account: accounts[u]! } };
    }
    return stopShare();
  };

  const logout = (s = sessions.length > 0 ? pick(sessions) : undefined): DomainEvent | undefined => {
    if (!s) return undefined;
    dropSession(s);
    return { type: 'session_ended', data: { session: s.id } };
  };
  const stopShare = (): DomainEvent | undefined => {
    if (files.length === 0) return undefined;
    const i = Math.floor(random() * files.length);
    const f = files[i]!;
    removeAt(files, i); // the only seeder stops: the file is gone
    return { type: 'share_stopped', data: { group: f.group.name, name: f.name, user: users[f.owner]!, peer: peerOf(f.owner), account: accounts[f.owner]! } };
  };

  const tips = new Map<number, { seq: number; hash: string }>();
  let ms = options.startMs ?? 1_700_000_000_000;
  const batchSize = options.batch ?? 20_000;
  let batch: Envelope[] = [];
  let late: Envelope[] = [];
  const flush = (): void => {
    store.append(batch);
    batch = [];
  };
  // A bench fixture: durability is not what is measured, and a big page cache keeps the
  // indexes in memory while millions of rows go in.
  const cacheSize = store.db.pragma('cache_size', { simple: true }) as number;
  store.db.pragma('synchronous = OFF');
  store.db.pragma('cache_size = -262144');
  for (let written = 0; written < count; ) {
    const event = next();
    if (!event) continue;
    ms += 1 + Math.floor(random() * 3);
    const origin = random() < 0.6 ? 1 : 2;
    const tip = tips.get(origin) ?? { seq: 0, hash: GENESIS_PREV };
    const envelope = seal({
      origin,
      seq: tip.seq + 1,
      hlc: ms * HLC_TICKS_PER_MS + Math.floor(random() * 10),
      type: event.type,
      data: JSON.stringify(event.data),
      prev: tip.hash,
      idem: random() < 0.8 ? idempotencyKey(ms, randomBytes(10)) : null,
    });
    tips.set(origin, { seq: envelope.seq, hash: envelope.hash });
    written += 1;
    if (origin === 1) batch.push(envelope);
    else late.push(envelope);
    if (late.length >= REPLICATION_BURST) {
      batch.push(...late);
      late = [];
    }
    if (batch.length >= batchSize) flush();
  }
  batch.push(...late);
  flush();
  store.db.pragma('synchronous = FULL');
  store.db.pragma(`cache_size = ${cacheSize}`);
  return new Map([...tips].map(([origin, tip]) => [origin, tip.seq]));
}

/** Writes the log unless `file` already holds exactly `events` of them. */
export async function ensureSyntheticLog(file: string, events: number): Promise<{ ms: number; reused: boolean }> {
  if (existsSync(file)) {
    const store = EventStore.openReadOnly(file);
    const count = store.count();
    await store.close();
    if (count === events) return { ms: 0, reused: true };
    for (const s of ['', '-wal', '-shm']) rmSync(file + s, { force: true });
  }
  const t0 = performance.now();
  const store = EventStore.open(file);
  writeSyntheticLog(store, events);
  store.db.pragma('wal_checkpoint(TRUNCATE)');
  await store.close();
  const ms = performance.now() - t0;
  console.log(`wrote ${events.toLocaleString('en-US')} events in ${Math.round(ms)} ms (${file}, ${Math.round(statSync(file).size / 1e6)} MB)`);
  return { ms: Math.round(ms), reused: false };
}
