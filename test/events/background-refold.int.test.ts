/**
 * A big re-fold (a partition's catch-up ends with one) goes on in the background, a slice
 * of the event loop at a time: the old state serves meanwhile, commands are acknowledged,
 * and at the end the state is the fold of the log whatever arrived in between.
 */
import { describe, expect, test } from 'vitest';
import { Ledger } from '../../src/events/log/ledger.js';
import { chain } from '../helpers/envelopes.js';
import { exec, logsPerTest, replayHash } from '../helpers/ledger.js';
import { cmd } from '../helpers/fixtures.js';

/** Enough events that folding them takes several slices of the event loop on any host. */
const EACH = 10_000;
const T0 = 1_700_000_000_000;

const logs = logsPerTest();

function openLedger(snapshotEvery = 1_000_000) {
  const store = logs.open('one.db');
  const ledger = new Ledger(store, { origin: 1, snapshotEvery, backgroundRefoldMin: 1000, clock: () => T0 });
  ledger.open();
  return ledger;
}

const refolded = (ledger: Ledger) => new Promise<void>((resolve) => ledger.once('refold', () => resolve()));
const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * The ledger folded EACH events of origin 3 (hlc in the future of the clock, which is
 * all the same for this test), then receives EACH of origin 2 that sort before all of
 * them: the late ones are stored, and a re-fold of 2 * EACH events begins.
 */
function partitionHealed(ledger: Ledger) {
  ledger.applyRemote(chain(3, EACH, { hlc: (i) => 10_000_000 + i }));
  ledger.applyRemote(chain(2, EACH, { hlc: (i) => 1000 + i }));
}

describe('background re-fold', () => {
  test('given a late backlog that sorts before thousands of folded events, then the old state serves while the re-fold goes on, a command is acknowledged meanwhile, and the end state is the fold of the log', async () => {
    const ledger = openLedger();
    partitionHealed(ledger);

    expect(ledger.refolding).toBe(true);
    expect(ledger.current.users.has('o3s1')).toBe(true);
    expect(ledger.current.users.has('o2s1')).toBe(false); // the old state: without the late events

    const done = refolded(ledger);
    await exec(ledger, cmd.createUser('alice'));
    expect(ledger.refolding).toBe(true); // acknowledged before the re-fold ended
    expect(ledger.current.users.has('alice')).toBe(true);

    await done;
    expect(ledger.refolding).toBe(false);
    expect(ledger.current.eventCount).toBe(2 * EACH + 1);
    expect(['o2s1', 'o3s1', 'alice'].every((u) => ledger.current.users.has(u))).toBe(true);
    expect(ledger.hash()).toBe(replayHash(ledger.store));
  });

  test('given a re-fold under way, when events arrive that sort before where it has read to, then it starts over with them and ends with the fold of the log', async () => {
    const ledger = openLedger();
    partitionHealed(ledger);
    const done = refolded(ledger);
    await nextTurn(); // one slice: the re-fold has read past the start of the log
    expect(ledger.refolding).toBe(true);

    ledger.applyRemote(chain(4, 10, { hlc: (i) => i + 1 })); // before everything

    await done;
    expect(ledger.refolding).toBe(false);
    expect(ledger.current.users.has('o4s1')).toBe(true);
    expect(ledger.current.eventCount).toBe(2 * EACH + 10);
    expect(ledger.hash()).toBe(replayHash(ledger.store));
  });

  test('given a re-fold under way, when events arrive that sort after where it has read to, then each is folded once', async () => {
    const ledger = openLedger();
    partitionHealed(ledger);
    const done = refolded(ledger);
    await nextTurn();

    ledger.applyRemote(chain(2, 5, { after: ledger.store.ofOrigin(2, EACH - 1, 1)[0]!, hlc: (i) => 20_000_000 + i }));

    await done;
    expect(ledger.current.eventCount).toBe(2 * EACH + 5);
    expect(ledger.hash()).toBe(replayHash(ledger.store));
  });

  test('given a command committed in the turn the re-fold ends, then the new state holds it too', async () => {
    const ledger = openLedger();
    partitionHealed(ledger);
    const acked = exec(ledger, cmd.createUser('alice')); // folded, not written yet

    ledger.finishRefold();

    expect(ledger.refolding).toBe(false);
    expect(ledger.current.users.has('alice')).toBe(true);
    await acked;
    expect(ledger.hash()).toBe(replayHash(ledger.store));
  });

  test('given a re-fold under way, when a snapshot is asked for, then the re-fold ends first and the snapshot holds the whole log', () => {
    const ledger = openLedger();
    partitionHealed(ledger);
    expect(ledger.refolding).toBe(true);

    expect(ledger.snapshot()).toBe(true);

    expect(ledger.refolding).toBe(false);
    expect(ledger.store.latestSnapshot()?.eventCount).toBe(2 * EACH);
    expect(ledger.hash()).toBe(replayHash(ledger.store));
  });

  test('given a re-fold under way and snapshots taken before the late events, when the ledger is closed and opened again, then it folds the whole log', async () => {
    const ledger = openLedger(1000);
    partitionHealed(ledger);
    expect(ledger.refolding).toBe(true);
    await ledger.close();
    expect(ledger.refolding).toBe(false);
    ledger.store.close();

    const again = openLedger(1000);
    expect(again.current.eventCount).toBe(2 * EACH);
    expect(again.hash()).toBe(replayHash(again.store));
  });

  test('given a re-fold of fewer events than the background takes, then it is done at once', () => {
    const ledger = openLedger();
    ledger.applyRemote(chain(3, 500, { hlc: (i) => 10_000_000 + i }));
    ledger.applyRemote(chain(2, 400, { hlc: (i) => 1000 + i }));
    expect(ledger.refolding).toBe(false);
    expect(ledger.current.eventCount).toBe(900);
    expect(ledger.hash()).toBe(replayHash(ledger.store));
  });
});
