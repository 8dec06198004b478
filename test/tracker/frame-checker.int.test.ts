/**
 * The FrameChecker's worker thread, as the compiled tracker runs it (dist/: the worker
 * is a .js file next to it): it passes a well-formed `events` frame, names the first
 * envelope that fails checkEnvelopeFields, and once closed it rejects, so that the
 * inbox checks inline instead.
 */
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { Envelope } from '../../src/events/envelope.js';
import { encodeEventRows, envelopeRow } from '../../src/events/replication/protocol.js';
import type { FrameChecker as Checker } from '../../src/tracker/frame-checker.js';
import { chain } from '../helpers/envelopes.js';

const compiled = pathToFileURL(join(import.meta.dirname, '../../dist/src/tracker/frame-checker.js')).href;
let checker: Checker;

beforeAll(async () => {
  const { FrameChecker } = (await import(compiled)) as typeof import('../../src/tracker/frame-checker.js');
  const created = FrameChecker.create();
  if (!created) throw new Error('dist/ has no frame-check-worker.js: the global setup builds it');
  checker = created;
});
afterAll(() => checker.close());

const frame = (events: readonly Envelope[]) => encodeEventRows(events.map(envelopeRow));

describe('frame checker', () => {
  const events = [...chain(1, 300), ...chain(2, 300)];

  test('given a frame of well-formed envelopes, then it passes', async () => {
    await expect(checker.check(frame(events))).resolves.toBeUndefined();
  });

  test.each([
    ['tampered data', (e: Envelope): Envelope => ({ ...e, data: e.data.replace('o2s7', 'mallory') }), 'origin 2 seq 7: hash does not match the content'],
    ['a prev that is not a hash', (e: Envelope): Envelope => ({ ...e, prev: 'not hex' }), 'origin 2 seq 7: bad prev hash'],
    ['an unknown type', (e: Envelope): Envelope => ({ ...e, type: 'user_deleted' as Envelope['type'] }), 'origin 2 seq 7: unknown event type user_deleted'],
  ])('given %s in the 307th envelope and the 500th, then it names the first', async (_, spoil, problem) => {
    const spoiled = events.map((e, i) => (i === 306 || i === 499 ? spoil(e) : e));
    await expect(checker.check(frame(spoiled))).resolves.toBe(problem);
  });

  test('given many frames at once, then each gets its own verdict', async () => {
    const bad = events.map((e, i) => (i === 0 ? { ...e, hash: 'f'.repeat(64) } : e));
    const verdicts = await Promise.all([frame(events), frame(bad), frame(events)].map((f) => checker.check(f)));
    expect(verdicts).toEqual([undefined, 'origin 1 seq 1: hash does not match the content', undefined]);
  });

  test('given a closed checker, then a check rejects (the caller checks inline)', async () => {
    const { FrameChecker } = (await import(compiled)) as typeof import('../../src/tracker/frame-checker.js');
    const closing = FrameChecker.create()!;
    await closing.close();
    await expect(closing.check(frame(events))).rejects.toThrow(/exited/);
  });
});
