/**
 * The background Snapshotter, as the compiled tracker runs it (dist/: its worker is a
 * .js file next to it): a job whose fold does not match the count it was given reports
 * an error, unless a late event made the job stale first, which is what such a mismatch
 * then means (the late event is in the log, not yet in the ledger's count).
 */
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, describe, expect, test } from 'vitest';
import { EventStore } from '../../src/events/log/event-store.js';
import type { Snapshotter as SnapshotterType, SnapshotResult } from '../../src/events/log/snapshotter.js';
import { chain, tempDir } from '../helpers/envelopes.js';

const compiled = pathToFileURL(join(import.meta.dirname, '../../dist/src/events/log/snapshotter.js')).href;

const cleanup: (() => unknown)[] = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

/** A log of 20 events and a Snapshotter on it; what it reported. */
async function snapshotter() {
  const dir = tempDir();
  const store = EventStore.open(dir.file('events.db'));
  const events = chain(1, 20);
  store.append(events);
  const { Snapshotter } = (await import(compiled)) as { Snapshotter: typeof SnapshotterType };
  const told = { results: [] as SnapshotResult[], errors: [] as string[] };
  const created = Snapshotter.create(store.db.name, (r) => told.results.push(r), (e) => told.errors.push(e));
  if (!created) throw new Error('dist/ has no snapshot-worker.js: the global setup builds it');
  cleanup.push(() => dir.remove(), () => store.close(), () => created.stop());
  const idle = async () => {
    for (let i = 0; i < 500 && created.busy; i++) await new Promise((resolve) => setTimeout(resolve, 10));
    expect(created.busy).toBe(false);
  };
  return { worker: created, events, told, idle };
}

describe('background snapshots', () => {
  test('given a job whose count matches the log, then its snapshot comes back', async () => {
    const { worker, events, told, idle } = await snapshotter();
    worker.request(events[19]!, 20);
    await idle();
    expect(told.results.map((r) => r.eventCount)).toEqual([20]);
    expect(told.errors).toEqual([]);
  });

  test('given a job whose fold meets more events than its count, then it reports the mismatch', async () => {
    const { worker, events, told, idle } = await snapshotter();
    worker.request(events[19]!, 18);
    await idle();
    expect(told.results).toEqual([]);
    expect(told.errors).toEqual(['folded 20 events up to the position, the tracker has 18']);
  });

  test('given the same job made stale by a late event before it came back, then nothing is reported', async () => {
    const { worker, events, told, idle } = await snapshotter();
    worker.request(events[19]!, 18);
    worker.lateEvent(events[5]!);
    await idle();
    expect(told.results).toEqual([]);
    expect(told.errors).toEqual([]);
  });
});
