/**
 * evolve is total: every event in every state gives a defined result. An event whose
 * preconditions do not hold when folded (it lost a race during a partition) changes
 * nothing but the event count, and is recorded as a conflict naming origin, seq and type.
 */
import { describe, expect, test } from 'vitest';
import { EVENT_TYPES, encodeState, evolve, hlcToMs, initialState, type DomainEvent, type EventType, type State } from '../../src/events/index.js';
import { BASE_MS, foldAll } from '../helpers/decider.js';
import { aliceOwnsG, bobInG, ev, fileShape } from '../helpers/fixtures.js';

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
    expect({ ...now, eventCount: was.eventCount, conflicts: was.conflicts }).toEqual(was);
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
