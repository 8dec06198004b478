/**
 * The twin's state ahead of a catch-up (twin-state.ts, Ledger.stateForTwin and
 * expectTwinState): the receiver stores the catch-up's events without folding them and
 * takes the twin's state as their fold, only when its log holds exactly those events.
 */
import { once } from 'node:events';
import { afterEach, describe, expect, test } from 'vitest';
import { compareOrder, type Envelope } from '../../src/events/envelope.js';
import { EventStore } from '../../src/events/log/event-store.js';
import { Ledger } from '../../src/events/log/ledger.js';
import { StateAssembly, stateParts, type TwinState } from '../../src/events/replication/twin-state.js';
import { STATE_PART_CHARS } from '../../src/events/replication/protocol.js';
import { textHash } from '../../src/events/state-codec.js';
import { chain, tempDir } from '../helpers/envelopes.js';

const cleanup: (() => unknown)[] = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

function ledgerWith(origin: number, events: readonly Envelope[] = [], clock?: () => number): Ledger {
  const dir = tempDir();
  const store = EventStore.open(dir.file('events.db'));
  if (events.length > 0) store.append(events);
  const ledger = new Ledger(store, { origin, snapshotEvery: 1e9, clock });
  ledger.open();
  cleanup.push(() => dir.remove(), () => store.close(), () => ledger.close());
  return ledger;
}

/** The state hash of a ledger that folds `store`'s log itself. */
function foldedHash(store: EventStore): string {
  const ledger = new Ledger(store, { origin: 9, snapshotEvery: 1e9 });
  ledger.open();
  return ledger.hash();
}

const inFoldOrder = (events: Envelope[]) => [...events].sort(compareOrder);

/** Applies `events` as a catch-up does: in frames of 50, the last one ending it. */
function catchUp(ledger: Ledger, events: readonly Envelope[]): void {
  for (let i = 0; i < events.length; i += 50) ledger.applyRemote(events.slice(i, i + 50), { catchingUp: i + 50 < events.length });
}

function outcomes(ledger: Ledger): [boolean, string][] {
  const seen: [boolean, string][] = [];
  ledger.on('twin-state', (taken: boolean, detail: string) => seen.push([taken, detail]));
  return seen;
}

// Two origins interleaved in fold order: 1 at 1000, 2000, ...; 2 at 1500, 2500, ...
const o1 = chain(1, 300);
const o2 = chain(2, 200, { hlc: (_, seq) => 1000 * seq + 500 });
const log = inFoldOrder([...o1, ...o2]);

describe('the twin state', () => {
  test('given an empty receiver that expects the sender\'s state, when the catch-up brings every event it is of, then the receiver takes it as a snapshot and ends with the sender\'s state hash', async () => {
    const sender = ledgerWith(1, log);
    const state = sender.stateForTwin()!;
    expect(state).toMatchObject({ at: { hlc: 300_000, origin: 1, seq: 300 }, count: 500 });
    expect([...state.tips]).toEqual([
      [1, { seq: 300, hash: o1[299]!.hash }],
      [2, { seq: 200, hash: o2[199]!.hash }],
    ]);

    const receiver = ledgerWith(2);
    const seen = outcomes(receiver);
    expect(receiver.expectTwinState(state)).toBeUndefined();
    catchUp(receiver, log.slice(0, 400));
    expect(receiver.awaitingTwinState).toBe(true);
    expect(receiver.current.eventCount).toBe(0); // stored, not folded
    catchUp(receiver, log.slice(400));

    expect(seen).toEqual([[true, expect.stringMatching(/^500 events, taken in \d+ ms$/) as string]]);
    expect(receiver.awaitingTwinState).toBe(false);
    expect(receiver.hash()).toBe(sender.hash());
    await once(receiver, 'snapshot'); // stored a part at a time, after this turn (SnapshotWriter)
    expect(receiver.store.latestSnapshot()).toMatchObject({ ...state.at, eventCount: 500, stateHash: state.hash });
    expect(foldedHash(receiver.store)).toBe(sender.hash()); // and a restart loads it
  });

  test('given events after the state (committed on the sender once it was sent), when they arrive with the catch-up, then they are folded on top of it', () => {
    const sender = ledgerWith(1, log);
    const state = sender.stateForTwin()!;
    const later = chain(1, 30, { after: o1[299], hlc: (i) => 400_000 + i });
    const receiver = ledgerWith(2);
    const seen = outcomes(receiver);
    receiver.expectTwinState(state);
    catchUp(receiver, [...log, ...later]);

    expect(seen).toEqual([[true, expect.stringMatching(/^500 events, taken in \d+ ms$/) as string]]);
    expect(receiver.current.eventCount).toBe(530);
    expect(receiver.hash()).toBe(foldedHash(receiver.store));
    expect(receiver.hash()).not.toBe(sender.hash());
  });

  test('given a receiver that committed an event of its own that sorts among the state\'s, when the catch-up ends, then the state is not taken and the receiver folds its whole log', () => {
    const o1Only = chain(1, 300);
    const sender = ledgerWith(1, o1Only);
    const state = sender.stateForTwin()!;
    const receiver = ledgerWith(2, [], () => 1);
    const seen = outcomes(receiver);
    void receiver.commit([{ type: 'user_created', data: { user: 'early', passwordHash: 'h' } }], null);
    receiver.flush();
    expect(receiver.expectTwinState(state)).toBeUndefined();
    catchUp(receiver, o1Only);

    expect(seen).toEqual([[false, expect.stringContaining('origin 2 seq 1, which the state lacks') as string]]);
    expect(receiver.current.eventCount).toBe(301);
    expect(receiver.hash()).toBe(foldedHash(receiver.store));
    expect(receiver.store.latestSnapshot()).toBeUndefined();
  });

  test('given a catch-up that ends before the state\'s events are all here (the link dropped), when the inbox folds what it stored, then the state is given up and the events are folded here', () => {
    const sender = ledgerWith(1, log);
    const state = sender.stateForTwin()!;
    const receiver = ledgerWith(2);
    const seen = outcomes(receiver);
    receiver.expectTwinState(state);
    for (let i = 0; i < 300; i += 50) receiver.applyRemote(log.slice(i, i + 50), { catchingUp: true });
    receiver.foldDeferred();

    expect(seen).toEqual([[false, 'the catch-up ended before its events were all here']]);
    expect(receiver.awaitingTwinState).toBe(false);
    expect(receiver.current.eventCount).toBe(300);
    expect(receiver.hash()).toBe(foldedHash(receiver.store));
  });

  test('given a state whose count is not its tips\' or its text\'s, when the receiver is handed it, then it says so and expects nothing', () => {
    const sender = ledgerWith(1, log);
    const state = sender.stateForTwin()!;
    const receiver = ledgerWith(2);
    expect(receiver.expectTwinState({ ...state, count: 499 })).toBe('the state says it holds 499 events, its tips 500');
    const tips = new Map(state.tips);
    tips.set(1, { seq: 299, hash: o1[298]!.hash });
    expect(receiver.expectTwinState({ ...state, count: 499, tips })).toBe('the state is of 500 events, not 499');
    expect(receiver.expectTwinState({ ...state, text: '{"v":1}' })).toMatch(/^the state cannot be read: /);
    expect(receiver.awaitingTwinState).toBe(false);
  });

  test('given a sender with events stored but not folded (a re-fold waits), when asked for its state, then it has none to give', () => {
    const sender = ledgerWith(1, o1);
    sender.applyRemote(o2.slice(0, 10), { catchingUp: true }); // sorts before folded events: deferred
    expect(sender.stateForTwin()).toBeUndefined();
    sender.foldDeferred();
    expect(sender.stateForTwin()?.count).toBe(310);
  });
});

describe('state frames', () => {
  test('given a state longer than a frame\'s part, when split and put together again in order, then it is the same state; a part out of order, or a text that does not hash to its hash, is refused', () => {
    // 3 UTF-16 units per 'é😀': cuts at multiples of STATE_PART_CHARS would fall inside pairs
    const text = `{"v":2,"x":"${'é😀'.repeat(STATE_PART_CHARS)}"}`;
    const state: TwinState = { at: { hlc: 5, origin: 1, seq: 2 }, count: 3, tips: new Map([[1, { seq: 2, hash: 'a'.repeat(64) }], [2, { seq: 1, hash: 'b'.repeat(64) }]]), text, hash: textHash(text) };
    const parts = stateParts(state);
    expect(parts.length).toBe(Math.ceil(text.length / STATE_PART_CHARS));
    expect(parts.every((p) => p.text.length <= STATE_PART_CHARS)).toBe(true);
    const wire = parts.map((p) => JSON.parse(JSON.stringify(p)) as typeof p);
    const assembly = new StateAssembly();
    expect(wire.slice(0, -1).map((p) => assembly.add(p))).toEqual(wire.slice(0, -1).map(() => undefined));
    expect(assembly.add(wire[wire.length - 1]!)).toEqual(state);

    expect(assembly.add(wire[1]!)).toBe('state part 1 came where part 0 was due');
    expect(assembly.add(wire[0]!)).toBeUndefined();
    expect(assembly.add({ ...wire[1]!, count: 4 })).toBe('state part 1 is of another state than part 0');

    const tampered = stateParts({ ...state, text: text.replace('é', 'e') });
    expect(tampered.map((p) => assembly.add(p)).at(-1)).toBe("the state's text does not hash to its state hash");
  });
});
