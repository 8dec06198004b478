/**
 * parseEnvelope is checkEnvelope that also hands back the event it checked, its data
 * parsed once (the ledger folds that, instead of parsing the data a second time). And
 * eventHash, now one-shot, must keep the exact hash of every envelope already on disk.
 */
import { createHash } from 'node:crypto';
import { describe, expect, test } from 'vitest';
import { checkEnvelope, checkEnvelopeFields, eventHash, GENESIS_PREV, openEnvelope, parseEnvelope, parseEventData, seal, type Envelope } from '../../src/events/index.js';

const HLC = 1_700_000_000_000_000;

function sealed(data: unknown, over: Partial<Omit<Envelope, 'hash'>> = {}): Envelope {
  return seal({ origin: 2, seq: 7, hlc: HLC, type: 'file_shared', data: JSON.stringify(data), prev: 'a'.repeat(64), idem: 'req-9', ...over });
}

/** The hash as the first version computed it: a Hash object fed the fields, then the data. */
function streamedHash(e: Omit<Envelope, 'hash'>): string {
  return createHash('sha256')
    .update(`${e.origin}|${e.seq}|${e.hlc}|${e.type}|${e.prev}|${e.idem ?? ''}|`)
    .update(e.data)
    .digest('hex');
}

const manifest = { group: 'g', name: 'a.txt', size: 3, pieceSize: 524288, pieceHashes: ['b'.repeat(40)], sha1: 'c'.repeat(40), user: 'alice', peer: '127.0.0.1:7000' };

describe('parseEnvelope', () => {
  test('given a well-formed envelope, when parsed, then it returns the event with its data parsed, as openEnvelope would', () => {
    const e = sealed(manifest);
    expect(parseEnvelope(e)).toEqual(openEnvelope(e));
    expect(checkEnvelope(e)).toBeUndefined();
  });

  test.each([
    ['a tampered data', (e: Envelope) => ({ ...e, data: e.data.replace('alice', 'mallory') })],
    ['a hash in capitals', (e: Envelope) => ({ ...e, hash: e.hash.toUpperCase() })],
    ['a bad idempotency key', (e: Envelope) => ({ ...e, idem: 'no spaces' })],
    ['a bad idempotency key and a hash that is not hex', (e: Envelope) => ({ ...e, idem: 'no spaces', hash: 'z'.repeat(64) })],
    ['an unexpected field', () => sealed({ ...manifest, extra: 1 })],
    ['a missing field', () => sealed({ ...manifest, sha1: undefined })],
    ['a piece hash that is not a string', () => sealed({ ...manifest, pieceHashes: ['b'.repeat(40), 7] })],
    ['a negative size', () => sealed({ ...manifest, size: -1 })],
    ['data that is an array', () => sealed([manifest])],
  ])('given %s, when parsed, then it returns the same problem as checkEnvelope', (_what, broken) => {
    const e = broken(sealed(manifest));
    const problem = parseEnvelope(e);
    expect(problem).toBeTypeOf('string');
    expect(problem).toBe(checkEnvelope(e));
  });

  test('given a bad idempotency key and a malformed hash, when checked, then the hash is named first (the order of the checks is kept)', () => {
    expect(checkEnvelope({ ...sealed(manifest), idem: 'no spaces', hash: 'z'.repeat(64) })).toBe('bad hash');
    expect(checkEnvelope({ ...sealed(manifest), idem: 'no spaces' })).toBe('bad idempotency key');
  });
});

describe('the two halves of parseEnvelope (the first may run on another thread)', () => {
  test('given a sealed envelope whose data breaks its schema, then the fields pass and the data check names the problem', () => {
    const e = sealed({ ...manifest, extra: 1 });
    expect(checkEnvelopeFields(e)).toBeUndefined();
    expect(parseEventData(e)).toBe('file_shared: unexpected field extra');
    expect(parseEnvelope(e)).toBe('file_shared: unexpected field extra');
  });

  test('given a tampered envelope, then the fields check names it, as parseEnvelope does', () => {
    const e = { ...sealed(manifest), hlc: HLC + 1 };
    expect(checkEnvelopeFields(e)).toBe('hash does not match the content');
    expect(parseEnvelope(e)).toBe('hash does not match the content');
  });
});

describe('eventHash', () => {
  test.each([
    ['ASCII data', JSON.stringify(manifest), 'req-1'],
    ['no idempotency key', JSON.stringify({ session: 's' }), null],
    ['non-ASCII and astral data', JSON.stringify({ user: 'zoë 🦊 \u2028 \u0000' }), 'k'],
    ['1 MiB of data', JSON.stringify({ user: 'x'.repeat(1024 * 1024 - 20) }), 'big'],
  ])('given %s, when hashed, then the hash is the one a streamed SHA-256 of the fields and the data gives', (_what, data, idem) => {
    const e = { origin: 1, seq: 3, hlc: HLC, type: 'user_created' as const, data, prev: 'd'.repeat(64), idem };
    expect(eventHash(e)).toBe(streamedHash(e));
  });

  test('given the first event of an origin, when hashed, then the empty prev is part of the hash as before', () => {
    const e = { origin: 1, seq: 1, hlc: HLC, type: 'user_created' as const, data: '{"user":"a","passwordHash":"h"}', prev: GENESIS_PREV, idem: null };
    expect(eventHash(e)).toBe(streamedHash(e));
  });
});
