/**
 * The replication link's parser: every frame is checked before the link acts on it, and
 * anything out of shape is BAD_FRAME (the link then drops the sender).
 */
import { describe, expect, test } from 'vitest';
import { GENESIS_PREV, seal, type Envelope } from '../../src/events/envelope.js';
import { authTranscript, encodeMessage, MAX_BATCH_EVENTS, MAX_ORIGINS, parseMessage } from '../../src/events/replication/protocol.js';

const chain = (origin: number, n: number): Envelope[] => {
  const out: Envelope[] = [];
  let prev = GENESIS_PREV;
  for (let seq = 1; seq <= n; seq++) {
    const e = seal({ origin, seq, hlc: 1_000_000 + seq, type: 'user_created', data: JSON.stringify({ user: `u${seq}`, passwordHash: 'h' }), prev, idem: seq === 1 ? 'k1' : null });
    prev = e.hash;
    out.push(e);
  }
  return out;
};

const state = { t: 'state', at: { hlc: 9, origin: 2, seq: 4 }, count: 7, hash: 'a'.repeat(64), tips: [[1, 3, 'b'.repeat(64)], [2, 4, 'c'.repeat(64)]], part: 1, parts: 2, text: '"users":[]}' } as const;
const stateWith = (change: Record<string, unknown>) => JSON.stringify({ ...state, ...change });

describe('replication protocol', () => {
  test('every message survives encode then parse', () => {
    const challenge = 'a'.repeat(43);
    const messages = [
      { t: 'hello', v: 1, tracker: 2, challenge },
      { t: 'hello', v: 1, tracker: 2, challenge, ack: 'write' },
      { t: 'hello', v: 1, tracker: 2, challenge, ack: 'flush' },
      { t: 'hello', v: 1, tracker: 2, challenge, clock: 1_764_000_000_000 },
      { t: 'hello', v: 1, tracker: 2, challenge, ack: 'write', clock: 1_764_000_000_000 },
      { t: 'hello', v: 1, tracker: 2, challenge, states: true },
      { t: 'auth', proof: 'xyz' },
      { t: 'marks', marks: new Map([[1, 10], [2, 0]]) },
      { t: 'events', events: chain(1, 3) },
      { t: 'events', events: chain(2, 2), at: 1234.5 },
      { t: 'ack', marks: new Map([[1, 3]]) },
      { t: 'refused', code: 'AUTH_FAILED', message: 'no' },
      state,
    ] as const;
    for (const m of messages) expect(parseMessage(encodeMessage(m))).toEqual({ ok: true, message: m });
  });

  test.each([
    ['not JSON', '{'],
    ['not an object', '[1]'],
    ['an unknown type', '{"t":"gossip"}'],
    ['a short challenge', '{"t":"hello","v":1,"tracker":1,"challenge":"abc"}'],
    ['a tracker id that is not a number', `{"t":"hello","v":1,"tracker":"1","challenge":"${'a'.repeat(43)}"}`],
    ['a hello asking for an unknown ack', `{"t":"hello","v":1,"tracker":1,"challenge":"${'a'.repeat(43)}","ack":"never"}`],
    ['a hello whose clock is not a number', `{"t":"hello","v":1,"tracker":1,"challenge":"${'a'.repeat(43)}","clock":"now"}`],
    ['a hello whose clock is not a whole ms count', `{"t":"hello","v":1,"tracker":1,"challenge":"${'a'.repeat(43)}","clock":-5}`],
    ['marks with a bad origin', '{"t":"marks","marks":{"x":1}}'],
    ['marks with a negative seq', '{"t":"marks","marks":{"1":-1}}'],
    ['an empty batch', '{"t":"events","events":[]}'],
    ['an envelope as an object', '{"t":"events","events":[{"origin":1}]}'],
    ['an envelope with 7 fields', '{"t":"events","events":[[1,1,1,"user_created","{}",""," h"]]}'],
    ['a seq gap within an origin', JSON.stringify({ t: 'events', events: [chain(1, 3)[0], chain(1, 3)[2]].map((e) => [e!.origin, e!.seq, e!.hlc, e!.type, e!.data, e!.prev, e!.hash, e!.idem]) })],
    ['a bad at', encodeMessage({ t: 'events', events: chain(1, 1) }).replace('"events":', '"at":"now","events":')],
    ['a hello whose states is not true', `{"t":"hello","v":1,"tracker":1,"challenge":"${'a'.repeat(43)}","states":1}`],
    ['a state whose at is not one of its tips', stateWith({ at: { hlc: 9, origin: 2, seq: 3 } })],
    ['a state whose hash is not 64 hex digits', stateWith({ hash: 'A'.repeat(64) })],
    ['a state with two tips for one origin', stateWith({ tips: [[2, 4, 'c'.repeat(64)], [2, 4, 'c'.repeat(64)]] })],
    ['a state without tips', stateWith({ tips: [] })],
    ['a state part past its parts', stateWith({ part: 2 })],
    ['a state in too many parts', stateWith({ parts: 1025 })],
    ['a state part too long', stateWith({ text: 'x'.repeat(1024 * 1024 + 1) })],
  ])('refuses %s', (_what, text) => {
    expect(parseMessage(text)).toMatchObject({ ok: false, code: 'BAD_FRAME' });
  });

  test('bounds: batch size and origin count', () => {
    const row = [1, 1, 1, 'user_created', '{}', '', 'h', null];
    const big = { t: 'events', events: Array.from({ length: MAX_BATCH_EVENTS + 1 }, (_, i) => [1, i + 1, ...row.slice(2)]) };
    expect(parseMessage(JSON.stringify(big))).toMatchObject({ ok: false });
    const marks = Object.fromEntries(Array.from({ length: MAX_ORIGINS + 1 }, (_, i) => [String(i + 1), 1]));
    expect(parseMessage(JSON.stringify({ t: 'marks', marks }))).toMatchObject({ ok: false });
  });

  test("a proof covers the direction, both challenges and the prover's ack mode, so it cannot be replayed, reflected or bent", () => {
    const [a, b] = ['A'.repeat(43), 'B'.repeat(43)];
    const oneToTwo = authTranscript(1, 2, a, b, 'flush');
    expect(authTranscript(2, 1, a, b, 'flush')).not.toBe(oneToTwo);
    expect(authTranscript(1, 2, b, a, 'flush')).not.toBe(oneToTwo);
    expect(authTranscript(1, 2, 'C'.repeat(43), b, 'flush')).not.toBe(oneToTwo);
    expect(authTranscript(1, 2, a, b, 'write')).not.toBe(oneToTwo); // nor its hello's ack changed on the way
  });
});
