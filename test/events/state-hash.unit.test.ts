/**
 * stateHash is the convergence check between trackers: equal for the same events, different
 * after any change, blind to Map insertion order, and preserved by encode/decode (snapshots).
 * The seeded property test simulates three trackers that accept random commands during
 * partitions and exchange events in random orders: folding in (hlc, origin, seq) order
 * must give one hash, however the events were generated or arrived.
 */
import { describe, expect, test } from 'vitest';
import {
  compareOrder,
  decide,
  decodeState,
  encodeState,
  evolve,
  initialState,
  nextHlc,
  observeHlc,
  stateHash,
  type Command,
  type DomainEvent,
  type EncodedState,
  type EventPosition,
  type State,
} from '../../src/events/index.js';
import { foldAll } from '../helpers/decider.js';
import { bobInG, ev, fileShape } from '../helpers/fixtures.js';
import { mulberry32 } from '../helpers/random.js';

const roundTrip = (state: State): State => decodeState(JSON.parse(JSON.stringify(encodeState(state))) as EncodedState);

/** Users, sessions, a group with members and requests, a file with a swarm, and a conflict. */
const rich: readonly DomainEvent[] = [
  ...bobInG,
  ev.joinRequested('g', 'carol'),
  ev.joinRequested('g', 'dave'),
  ev.sessionStarted('alice'),
  ev.sessionStarted('bob'),
  ev.fileShared('g', 'a.txt', 'alice'),
  ev.swarmJoined('g', 'a.txt', 'bob'),
  ev.userCreated('alice', 'a second claim'),
];

describe('stateHash', () => {
  test('given the same events, when folded into two fresh states, then the hashes are equal', () => {
    const a = stateHash(foldAll(rich));
    expect(stateHash(foldAll(rich))).toBe(a);
    expect(a).toMatch(/^[0-9a-f]{64}$/);
    expect(a).not.toBe(stateHash(initialState()));
  });

  test('given a state, when one more event is folded, then the hash changes', () => {
    const state = foldAll(rich);
    const before = stateHash(state);
    foldAll([ev.sessionLost('alice', 0)], state);
    expect(stateHash(state)).not.toBe(before);
  });

  const changes: [string, (s: State) => void][] = [
    ['eventCount', (s) => void (s.eventCount += 1)],
    ['a new user', (s) => void s.users.set('zed', { passwordHash: 'x', createdAt: 1, account: 'a' })],
    ['an account', (s) => void s.users.set('bob', { ...s.users.get('bob')!, account: 'other' })],
    ['a name claimed twice', (s) => void s.claimedTwice.add('zed')],
    ['a remembered command', (s) => void s.commands.remember('key-1', 1, 1, 1)],
    ['a password hash', (s) => void s.users.set('bob', { ...s.users.get('bob')!, passwordHash: 'changed' })],
    ['a user createdAt', (s) => void s.users.set('bob', { ...s.users.get('bob')!, createdAt: 1 })],
    ['a session going offline', (s) => void (s.sessions.get('session-alice')!.online = false)],
    ['a session epoch', (s) => void (s.sessions.get('session-alice')!.epoch += 1)],
    ['a session peer', (s) => void s.sessions.set('session-bob', { ...s.sessions.get('session-bob')!, peer: '1.2.3.4:5' })],
    ['a removed session', (s) => void s.sessions.delete('session-bob')],
    ['a group owner', (s) => void (s.groups.get('g')!.owner = 'bob')],
    ['member order', (s) => void s.groups.get('g')!.members.reverse()],
    ['request order', (s) => void s.groups.get('g')!.requests.reverse()],
    ['a new request', (s) => void s.groups.get('g')!.requests.push('erin')],
    ['a group createdAt', (s) => void s.groups.set('g', { ...s.groups.get('g')!, createdAt: 1 })],
    ['a file sha1', (s) => void s.files.set('g\u0000a.txt', { ...s.files.get('g\u0000a.txt')!, sha1: '0'.repeat(40) })],
    ['a piece hash', (s) => void s.files.set('g\u0000a.txt', { ...s.files.get('g\u0000a.txt')!, pieceHashes: ['0'.repeat(40)] })],
    ['a file sharedAt', (s) => void s.files.set('g\u0000a.txt', { ...s.files.get('g\u0000a.txt')!, sharedAt: 1 })],
    ['a leecher becoming a seeder', (s) => void (s.files.get('g\u0000a.txt')!.swarm.get(`bob@${s.sessions.get('session-bob')!.peer}`)!.seeder = true)],
    ['a swarm member leaving', (s) => void s.files.get('g\u0000a.txt')!.swarm.clear()],
    ['a conflict reason', (s) => void s.conflicts.splice(0, 1, { ...s.conflicts[0]!, reason: 'other' })],
    ['one more conflict', (s) => void s.conflicts.push({ origin: 2, seq: 1, type: 'user_created', reason: 'x' })],
  ];

  test.each(changes)('given a state, when %s changes, then the hash changes', (_what, change) => {
    const base = foldAll(rich);
    const baseHash = stateHash(base);
    const copy = roundTrip(base);
    expect(stateHash(copy)).toBe(baseHash);
    change(copy);
    expect(stateHash(copy)).not.toBe(baseHash);
    expect(stateHash(base), 'the copy must not share anything with the base').toBe(baseHash);
  });

  test('given two equal states built with different Map insertion orders, when hashed, then the hashes are equal', () => {
    const a = foldAll(rich);
    const reversed = <K, V>(m: Map<K, V>): Map<K, V> => new Map([...m].reverse());
    const b: State = {
      ...a,
      users: reversed(a.users),
      sessions: reversed(a.sessions),
      groups: reversed(a.groups),
      files: new Map([...a.files].reverse().map(([k, f]) => [k, { ...f, swarm: reversed(f.swarm) }])),
    };
    expect([...b.users.keys()]).not.toEqual([...a.users.keys()]);
    expect([...b.sessions.keys()]).not.toEqual([...a.sessions.keys()]);
    expect([...b.files.values()][0]!.swarm.size).toBeGreaterThan(1);
    expect(stateHash(b)).toBe(stateHash(a));
  });

  test('given a state, when encoded to JSON and decoded, then the hash is the same and it folds on identically', () => {
    const original = foldAll(rich);
    const decoded = roundTrip(original);
    expect(stateHash(decoded)).toBe(stateHash(original));
    const more = [ev.memberLeft('g', 'alice'), ev.accepted('g', 'carol', 'bob'), ev.shareStopped('g', 'a.txt', 'alice'), ev.sessionLost('bob', 0)];
    foldAll(more, original);
    foldAll(more, decoded);
    expect(stateHash(decoded)).toBe(stateHash(original));
  });

  test('given a decoded copy, when it evolves, then the state it was encoded from does not change', () => {
    const original = foldAll(rich);
    const hash = stateHash(original);
    foldAll([ev.memberLeft('g', 'alice'), ev.sessionLost('bob', 0), ev.userCreated('bob')], decodeState(encodeState(original)));
    expect(stateHash(original)).toBe(hash);
  });

  test('given an encoded state of an unknown version, when decoded, then it is refused', () => {
    const encoded = { ...encodeState(initialState()), v: 1 } as unknown as EncodedState;
    expect(() => decodeState(encoded)).toThrow(/version/);
  });
});

// ---------------------------------------------------------------------------------------
// Seeded property test
// ---------------------------------------------------------------------------------------


type Rng = () => number;
const pick = <T>(rng: Rng, items: readonly T[]): T => items[Math.floor(rng() * items.length)]!;
function shuffled<T>(rng: Rng, items: readonly T[]): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(rng() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

interface Stamped extends EventPosition {
  readonly event: DomainEvent;
}

const key = (e: EventPosition): string => `${e.origin}/${e.seq}`;
const foldSorted = (events: readonly Stamped[], state: State = initialState()): State => {
  for (const e of [...events].sort(compareOrder)) evolve(state, e.event, e);
  return state;
};

/** A tracker in miniature: its own events, what it received, and the state folded from them. */
class Replica {
  readonly log: Stamped[] = [];
  private readonly held = new Set<string>();
  state = initialState();
  private last: EventPosition | undefined;
  private hlc = 0;
  private seq = 0;
  refolds = 0;

  constructor(
    readonly origin: number,
    private readonly skewMs: number,
  ) {}

  commit(events: readonly DomainEvent[], wallMs: number): void {
    for (const event of events) {
      this.hlc = nextHlc(this.hlc, wallMs + this.skewMs);
      const stamped = { origin: this.origin, seq: ++this.seq, hlc: this.hlc, event };
      const conflicts = this.state.conflicts.length;
      this.add(stamped);
      evolve(this.state, event, stamped);
      this.last = stamped;
      // decide saw this state, and a local event sorts after everything held: it must fold cleanly.
      expect(this.state.conflicts.slice(conflicts)).toEqual([]);
    }
  }

  /** Receives events (any origin, any order); re-folds from scratch when one sorts before the last folded. */
  receive(events: readonly Stamped[]): void {
    const fresh = events.filter((e) => !this.held.has(key(e))).sort(compareOrder);
    if (fresh.length === 0) return;
    for (const e of fresh) {
      this.add(e);
      this.hlc = observeHlc(this.hlc, e.hlc);
    }
    if (this.last && compareOrder(fresh[0]!, this.last) < 0) {
      this.state = foldSorted(this.log);
      this.refolds += 1;
    } else {
      for (const e of fresh) evolve(this.state, e.event, e);
    }
    this.last = [...this.log].sort(compareOrder).at(-1);
  }

  private add(e: Stamped): void {
    this.held.add(key(e));
    this.log.push(e);
  }
}

const USERS = ['alice', 'bob', 'carol', 'dave', 'erin'];
const GROUPS = ['g1', 'g2'];
const NAMES = ['a.txt', 'b.bin'];
const CONTENTS = ['v1', 'v2'];

/** A random command that is plausible in `state`; decide may still refuse it. */
function randomCommand(rng: Rng, state: State, nextSession: () => string): Command {
  const users = [...state.users.keys()];
  const r = rng();
  if (users.length === 0 || r < 0.1) return { type: 'create_user', data: { user: pick(rng, USERS), passwordHash: `h${Math.floor(rng() * 3)}` } };
  const actor = pick(rng, users);
  const peer = `10.0.${USERS.indexOf(actor)}.${1 + Math.floor(rng() * 2)}:7000`;
  const sessions = [...state.sessions.entries()];
  const files = [...state.files.values()];
  const pending = [...state.groups.entries()].filter(([, g]) => g.requests.length > 0);
  if (r < 0.2) return { type: 'login', data: { user: actor, session: nextSession(), peer } };
  if (r < 0.27 && sessions.length > 0) {
    const [session, s] = pick(rng, sessions);
    const kind = pick(rng, ['resume_session', 'lose_session', 'logout'] as const);
    if (kind === 'lose_session') return { type: kind, data: { session, epoch: rng() < 0.8 ? s.epoch : Math.max(0, s.epoch - 1) } };
    return { type: kind, data: { session } };
  }
  if (r < 0.35) return { type: 'create_group', data: { actor, group: pick(rng, GROUPS) } };
  if (r < 0.47) return { type: 'join_group', data: { actor, group: pick(rng, GROUPS) } };
  if (r < 0.57 && pending.length > 0) {
    const [group, g] = pick(rng, pending);
    const type = rng() < 0.75 ? 'accept_request' : 'reject_request';
    return { type, data: { actor: g.owner, group, user: pick(rng, g.requests) } };
  }
  if (r < 0.62) return { type: 'leave_group', data: { actor, group: pick(rng, GROUPS) } };
  if (r < 0.8) {
    const name = pick(rng, NAMES);
    return { type: 'upload_file', data: { actor, peer, group: pick(rng, GROUPS), name, ...fileShape(`${name}:${pick(rng, CONTENTS)}`, 1000) } };
  }
  if (files.length > 0) {
    const file = pick(rng, files);
    const holders = [...file.swarm.values()];
    if (rng() < 0.5 && holders.length > 0) {
      const m = pick(rng, holders);
      return { type: 'stop_share', data: { actor: m.user, peer: m.peer, group: file.group, name: file.name } };
    }
    return { type: 'join_swarm', data: { actor, peer, group: file.group, name: file.name } };
  }
  return { type: 'join_group', data: { actor, group: pick(rng, GROUPS) } };
}

interface Run {
  readonly events: Stamped[];
  readonly replicas: Replica[];
}

/** Three trackers, random commands, random partial exchanges, then a full exchange. */
function simulate(seed: number, steps: number): Run {
  const rng = mulberry32(seed);
  const replicas = [new Replica(1, 0), new Replica(2, 0), new Replica(3, -2)];
  let wall = 1_700_000_000_000;
  let sessions = 0;
  const nextSession = (): string => `s${seed}-${++sessions}`;
  const deliver = (from: Replica, to: Replica, limit: number): void => {
    // Replication streams each origin's events in seq order: deliver a prefix of what `from` holds.
    const byOrigin = new Map<number, Stamped[]>();
    for (const e of from.log) byOrigin.set(e.origin, [...(byOrigin.get(e.origin) ?? []), e]);
    const batch = [...byOrigin.values()].flatMap((es) => es.sort((a, b) => a.seq - b.seq).slice(0, limit));
    to.receive(shuffled(rng, batch));
  };
  for (let step = 0; step < steps; step++) {
    if (rng() < 0.5) wall += 1;
    if (rng() < 0.15) {
      const [from, to] = shuffled(rng, replicas);
      deliver(from!, to!, 1 + Math.floor(rng() * 40));
      continue;
    }
    const replica = pick(rng, replicas);
    const decision = decide(replica.state, randomCommand(rng, replica.state, nextSession));
    if (decision.ok) replica.commit(decision.events, wall);
  }
  for (const to of replicas) for (const from of replicas) if (from !== to) deliver(from, to, Infinity);
  const events = replicas.flatMap((r) => r.log.filter((e) => e.origin === r.origin));
  return { events, replicas };
}

describe('property: fold in (hlc, origin, seq) order is independent of arrival order', () => {
  const SEEDS = [1, 2, 3, 5, 8, 13, 21, 34, 55, 89];
  const runs = SEEDS.map((seed) => [seed, simulate(seed, 300)] as const);

  test.each(runs)('seed %i: every arrival order, sorted then folded, gives one hash', (seed, { events }) => {
    const rng = mulberry32(seed * 7919);
    const reference = stateHash(foldSorted(events));
    for (let i = 0; i < 8; i++) {
      // Fresh copies each time: folding must not depend on object identity or on earlier folds.
      const arrived = shuffled(rng, events).map((e) => ({ ...e, event: JSON.parse(JSON.stringify(e.event)) as DomainEvent }));
      expect(stateHash(foldSorted(arrived))).toBe(reference);
    }
  });

  test.each(runs)('seed %i: replicas that folded as events arrived (re-folding when late) converge', (_seed, { events, replicas }) => {
    const reference = stateHash(foldSorted(events));
    for (const r of replicas) {
      expect(r.log).toHaveLength(events.length);
      expect(stateHash(r.state)).toBe(reference);
    }
  });

  test.each(runs)('seed %i: encode/decode round-trips, and a snapshot taken anywhere folds on to the same hash', (seed, { events }) => {
    const rng = mulberry32(seed * 104729);
    const sorted = [...events].sort(compareOrder);
    const full = foldSorted(sorted);
    expect(stateHash(roundTrip(full))).toBe(stateHash(full));
    for (let i = 0; i < 4; i++) {
      const cut = Math.floor(rng() * sorted.length);
      const resumed = roundTrip(foldSorted(sorted.slice(0, cut)));
      for (const e of sorted.slice(cut)) evolve(resumed, e.event, e);
      expect(stateHash(resumed)).toBe(stateHash(full));
    }
  });

  test('the simulation exercises what it claims: many event types, conflicts, hlc ties across origins, late arrivals', () => {
    const all = runs.flatMap(([, run]) => run.events);
    const types = new Set(all.map((e) => e.event.type));
    const conflicts = runs.reduce((n, [, run]) => n + foldSorted(run.events).conflicts.length, 0);
    const ties = runs.filter(([, run]) => {
      const seen = new Map<number, number>();
      return run.events.some((e) => (seen.has(e.hlc) && seen.get(e.hlc) !== e.origin) || (seen.set(e.hlc, e.origin), false));
    }).length;
    const refolds = runs.reduce((n, [, run]) => n + run.replicas.reduce((m, r) => m + r.refolds, 0), 0);
    expect(types.size).toBeGreaterThanOrEqual(12);
    expect(all.length).toBeGreaterThan(1000);
    expect(conflicts).toBeGreaterThan(0);
    expect(ties).toBeGreaterThan(0);
    expect(refolds).toBeGreaterThan(0);
  });
});
