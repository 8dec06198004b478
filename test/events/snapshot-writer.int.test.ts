/**
 * SnapshotWriter against a real SQLite log: a big snapshot is stored one part per turn of
 * the event loop and is visible only once whole; one given up or cut short leaves
 * nothing a reader could load.
 */
import { setImmediate as nextTurn } from 'node:timers/promises';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { EventStore, SNAPSHOT_PART_SIZE } from '../../src/events/log/event-store.js';
import { Ledger } from '../../src/events/log/ledger.js';
import { SnapshotWriter, type SnapshotToStore } from '../../src/events/log/snapshot-writer.js';
import { snapshotText, textHash } from '../../src/events/state-codec.js';
import { initialState } from '../../src/events/state.js';
import { tempDir } from '../helpers/envelopes.js';

let dir: ReturnType<typeof tempDir>;
let store: EventStore;
let stored: SnapshotToStore[];
let failures: string[];
let writer: SnapshotWriter;

beforeEach(() => {
  dir = tempDir();
  store = EventStore.open(dir.file('log.db'));
  stored = [];
  failures = [];
  writer = new SnapshotWriter(store, () => 1234, { stored: (s) => stored.push(s), failed: (m) => failures.push(m) });
});
afterEach(() => {
  writer.close();
  store.close();
  dir.remove();
});

/** A snapshot whose text is `parts` parts long (the last one partly filled), with astral characters at each cut. */
function snapshotOf(parts: number, seq: number): SnapshotToStore {
  const chunk = 'a'.repeat(SNAPSHOT_PART_SIZE - 1) + '😀';
  const text = `${chunk.repeat(parts - 1)}{"seq":${seq}}`;
  return { upTo: { hlc: seq * 1000, origin: 1, seq }, eventCount: seq, hash: textHash(text), state: text };
}

const partsStored = (): number => store.db.prepare('SELECT count(*) FROM snapshot_parts').pluck().get() as number;

describe('SnapshotWriter', () => {
  test('given a snapshot of three parts, when written, then one part goes per turn and it is visible, whole, only after the last', async () => {
    const snapshot = snapshotOf(3, 7);
    writer.write(snapshot);
    expect(partsStored()).toBe(0); // nothing on the turn it was given
    await nextTurn();
    expect(partsStored()).toBe(1);
    expect(store.latestSnapshotText()).toBeUndefined();
    await nextTurn();
    expect(partsStored()).toBe(2);
    expect(store.latestSnapshotText()).toBeUndefined();
    await nextTurn();
    expect(partsStored()).toBe(3);
    const read = store.latestSnapshotText();
    expect(read).toMatchObject({ ...snapshot.upTo, eventCount: 7, stateHash: snapshot.hash, createdAt: 1234 });
    expect(read?.state).toBe(snapshot.state);
    expect(textHash(read!.state)).toBe(snapshot.hash);
    expect(stored).toEqual([snapshot]);
    expect(writer.pending).toBe(0);
  });

  test('given a snapshot as UTF-8 (from the worker thread), when written, then its parts end on whole characters and it reads back as the same text', async () => {
    const text = `${'é'.repeat(SNAPSHOT_PART_SIZE / 2 - 1)}a😀${'ü'.repeat(SNAPSHOT_PART_SIZE / 2)}`; // cuts would fall inside characters
    const snapshot = { ...snapshotOf(1, 2), hash: textHash(text), state: new TextEncoder().encode(text) };
    writer.write(snapshot);
    for (let i = 0; i < 4; i++) await nextTurn();
    expect(partsStored()).toBe(3);
    expect(store.latestSnapshotText()?.state).toBe(text);
    expect(store.db.prepare('SELECT DISTINCT typeof(text) FROM snapshot_parts').pluck().all()).toEqual(['text']);
  });

  test('given two snapshots, when written, then they are stored in the order given', async () => {
    writer.write(snapshotOf(2, 5));
    writer.write(snapshotOf(1, 6));
    for (let i = 0; i < 3; i++) await nextTurn();
    expect(stored.map((s) => s.eventCount)).toEqual([5, 6]);
    expect(store.listSnapshots().map((s) => s.eventCount)).toEqual([5, 6]);
  });

  test('given a write under way, when an event is folded late before its position, then it is given up and what it wrote is deleted; one before that position is kept', async () => {
    writer.write(snapshotOf(1, 3));
    writer.write(snapshotOf(3, 9));
    await nextTurn(); // the first stored
    await nextTurn(); // one part of the second
    expect(partsStored()).toBe(2);
    writer.dropFrom({ hlc: 9000, origin: 1, seq: 9 });
    for (let i = 0; i < 3; i++) await nextTurn();
    expect(stored.map((s) => s.eventCount)).toEqual([3]);
    expect(store.listSnapshots().map((s) => s.eventCount)).toEqual([3]);
    expect(partsStored()).toBe(1);
    writer.dropFrom({ hlc: 3000, origin: 1, seq: 4 }); // after the first: nothing pending is touched, nothing stored is
    expect(store.listSnapshots()).toHaveLength(1);
  });

  test('given a write cut short by a stop, when a ledger opens the log again, then its parts are deleted and the published snapshots stay', async () => {
    const whole = snapshotText(initialState());
    store.saveSnapshot({ hlc: 1000, origin: 1, seq: 1 }, 0, textHash(whole), whole, 0);
    writer.write(snapshotOf(3, 8));
    await nextTurn();
    writer.close();
    await nextTurn();
    expect(partsStored()).toBe(2); // the published one's and the unfinished one's first
    expect(store.latestSnapshotText()?.state).toBe(whole);
    const reader = EventStore.openReadOnly(dir.file('log.db')); // an admin tool's view: leaves them be
    try {
      expect(reader.dropUnpublishedSnapshots()).toBe(0);
      expect(reader.latestSnapshotText()?.state).toBe(whole);
    } finally {
      reader.close();
    }
    new Ledger(store, { origin: 1 }).open(); // the next start
    expect(partsStored()).toBe(1);
    expect(store.latestSnapshotText()?.state).toBe(whole);
    expect(store.dropUnpublishedSnapshots()).toBe(0);
  });

  test('given a snapshot saved whole while a write is under way, when both end, then each has its own id and reads back its own text', async () => {
    const big = snapshotOf(2, 9);
    writer.write(big);
    await nextTurn();
    store.saveSnapshot({ hlc: 500, origin: 1, seq: 1 }, 1, 'h', '{"small":1}', 0);
    await nextTurn();
    const [written, small] = store.listSnapshots(); // ids in the order the writes began
    expect(written?.stateHash).toBe(big.hash);
    expect(small?.stateHash).toBe('h');
    expect(store.snapshotState(small!.id)).toEqual({ small: 1 });
    expect(store.latestSnapshotText()?.state).toBe(big.state);
  });

  test('given a part that cannot be written, when it fails, then the snapshot is given up, what it wrote deleted, and the next one is stored', async () => {
    store.db.exec("CREATE TRIGGER fail_second_part BEFORE INSERT ON snapshot_parts WHEN NEW.part = 1 BEGIN SELECT RAISE(ABORT, 'disk full'); END");
    writer.write(snapshotOf(3, 4));
    writer.write(snapshotOf(1, 5));
    for (let i = 0; i < 3; i++) await nextTurn();
    expect(failures).toEqual([expect.stringMatching(/^could not store the snapshot of 4 events: disk full$/)]);
    expect(stored.map((s) => s.eventCount)).toEqual([5]);
    expect(store.listSnapshots().map((s) => s.eventCount)).toEqual([5]);
    expect(partsStored()).toBe(1);
  });

  test('given a snapshot row deleted (pruned, or dropped by a late event), when it goes, then its parts go with it', async () => {
    writer.write(snapshotOf(2, 5));
    for (let i = 0; i < 2; i++) await nextTurn();
    expect(partsStored()).toBe(2);
    store.dropSnapshotsFrom({ hlc: 0, origin: 0, seq: 0 });
    expect(partsStored()).toBe(0);
  });
});
