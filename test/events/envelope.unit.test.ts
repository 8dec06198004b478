/**
 * The envelope is what travels between trackers and sits on disk. checkEnvelope is the
 * gate before anything folds it: any tampered byte, broken field or off-schema data is
 * refused with a reason. compareOrder is the one total order of the fold.
 */
import { describe, expect, test } from 'vitest';
import {
  checkEnvelope,
  compareOrder,
  EVENT_TYPES,
  GENESIS_PREV,
  openEnvelope,
  seal,
  type DomainEvent,
  type Envelope,
  type EventType,
} from '../../src/events/index.js';
import { ev } from '../helpers/fixtures.js';

const HLC = 1_700_000_000_000_000;
const HEX = (c: string): string => c.repeat(64);

/** A sealed envelope, by default alice's user_created as the first event of origin 1. */
function sealed(over: Partial<Omit<Envelope, 'hash'>> = {}, data: unknown = { user: 'alice', passwordHash: 'scrypt:x' }): Envelope {
  return seal({ origin: 1, seq: 1, hlc: HLC, type: 'user_created', data: JSON.stringify(data), prev: GENESIS_PREV, idem: null, ...over });
}

const expectRejected = (envelope: unknown, reason: RegExp): void => {
  const problem = checkEnvelope(envelope);
  expect(problem).toBeTypeOf('string');
  expect(problem).toMatch(reason);
};

const oneOfEach: Record<EventType, DomainEvent> = {
  user_created: ev.userCreated('alice'),
  session_started: ev.sessionStarted('alice'),
  session_resumed: ev.sessionResumed('alice', 1),
  session_lost: ev.sessionLost('alice', 0),
  session_ended: ev.sessionEnded('alice'),
  group_created: ev.groupCreated('g', 'alice'),
  join_requested: ev.joinRequested('g', 'bob'),
  join_request_accepted: ev.accepted('g', 'bob', 'alice'),
  join_request_rejected: ev.rejected('g', 'bob', 'alice'),
  member_left: ev.memberLeft('g', 'bob'),
  file_shared: ev.fileShared('g', 'a.txt', 'alice'),
  share_stopped: ev.shareStopped('g', 'a.txt', 'alice'),
  swarm_joined: ev.swarmJoined('g', 'a.txt', 'bob'),
};

describe('seal / checkEnvelope: well-formed envelopes pass', () => {
  test('the sample covers every event type', () => {
    expect(Object.keys(oneOfEach).sort()).toEqual([...EVENT_TYPES].sort());
  });

  test.each(Object.values(oneOfEach))('given a sealed $type, when checked, then it passes and opens to the same event', (event) => {
    const envelope = sealed({ type: event.type, seq: 2, prev: HEX('a'), idem: 'req-1' }, event.data);
    expect(checkEnvelope(envelope)).toBeUndefined();
    expect(openEnvelope(envelope)).toEqual(event);
  });

  test('given an envelope that went through JSON (as over the wire), when checked, then it passes', () => {
    expect(checkEnvelope(JSON.parse(JSON.stringify(sealed())))).toBeUndefined();
  });
});

describe('seal / checkEnvelope: tampering is detected', () => {
  test('given a sealed envelope, when any single byte of its data is flipped, then it is rejected', () => {
    const good = sealed();
    const bytes = Buffer.from(good.data, 'utf8');
    for (let i = 0; i < bytes.length; i++) {
      const flipped = Buffer.from(bytes);
      flipped[i] = flipped[i]! ^ 0x01;
      expectRejected({ ...good, data: flipped.toString('utf8') }, /hash does not match|not valid JSON/);
    }
    expectRejected({ ...good, data: good.data.replace('alice', 'alicf') }, /hash does not match the content/);
  });

  test.each([
    ['origin', { origin: 2 }],
    ['seq', { seq: 2, prev: HEX('a') }],
    ['hlc', { hlc: HLC + 1 }],
    ['type', { type: 'member_left' as const }],
    ['prev', { seq: 3, prev: HEX('b') }],
    ['idem', { idem: 'someone-else' }],
  ])('given a sealed envelope, when its %s is changed without resealing, then the hash does not match', (_field, change) => {
    const good = sealed({ seq: 3, prev: HEX('a') });
    expectRejected({ ...good, ...change }, /hash does not match the content/);
  });

  test('given a sealed envelope, when its hash is changed, then it is rejected', () => {
    const good = sealed();
    const other = good.hash.startsWith('0') ? `1${good.hash.slice(1)}` : `0${good.hash.slice(1)}`;
    expectRejected({ ...good, hash: other }, /hash does not match the content/);
    expectRejected({ ...good, hash: good.hash.toUpperCase() }, /bad hash/);
    expectRejected({ ...good, hash: good.hash.slice(1) }, /bad hash/);
  });
});

describe('seal / checkEnvelope: broken envelopes are refused with a reason (even when sealed)', () => {
  test.each([
    ['a non-empty prev for seq 1', sealed({ seq: 1, prev: HEX('a') }), /bad prev hash/],
    ['an empty prev after seq 1', sealed({ seq: 2, prev: GENESIS_PREV }), /bad prev hash/],
    ['a prev that is not hex', sealed({ seq: 2, prev: 'z'.repeat(64) }), /bad prev hash/],
    ['an unknown type', sealed({ type: 'user_deleted' as EventType }), /unknown event type user_deleted/],
    ['origin 0', sealed({ origin: 0 }), /origin/],
    ['a fractional seq', sealed({ seq: 1.5 }), /seq/],
    ['seq 0', sealed({ seq: 0 }), /seq/],
    ['hlc 0', sealed({ hlc: 0 }), /hlc/],
    ['an idempotency key that is too long', sealed({ idem: 'k'.repeat(201) }), /idempotency/],
  ])('given %s, when checked, then it is rejected', (_what, envelope, reason) => {
    expectRejected(envelope, reason);
  });

  test.each([
    ['null', null, /not an object/],
    ['a string', 'event', /not an object/],
    ['an origin given as a string', { ...sealed(), origin: '1' }, /origin/],
    ['data given as an object', { ...sealed(), data: { user: 'alice' } }, /JSON text/],
    ['a missing idem', (({ idem: _idem, ...rest }) => rest)(sealed()), /idempotency/],
    ['an idem that is a number', { ...sealed(), idem: 7 }, /idempotency/],
    ['a missing hash', (({ hash: _hash, ...rest }) => rest)(sealed()), /bad hash/],
  ])('given %s, when checked, then it is rejected', (_what, envelope, reason) => {
    expectRejected(envelope, reason);
  });

  test('given data over 1 MiB, when checked, then it is rejected before hashing', () => {
    expectRejected(sealed({}, { user: 'alice', passwordHash: 'x'.repeat(1024 * 1024) }), /JSON text/);
  });

  test.each([
    ['not JSON', '{user: alice}', /not valid JSON/],
    ['an array', '[]', /must be an object/],
    ['null', 'null', /must be an object/],
    ['a number', '42', /must be an object/],
  ])('given data that is %s, when checked, then it is rejected', (_what, data, reason) => {
    expectRejected(seal({ ...sealed(), data }), reason);
  });

  test.each(['admin', 'constructor', 'toString', '__proto__', 'hasOwnProperty'])(
    'given user_created data with an extra field %j, when checked, then it is rejected',
    (field) => {
      const data = `{"user":"alice","passwordHash":"x",${JSON.stringify(field)}:true}`;
      expectRejected(seal({ ...sealed(), data }), new RegExp(`unexpected field ${field}`));
    },
  );

  test.each([
    ['user_created', { user: 42, passwordHash: 'x' }, /field user must be a string/],
    ['user_created', { passwordHash: 'x' }, /field user must be a string/],
    ['session_resumed', { session: 's', epoch: '1' }, /field epoch must be an integer/],
    ['session_resumed', { session: 's', epoch: -1 }, /field epoch must be an integer/],
    ['session_lost', { session: 's', epoch: 0.5 }, /field epoch must be an integer/],
    ['file_shared', { ...oneOfEach.file_shared.data, size: '10' }, /field size must be an integer/],
    ['file_shared', { ...oneOfEach.file_shared.data, pieceHashes: 'abc' }, /field pieceHashes must be a list of strings/],
    ['file_shared', { ...oneOfEach.file_shared.data, pieceHashes: ['a', 1] }, /field pieceHashes must be a list of strings/],
    ['group_created', { group: 'g', owner: null }, /field owner must be a string/],
  ] as const)('given %s data %j, when checked, then the wrong field type is named', (type, data, reason) => {
    expectRejected(sealed({ type }, data), reason);
  });
});

describe('compareOrder', () => {
  test('hlc decides first, then origin, then seq', () => {
    expect(compareOrder({ hlc: 1, origin: 2, seq: 9 }, { hlc: 2, origin: 1, seq: 1 })).toBeLessThan(0);
    expect(compareOrder({ hlc: 5, origin: 1, seq: 9 }, { hlc: 5, origin: 2, seq: 1 })).toBeLessThan(0);
    expect(compareOrder({ hlc: 5, origin: 1, seq: 1 }, { hlc: 5, origin: 1, seq: 2 })).toBeLessThan(0);
    expect(compareOrder({ hlc: 2, origin: 1, seq: 1 }, { hlc: 1, origin: 2, seq: 9 })).toBeGreaterThan(0);
    expect(compareOrder({ hlc: 5, origin: 2, seq: 1 }, { hlc: 5, origin: 1, seq: 9 })).toBeGreaterThan(0);
    expect(compareOrder({ hlc: 5, origin: 1, seq: 3 }, { hlc: 5, origin: 1, seq: 3 })).toBe(0);
  });

  test('given realistic hlc values one tick apart, when compared, then the order is exact', () => {
    expect(compareOrder({ hlc: HLC + 1, origin: 1, seq: 1 }, { hlc: HLC, origin: 2, seq: 2 })).toBeGreaterThan(0);
  });

  test('given positions in any order, when sorted, then they come out in (hlc, origin, seq) order', () => {
    const expected = [
      { hlc: 1, origin: 1, seq: 1 },
      { hlc: 1, origin: 1, seq: 2 },
      { hlc: 1, origin: 2, seq: 1 },
      { hlc: 2, origin: 1, seq: 3 },
      { hlc: 2, origin: 3, seq: 1 },
      { hlc: 3, origin: 2, seq: 2 },
    ];
    for (const shuffledOrder of [[5, 3, 1, 4, 0, 2], [2, 0, 4, 1, 3, 5], [5, 4, 3, 2, 1, 0]]) {
      expect(shuffledOrder.map((i) => expected[i]!).sort(compareOrder)).toEqual(expected);
    }
  });
});
