/**
 * evolve is total: every event in every state gives a defined result. An event whose
 * preconditions do not hold when folded (it lost a race during a partition) changes
 * nothing but the event count, and is recorded as a conflict naming origin, seq and type.
 */
import { describe, expect, test } from 'vitest';
import {
  accountOf,
  COMMAND_MEMORY_MS,
  decide,
  decodeState,
  EVENT_TYPES,
  encodeState,
  evolve,
  hlcToMs,
  initialState,
  stateHash,
  type DomainEvent,
  type EventType,
  type State,
} from '../../src/events/index.js';
import { BASE_MS, foldAll } from '../helpers/decider.js';
import { aliceOwnsG, bobInG, cmd, ev, fileShape } from '../helpers/fixtures.js';

/** A position from another tracker, so a conflict visibly names it. */
const LATE = { origin: 2, seq: 42, hlc: (BASE_MS + 10_000) * 1000 };

const snapshotOf = (state: State) => JSON.parse(JSON.stringify(encodeState(state))) as ReturnType<typeof encodeState>;

const shared = [...bobInG, ev.fileShared('g', 'a.txt', 'alice'), ev.sessionStarted('alice')];

const conflicting: [string, readonly DomainEvent[], DomainEvent][] = [
  ['a second user_created for a taken name', [ev.userCreated('alice', 'first')], ev.userCreated('alice', 'second')],
  ['group_created for a group that exists', aliceOwnsG, ev.groupCreated('g', 'bob')],
  ['group_created by an unknown user', aliceOwnsG, ev.groupCreated('h', 'zed')],
  ['file_shared with a different sha1 under a taken name', shared, ev.fileShared('g', 'a.txt', 'bob', fileShape('other'))],
  ['file_shared by a non-member', shared, ev.fileShared('g', 'c.txt', 'carol')],
  ['file_shared into an unknown group', shared, ev.fileShared('nope', 'c.txt', 'alice')],
  ['session_started for an unknown user', shared, ev.sessionStarted('zed')],
  ['session_started reusing a session id', shared, ev.sessionStarted('bob', 'session-alice')],
  ['session_resumed for an unknown session', shared, ev.sessionResumed('bob', 1)],
  ['join_requested to an unknown group', shared, ev.joinRequested('nope', 'carol')],
  ['join_requested by a member', shared, ev.joinRequested('g', 'bob')],
  ['join_requested twice', [...shared, ev.joinRequested('g', 'carol')], ev.joinRequested('g', 'carol')],
  ['join_request_accepted in an unknown group', shared, ev.accepted('nope', 'carol', 'alice')],
  ['join_request_accepted by a non-owner', [...shared, ev.joinRequested('g', 'carol')], ev.accepted('g', 'carol', 'bob')],
  ['join_request_accepted with no pending request', shared, ev.accepted('g', 'carol', 'alice')],
  ['join_request_rejected by a non-owner', [...shared, ev.joinRequested('g', 'carol')], ev.rejected('g', 'carol', 'bob')],
  ['member_left from an unknown group', shared, ev.memberLeft('nope', 'bob')],
  ['member_left by a non-member', shared, ev.memberLeft('g', 'carol')],
  ['share_stopped by someone not sharing', shared, ev.shareStopped('g', 'a.txt', 'bob')],
  ['share_stopped for an unknown file', shared, ev.shareStopped('g', 'b.txt', 'alice')],
  ['swarm_joined for an unknown file', shared, ev.swarmJoined('g', 'b.txt', 'bob')],
  ['swarm_joined by a non-member', shared, ev.swarmJoined('g', 'a.txt', 'carol')],
  ['an unknown event type', shared, { type: 'user_deleted', data: { user: 'alice' } } as unknown as DomainEvent],
];

describe('conflicting events are recorded no-ops', () => {
  test.each(conflicting)('given a state, when %s is folded, then only eventCount and conflicts change', (_what, before, event) => {
    const state = foldAll(before);
    const was = snapshotOf(state);

    const result = evolve(state, event, LATE);

    const now = snapshotOf(result);
    expect(now.eventCount).toBe(was.eventCount + 1);
    expect(now.conflicts).toEqual([...was.conflicts, { origin: 2, seq: 42, type: event.type, reason: expect.stringMatching(/\S/) }]);
    // a name claimed a second time is noted, so the losing account's later events are checked
    expect(now.claimedTwice).toEqual(event.type === 'user_created' ? ['alice'] : []);
    expect({ ...now, eventCount: was.eventCount, conflicts: was.conflicts, claimedTwice: was.claimedTwice }).toEqual(was);
  });

  test('given alice exists, when a second user_created for alice is folded, then the first password is kept', () => {
    const state = foldAll([ev.userCreated('alice', 'first'), ev.userCreated('alice', 'second')]);
    expect(state.users.get('alice')?.passwordHash).toBe('first');
    expect(state.conflicts).toEqual([{ origin: 1, seq: 2, type: 'user_created', reason: expect.stringContaining('alice') }]);
  });

  test('given g exists, when group_created g arrives again, then the first owner is kept', () => {
    const state = foldAll([...aliceOwnsG, ev.groupCreated('g', 'bob')]);
    expect(state.groups.get('g')).toMatchObject({ owner: 'alice', members: ['alice'] });
  });

  test('given several conflicts, when folded, then they are listed in fold order', () => {
    const state = foldAll([ev.userCreated('alice'), ev.userCreated('alice'), ev.groupCreated('g', 'zed'), ev.userCreated('alice')]);
    expect(state.conflicts.map((c) => [c.seq, c.type])).toEqual([
      [2, 'user_created'],
      [3, 'group_created'],
      [4, 'user_created'],
    ]);
  });
});

/** The same event as made by another account of the same name (one that lost it in a partition). */
const byAccount = (event: DomainEvent, account: string): DomainEvent => ({ ...event, data: { ...event.data, account } }) as DomainEvent;

describe('a name belongs to its first account', () => {
  const loser = accountOf('the second eve');
  /** Two trackers each created eve in a partition; the fold keeps the first (this file's fixture account). */
  const twoEves = [ev.userCreated('eve'), ev.userCreated('carol'), ev.userCreated('eve', 'the second eve')];

  test.each([
    ['session_started', ev.sessionStarted('eve')],
    ['group_created', ev.groupCreated('h', 'eve')],
    ['join_requested', ev.joinRequested('g', 'eve')],
    ['member_left', ev.memberLeft('g', 'eve')],
    ['file_shared', ev.fileShared('g', 'e.txt', 'eve')],
    ['share_stopped', ev.shareStopped('g', 'a.txt', 'eve')],
    ['swarm_joined', ev.swarmJoined('g', 'a.txt', 'eve')],
  ])('given eve owned by her first account, when %s of the losing account is folded, then it is a conflict and changes nothing', (_type, event) => {
    const state = foldAll([...twoEves, ...aliceOwnsG, ev.joinRequested('g', 'eve'), ev.accepted('g', 'eve', 'alice'), ev.fileShared('g', 'a.txt', 'eve')]);
    const was = snapshotOf(state);
    evolve(state, byAccount(event, loser), LATE);
    const now = snapshotOf(state);
    expect(now.conflicts.at(-1)).toEqual({ origin: 2, seq: 42, type: event.type, reason: expect.stringContaining('lost the name') });
    expect({ ...now, eventCount: was.eventCount, conflicts: was.conflicts }).toEqual(was);
  });

  test("given the losing eve's session asked to accept gina into the winner's group, when folded, then gina is not let in", () => {
    // QA round 2: the loser's accept_request let a stranger into the winning account's group.
    const state = foldAll([...twoEves, ev.userCreated('gina'), ev.groupCreated('gx', 'eve'), ev.joinRequested('gx', 'gina')]);
    evolve(state, byAccount(ev.accepted('gx', 'gina', 'eve'), loser), LATE);
    expect(state.groups.get('gx')).toMatchObject({ owner: 'eve', members: ['eve'], requests: ['gina'] });
    foldAll([ev.accepted('gx', 'gina', 'eve')], state); // the winner's own accept still works
    expect(state.groups.get('gx')!.members).toEqual(['eve', 'gina']);
  });

  test('given events from before accounts (no account field), when folded, then they act by name as they always did', () => {
    const { account: _dropped, ...old } = ev.groupCreated('h', 'eve').data as { account?: string };
    const state = foldAll([...twoEves, { type: 'group_created', data: old } as DomainEvent]);
    expect(state.groups.get('h')?.owner).toBe('eve');
    expect(state.conflicts.map((c) => c.type)).toEqual(['user_created']);
  });

  test('given eve, when her commands are decided, then their events name her account', () => {
    const state = foldAll([...twoEves, ...aliceOwnsG]);
    const decision = decide(state, cmd.joinGroup('eve', 'g'));
    expect(decision).toEqual({ ok: true, events: [{ type: 'join_requested', data: { group: 'g', user: 'eve', account: state.users.get('eve')!.account } }] });
  });

  test('given the password was checked against the losing account, when the login is decided, then it is refused', () => {
    const state = foldAll(twoEves);
    const login = { type: 'login', data: { user: 'eve', session: 's1', peer: '10.0.0.1:7000', account: loser } } as const;
    expect(decide(state, login)).toMatchObject({ ok: false, rejection: { code: 'WRONG_PASSWORD' } });
    const winner = { ...login, data: { ...login.data, account: state.users.get('eve')!.account } };
    expect(decide(state, winner)).toMatchObject({ ok: true });
  });
});

describe('a retried command applies once', () => {
  /** Where an event of a command with key `idem` sits: `ms` after BASE_MS. */
  const at = (origin: number, seq: number, ms: number, idem: string) => ({ origin, seq, hlc: (BASE_MS + ms) * 1000, idem });

  test('given create_group g applied from tracker 1 and then left, when tracker 2 folds its copy of the same command, then g does not come back', () => {
    // QA round 2: a stalled tracker ran a create_group its client had already retried on the twin.
    const state = foldAll([ev.userCreated('alice')]);
    evolve(state, ev.groupCreated('g', 'alice'), at(1, 2, 10, 'key-create'));
    evolve(state, ev.memberLeft('g', 'alice'), at(1, 3, 20, 'key-leave'));
    evolve(state, ev.groupCreated('g', 'alice'), at(2, 1, 30, 'key-create'));
    expect(state.groups.has('g')).toBe(false);
    expect(state.conflicts).toEqual([{ origin: 2, seq: 1, type: 'group_created', reason: 'a retry of a command already applied (event 1/2)' }]);
  });

  test('given one run of a command with two events, when folded, then both apply', () => {
    const state = foldAll([]);
    evolve(state, ev.userCreated('alice'), at(1, 1, 1, 'key-1'));
    evolve(state, ev.groupCreated('g', 'alice'), at(1, 2, 1, 'key-1'));
    expect(state.groups.has('g')).toBe(true);
    expect(state.conflicts).toEqual([]);
  });

  test('given events without a key, when folded, then none is taken for a retry', () => {
    const state = foldAll([ev.userCreated('alice'), ...[1, 2, 3].map(() => ev.sessionLost('alice', 0))]);
    expect(state.commands.size).toBe(0);
    expect(state.conflicts).toEqual([]);
  });

  test(`given a key older than COMMAND_MEMORY_MS (${COMMAND_MEMORY_MS / 60_000} min), when a later event is folded, then it is forgotten`, () => {
    const state = foldAll([ev.userCreated('alice')]);
    evolve(state, ev.groupCreated('g', 'alice'), at(1, 2, 10, 'old'));
    evolve(state, ev.groupCreated('h', 'alice'), at(1, 3, 10 + COMMAND_MEMORY_MS - 1, 'young'));
    expect([...state.commands.keys()]).toEqual(['old', 'young']);
    evolve(state, ev.memberLeft('h', 'alice'), at(1, 4, 10 + COMMAND_MEMORY_MS, 'newest'));
    expect([...state.commands.keys()]).toEqual(['young', 'newest']);
  });

  test('given remembered keys, when the state is encoded and decoded, then a fold from the copy decides retries the same way', () => {
    const state = foldAll([ev.userCreated('alice')]);
    evolve(state, ev.groupCreated('g', 'alice'), at(1, 2, 10, 'k1'));
    evolve(state, ev.groupCreated('h', 'alice'), at(1, 3, 20, 'k2'));
    const copy = decodeState(JSON.parse(JSON.stringify(encodeState(state))) as ReturnType<typeof encodeState>);
    for (const s of [state, copy]) {
      evolve(s, ev.groupCreated('g', 'alice'), at(2, 1, 30, 'k1'));
      evolve(s, ev.memberLeft('h', 'alice'), at(2, 2, 10 + COMMAND_MEMORY_MS, 'k3'));
    }
    expect(stateHash(copy)).toBe(stateHash(state));
    expect([...copy.commands.keys()]).toEqual(['k2', 'k3']);
    expect(copy.conflicts.map((c) => c.seq)).toEqual([1]);
  });
});

describe('harmless late events are no-ops without a conflict', () => {
  test.each([
    ['session_lost for a session that ended', ev.sessionLost('bob', 0)],
    ['session_ended for a session that ended', ev.sessionEnded('bob')],
  ])('given no such session, when %s is folded, then nothing but eventCount changes', (_what, event) => {
    const state = foldAll(shared);
    const was = snapshotOf(state);
    evolve(state, event, LATE);
    expect(snapshotOf(state)).toEqual({ ...was, eventCount: was.eventCount + 1 });
  });
});

describe('evolve is total and deterministic', () => {
  /** One schema-valid event of every type, with names that may or may not exist. */
  const oneOfEach: Record<EventType, DomainEvent> = {
    user_created: ev.userCreated('alice'),
    session_started: ev.sessionStarted('alice'),
    session_resumed: ev.sessionResumed('alice', 3),
    session_lost: ev.sessionLost('alice', 3),
    session_ended: ev.sessionEnded('alice'),
    group_created: ev.groupCreated('g', 'alice'),
    join_requested: ev.joinRequested('g', 'bob'),
    join_request_accepted: ev.accepted('g', 'bob', 'alice'),
    join_request_rejected: ev.rejected('g', 'carol', 'alice'),
    member_left: ev.memberLeft('g', 'alice'),
    file_shared: ev.fileShared('g', 'a.txt', 'bob'),
    share_stopped: ev.shareStopped('g', 'a.txt', 'bob'),
    swarm_joined: ev.swarmJoined('g', 'a.txt', 'carol'),
  };

  test('the sample covers every event type', () => {
    expect(Object.keys(oneOfEach).sort()).toEqual([...EVENT_TYPES].sort());
  });

  test.each([
    ['the empty state', [] as DomainEvent[]],
    ['a populated state', shared],
  ])('given %s, when every event type is folded in every order tried, then nothing throws and each counts once', (_what, before) => {
    const events = Object.values(oneOfEach);
    for (let rotation = 0; rotation < events.length; rotation++) {
      const order = [...events.slice(rotation), ...events.slice(0, rotation)];
      const state = foldAll(before);
      const count = state.eventCount;
      expect(() => foldAll(order, state)).not.toThrow();
      expect(state.eventCount).toBe(count + events.length);
    }
  });

  test('given the same events, when folded twice into fresh states, then the states are equal', () => {
    const events = [...shared, ...Object.values(oneOfEach)];
    expect(snapshotOf(foldAll(events))).toEqual(snapshotOf(foldAll(events)));
  });

  test('given an event, when folded, then its hlc (not the wall clock) is the time recorded', () => {
    const state = initialState();
    evolve(state, ev.userCreated('alice'), { origin: 1, seq: 1, hlc: 1_234_567_890_123_456 });
    expect(state.users.get('alice')?.createdAt).toBe(1_234_567_890_123);
    expect(hlcToMs(1_234_567_890_123_456)).toBe(1_234_567_890_123);
  });

  test('given an event, when folded, then the event itself is not changed', () => {
    const events = [...shared, ev.swarmJoined('g', 'a.txt', 'bob'), ev.fileShared('g', 'a.txt', 'bob'), ev.memberLeft('g', 'alice')];
    const copy = JSON.parse(JSON.stringify(events)) as unknown;
    foldAll(events);
    expect(events).toEqual(copy);
  });
});
