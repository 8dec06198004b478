/**
 * Idempotency keys as clients make them: UUIDv7 (RFC 9562), 48 bits of Unix time in ms
 * followed by 74 random bits. Time first matters to the tracker: keys made at about the
 * same time sort together, so the log's idempotency index grows at its right edge
 * instead of dirtying a random page per command. With random (v4) keys a replication
 * catch-up of a million events spent about a third of its SQLite time on that index.
 * Any key of 1 to 100 [A-Za-z0-9_-] is still accepted; this is only what our client sends.
 */
import { randomBytes } from 'node:crypto';

const RANDOM_BYTES = 10;

/** A UUIDv7 for `nowMs`; `random` supplies at least 10 bytes (a test passes its own). */
export function idempotencyKey(nowMs = Date.now(), random: Uint8Array = randomBytes(RANDOM_BYTES)): string {
  if (random.length < RANDOM_BYTES) throw new RangeError(`idempotencyKey needs ${RANDOM_BYTES} random bytes`);
  const b = Buffer.alloc(16);
  b.writeUIntBE(nowMs, 0, 6);
  b.set(random.subarray(0, RANDOM_BYTES), 6);
  b[6] = 0x70 | (b[6]! & 0x0f); // version 7
  b[8] = 0x80 | (b[8]! & 0x3f); // variant 10
  const h = b.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}
