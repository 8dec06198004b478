import { describe, expect, it } from 'vitest';
import { IDEM_PATTERN } from '../../src/events/envelope.js';
import { idempotencyKey } from '../../src/wire/idempotency-key.js';

describe('idempotencyKey', () => {
  it('is a UUIDv7 the tracker accepts', () => {
    const key = idempotencyKey();
    expect(key).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(key).toMatch(IDEM_PATTERN);
  });

  it('starts with the time in ms, so later keys sort after earlier ones', () => {
    const early = idempotencyKey(1_700_000_000_000, new Uint8Array(10).fill(0xff));
    const late = idempotencyKey(1_700_000_000_001, new Uint8Array(10));
    expect(early < late).toBe(true);
    expect(parseInt(early.replace(/-/g, '').slice(0, 12), 16)).toBe(1_700_000_000_000);
  });

  it('differs between calls in the same ms', () => {
    const keys = new Set(Array.from({ length: 1000 }, () => idempotencyKey(1_700_000_000_000)));
    expect(keys.size).toBe(1000);
  });

  it('refuses too few random bytes', () => {
    expect(() => idempotencyKey(0, new Uint8Array(4))).toThrow(RangeError);
  });
});
