/**
 * The background Snapshotter, as the compiled tracker runs it (dist/: its worker is a
 * .js file next to it): a job whose fold does not match the count it was given reports
 * an error, unless a late event made the job stale first, which is what such a mismatch
 * then means (the late event is in the log, not yet in the ledger's count). So does a
 * job under way when another connection begins to store events the ledger has not folded
 * (the frame checker's thread during a catch-up).
 */
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, describe, expect, test } from 'vitest';
import { EventStore } from '../../src/events/log/event-store.js';
import type { Snapshotter as SnapshotterType, SnapshotResult, StateHashResult } from '../../src/events/log/snapshotter.js';
import { evolve, initialState, openEnvelope, stateHash, textHash, type Envelope } from '../../src/events/index.js';
import { chain, tempDir } from '../helpers/envelopes.js';

const compiled = pathToFileURL(join(import.meta.dirname, '../../dist/src/events/log/snapshotter.js')).href;

const cleanup: (() => unknown)[] = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

/** The state hash of folding these envelopes. */
function hashOf(envelopes: readonly Envelope[]): string {
  const state = initialState();
  for (const e of envelopes) evolve(state, openEnvelope(e), e);
  return stateHash(state);
}

/** A log of 20 events and a Snapshotter on it; what it reported. */
async function snapshotter() {
  const dir = tempDir();
  const store = EventStore.open(dir.file('events.db'));
  const events = chain(1, 20);
  store.append(events);
  const { Snapshotter } = (await import(compiled)) as { Snapshotter: typeof SnapshotterType };
  const told = { results: [] as SnapshotResult[], errors: [] as string[], hashes: [] as StateHashResult[] };
  const created = Snapshotter.create(store.db.name, (r) => told.results.push(r), (e) => told.errors.push(e), (h) => told.hashes.push(h));
  if (!created) throw new Error('dist/ has no snapshot-worker.js: the global setup builds it');
  cleanup.push(() => dir.remove(), () => store.close(), () => created.stop());
  const idle = async () => {
    for (let i = 0; i < 500 && created.busy; i++) await new Promise((resolve) => setTimeout(resolve, 10));
    expect(created.busy).toBe(false);
  };
  return { worker: created, events, told, idle };
}

/** A compiled Ledger (dist/) with background snapshots every 10 events, opened on a new log. */
async function compiledLedger() {
  const ledgerUrl = pathToFileURL(join(import.meta.dirname, '../../dist/src/events/log/ledger.js')).href;
  const storeUrl = pathToFileURL(join(import.meta.dirname, '../../dist/src/events/log/event-store.js')).href;
  const { Ledger } = (await import(ledgerUrl)) as typeof import('../../src/events/log/ledger.js');
  const { EventStore: CompiledStore } = (await import(storeUrl)) as typeof import('../../src/events/log/event-store.js');
  const dir = tempDir();
  const store = CompiledStore.open(dir.file('events.db'));
  const ledger = new Ledger(store, { origin: 1, snapshotEvery: 10, backgroundSnapshots: true });
  ledger.open();
  cleanup.push(() => dir.remove(), () => store.close(), () => ledger.close());
  return { CompiledStore, dir, store, ledger };
}

describe('background snapshots', () => {
  test('given a job whose count matches the log, then its snapshot comes back', async () => {
    const { worker, events, told, idle } = await snapshotter();
    worker.request(events[19]!, 20);
    await idle();
    expect(told.results.map((r) => r.eventCount)).toEqual([20]);
    expect(told.errors).toEqual([]);
    const [result] = told.results;
    expect(result!.state).toBeInstanceOf(Uint8Array); // the text's UTF-8, moved from the worker
    expect(textHash(new TextDecoder().decode(result!.state))).toBe(result!.hash);
  });

  test('given a hash job (for /health), then the hash of the state at that position comes back, without its text', async () => {
    const { worker, events, told, idle } = await snapshotter();
    worker.requestHash(events[9]!, 10);
    await idle();
    expect(told.results).toEqual([]);
    expect(told.hashes).toEqual([{ upTo: events[9], eventCount: 10, hash: hashOf(events.slice(0, 10)) }]);
  });

  test('given a ledger with background snapshots, when one is due, then it is stored and reads back as the ledger\'s state', async () => {
    const { store, ledger } = await compiledLedger();
    const stored = new Promise((resolve) => ledger.once('snapshot', (_at, events: number) => resolve(events)));
    ledger.applyRemote(chain(2, 10, { hlc: (i) => 1_000_000 + i }));
    await expect(Promise.race([stored, new Promise((resolve) => setTimeout(resolve, 5000, 'no snapshot in 5 s'))])).resolves.toBe(10);
    const snapshot = store.latestSnapshotText();
    expect(snapshot).toMatchObject({ eventCount: 10, stateHash: ledger.hash() });
    expect(textHash(snapshot!.state)).toBe(snapshot!.stateHash);
  });

  test('given a job whose fold meets more events than its count, then it reports the mismatch', async () => {
    const { worker, events, told, idle } = await snapshotter();
    worker.request(events[19]!, 18);
    await idle();
    expect(told.results).toEqual([]);
    expect(told.errors).toEqual(['folded 20 events up to the position, the tracker has 18']);
  });

  test('given a hash job whose fold does not match its count, then the mismatch is reported as the hash\'s', async () => {
    const { worker, events, told, idle } = await snapshotter();
    worker.requestHash(events[19]!, 18);
    await idle();
    expect(told.hashes).toEqual([]);
    expect(told.errors).toEqual(['hashing the state for /health: folded 20 events up to the position, the tracker has 18']);
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

describe('background snapshots while another connection stores events', () => {
  test('given a job under way when stores elsewhere begin, then the events they store before its position are no failure', async () => {
    const { CompiledStore, dir, ledger } = await compiledLedger(); // its snapshot worker starts now, and takes a while to be ready
    const told = { snapshots: 0, failures: [] as string[] };
    ledger.on('snapshot', () => (told.snapshots += 1));
    ledger.on('snapshot-failed', (message: string) => told.failures.push(message));

    ledger.applyRemote(chain(2, 10, { hlc: (i) => 1_000_000 + i })); // the 10th event asks for a snapshot
    ledger.appendingElsewhere();
    const other = CompiledStore.open(dir.file('events.db'));
    cleanup.push(() => other.close());
    other.append(chain(3, 5, { hlc: (i) => 1 + i })); // sorts before the job's position; the ledger has not folded it

    const snapshotter = (ledger as unknown as { snapshotter: SnapshotterType }).snapshotter;
    for (let i = 0; i < 500 && snapshotter.busy; i++) await new Promise((resolve) => setTimeout(resolve, 10));
    expect(snapshotter.busy).toBe(false);
    expect(told).toEqual({ snapshots: 0, failures: [] });
  });
});
