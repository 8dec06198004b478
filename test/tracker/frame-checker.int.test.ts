/**
 * The FrameChecker's worker thread, as the compiled tracker runs it (dist/: the worker
 * is a .js file next to it): it passes a well-formed `events` frame, names the first
 * envelope that fails checkEnvelopeFields, and once closed it rejects, so that the
 * inbox checks inline instead. Given a log, it stores the frames it is asked to store
 * that continue the log, and none asked for before stores were withdrawn; frames asked
 * for together it stores together.
 */
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import type { Envelope } from '../../src/events/envelope.js';
import { encodeEventRows, envelopeRow } from '../../src/events/replication/protocol.js';
import type { FrameChecker as Checker } from '../../src/tracker/frame-checker.js';
import { EventStore } from '../../src/events/log/event-store.js';
import { chain, tempDir } from '../helpers/envelopes.js';

const compiled = pathToFileURL(join(import.meta.dirname, '../../dist/src/tracker/frame-checker.js')).href;
let checker: Checker;

async function createChecker(logPath?: string): Promise<Checker> {
  const { FrameChecker } = (await import(compiled)) as typeof import('../../src/tracker/frame-checker.js');
  const created = FrameChecker.create(logPath);
  if (!created) throw new Error('dist/ has no frame-check-worker.js: the global setup builds it');
  return created;
}

beforeAll(async () => {
  checker = await createChecker();
});
afterAll(() => checker.close());

const frame = (events: readonly Envelope[]) => encodeEventRows(events.map(envelopeRow));

describe('frame checker', () => {
  const events = [...chain(1, 300), ...chain(2, 300)];

  test('given a frame of well-formed envelopes, then it passes', async () => {
    await expect(checker.check(frame(events))).resolves.toEqual({ problem: undefined, stored: false });
  });

  test.each([
    ['tampered data', (e: Envelope): Envelope => ({ ...e, data: e.data.replace('o2s7', 'mallory') }), 'origin 2 seq 7: hash does not match the content'],
    ['a prev that is not a hash', (e: Envelope): Envelope => ({ ...e, prev: 'not hex' }), 'origin 2 seq 7: bad prev hash'],
    ['an unknown type', (e: Envelope): Envelope => ({ ...e, type: 'user_deleted' as Envelope['type'] }), 'origin 2 seq 7: unknown event type user_deleted'],
  ])('given %s in the 307th envelope and the 500th, then it names the first', async (_, spoil, problem) => {
    const spoiled = events.map((e, i) => (i === 306 || i === 499 ? spoil(e) : e));
    await expect(checker.check(frame(spoiled))).resolves.toEqual({ problem, stored: false });
  });

  test('given many frames at once, then each gets its own verdict', async () => {
    const bad = events.map((e, i) => (i === 0 ? { ...e, hash: 'f'.repeat(64) } : e));
    const verdicts = await Promise.all([frame(events), frame(bad), frame(events)].map((f) => checker.check(f)));
    expect(verdicts.map((v) => v.problem)).toEqual([undefined, 'origin 1 seq 1: hash does not match the content', undefined]);
  });

  test('given a closed checker, then a check rejects (the caller checks inline)', async () => {
    const closing = await createChecker();
    await closing.close();
    await expect(closing.check(frame(events))).rejects.toThrow(/exited/);
  });
});

describe('frame checker with a log', () => {
  const cleanup: (() => unknown)[] = [];
  afterEach(async () => {
    for (const f of cleanup.splice(0).reverse()) await f();
  });

  async function withLog() {
    const dir = tempDir();
    const log = EventStore.open(dir.file('events.db'));
    const storing = await createChecker(dir.file('events.db'));
    cleanup.push(() => dir.remove(), () => log.close(), () => storing.close());
    return { log, storing };
  }

  const events = chain(1, 600);

  test('given frames that continue the log, then each is stored when asked to be, and only then', async () => {
    const { log, storing } = await withLog();
    await expect(storing.check(frame(events.slice(0, 300)), true)).resolves.toEqual({ problem: undefined, stored: true });
    await expect(storing.check(frame(events.slice(300)))).resolves.toEqual({ problem: undefined, stored: false });
    expect(log.count()).toBe(300);
  });

  test('given a frame that does not continue the log, or fails its checks, then nothing of it is stored', async () => {
    const { log, storing } = await withLog();
    const tampered = events.slice(0, 300).map((e, i) => (i === 299 ? { ...e, hash: 'f'.repeat(64) } : e));
    await expect(storing.check(frame(tampered), true)).resolves.toEqual({ problem: 'origin 1 seq 300: hash does not match the content', stored: false });
    await expect(storing.check(frame(events.slice(300)), true)).resolves.toEqual({ problem: undefined, stored: false });
    expect(log.count()).toBe(0);
  });

  test('given stores withdrawn, then frames asked for before store nothing, and frames asked for after are stored', async () => {
    const { log, storing } = await withLog();
    const before = storing.check(frame(events.slice(0, 300)), true);
    storing.withdrawStores();
    log.waitForOtherWriters();
    const after = storing.check(frame(events.slice(0, 300)), true);
    await expect(before).resolves.toEqual({ problem: undefined, stored: false });
    await expect(after).resolves.toEqual({ problem: undefined, stored: true });
    expect(log.count()).toBe(300);
  });

  test('given frames to store asked for at once, a bad one among them, then those before it are stored and none from it on', async () => {
    const { log, storing } = await withLog();
    const frames = [0, 1, 2, 3, 4, 5].map((i) => events.slice(i * 100, i * 100 + 100));
    frames[3] = frames[3]!.map((e, i) => (i === 50 ? { ...e, hash: 'f'.repeat(64) } : e));
    const verdicts = await Promise.all(frames.map((f) => storing.check(frame(f), true)));
    expect(verdicts).toEqual([
      ...[0, 1, 2].map(() => ({ problem: undefined, stored: true })),
      { problem: 'origin 1 seq 351: hash does not match the content', stored: false },
      ...[4, 5].map(() => ({ problem: undefined, stored: false })), // they do not continue the log
    ]);
    expect(log.count()).toBe(300);
  });

  test('given frames to store asked for at once, then they go in fewer transactions: less is written than for the same frames one at a time', async () => {
    const frames = [0, 1, 2, 3, 4, 5, 6, 7].map((i) => events.slice(i * 75, i * 75 + 75));
    const walBytes = async (askAll: (storing: Checker) => Promise<unknown>) => {
      const { log, storing } = await withLog();
      await askAll(storing);
      expect(log.count()).toBe(600);
      return statSync(`${log.db.name}-wal`).size;
    };
    const atOnce = await walBytes((storing) => Promise.all(frames.map((f) => storing.check(frame(f), true))));
    const oneByOne = await walBytes(async (storing) => {
      for (const f of frames) await storing.check(frame(f), true);
    });
    expect(atOnce).toBeLessThan(oneByOne);
  });

  test('given no log, then a frame asked to be stored is only checked', async () => {
    await expect(checker.check(frame(events.slice(0, 300)), true)).resolves.toEqual({ problem: undefined, stored: false });
  });
});
