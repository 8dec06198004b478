/**
 * The EventInbox with frame verdicts (frame-checker.ts): big frames arrive with a
 * pending check of their hashes, made on another thread. Frames are applied in the
 * order they arrived and only once their verdict is in; a frame the checker failed
 * drops the link as a broken chain would, after the frames before it; and a checker
 * that is gone leaves its frames to be checked inline, as if it had never been asked.
 */
import { afterEach, describe, expect, test } from 'vitest';
import type { Envelope } from '../../src/events/envelope.js';
import { EventStore } from '../../src/events/log/event-store.js';
import { Ledger } from '../../src/events/log/ledger.js';
import type { TwinAck } from '../../src/events/replication/protocol.js';
import { COALESCE_WAIT_MS, EventInbox, type InboxChecker, type InboxLink } from '../../src/tracker/event-inbox.js';
import { chain, tempDir } from '../helpers/envelopes.js';

const cleanup: (() => unknown)[] = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

const LEDGER_OPTIONS = { origin: 2, snapshotEvery: 1e9 };

/** An inbox on a fresh ledger (made by `make`), with `checker`, and what it told its link; `twinAck` is what the twin asked for. */
function inbox<L extends Ledger = Ledger>(make = (store: EventStore) => new Ledger(store, LEDGER_OPTIONS) as L, twinAck: TwinAck = 'flush', checker?: InboxChecker) {
  const dir = tempDir();
  const store = EventStore.open(dir.file('events.db'));
  const ledger = make(store);
  ledger.open();
  cleanup.push(() => dir.remove(), () => store.close());
  const told = { acked: 0, failed: undefined as { code: string; detail: string } | undefined };
  const link: InboxLink = {
    receiving: () => told.failed === undefined,
    liveWaitsForDisk: () => twinAck === 'flush',
    applied: (frames) => void (told.acked += frames),
    caughtUp: () => undefined,
    progressed: () => undefined,
    failed: (code, detail) => void (told.failed = { code, detail }),
  };
  return { box: new EventInbox(ledger, link, checker), ledger, store, dir, told };
}

/** One frame the checker was asked about: the test hands its verdict down when it chooses. */
interface Asked {
  readonly store: boolean;
  /** Passed; `stored`: and in the log now (the test stores it first). */
  pass(stored?: boolean): void;
  fail(problem: string): void;
  /** The worker is gone. */
  gone(): void;
}

/** A checker standing in for the worker thread: it notes what it was asked, and how often stores were withdrawn. */
function fakeChecker() {
  const asked: Asked[] = [];
  let withdrawn = 0;
  const checker: InboxChecker = {
    check: (_text, store = false) =>
      new Promise((resolve, reject) =>
        asked.push({
          store,
          pass: (stored = false) => resolve({ problem: undefined, stored }),
          fail: (problem) => resolve({ problem, stored: false }),
          gone: () => reject(new Error('worker gone')),
        }),
      ),
    withdrawStores: () => void (withdrawn += 1),
  };
  return { checker, asked, withdrawn: () => withdrawn };
}

/** An inbox whose big frames go to a fake checker. */
function checkedInbox() {
  const fake = fakeChecker();
  return { ...inbox(undefined, 'flush', fake.checker), ...fake };
}

const turns = async (n = 5) => {
  for (let i = 0; i < n; i++) await new Promise((r) => setImmediate(r));
};
const stored = (ledger: Ledger) => ledger.originMarks().get(1)?.seq ?? 0;

describe('frames with a pending check', () => {
  const events = chain(1, 30);
  const frames = [events.slice(0, 10), events.slice(10, 20), events.slice(20, 30)];

  test('given frames whose checks are still pending, then none is applied; once the first passes, the frames up to the next pending one are', async () => {
    const { box, ledger, told, asked } = checkedInbox();
    box.push(frames[0]!, undefined, 'frame 0');
    box.push(frames[1]!, undefined); // small: checked inline
    box.push(frames[2]!, undefined, 'frame 2');
    await turns();
    expect(stored(ledger)).toBe(0);
    asked[0]!.pass();
    await turns();
    expect(stored(ledger)).toBe(20);
    expect(told.acked).toBe(2);
    asked[1]!.pass();
    await turns();
    expect(stored(ledger)).toBe(30);
    expect(told.acked).toBe(3);
    expect(told.failed).toBeUndefined();
  });

  test('given verdicts that come back in another order, then the frames are still applied in the order they arrived', async () => {
    const { box, ledger, asked } = checkedInbox();
    frames.forEach((f) => box.push(f, undefined, 'frame'));
    asked[2]!.pass();
    asked[1]!.pass();
    await turns();
    expect(stored(ledger)).toBe(0);
    asked[0]!.pass();
    await turns();
    expect(stored(ledger)).toBe(30);
  });

  test('given a frame the checker failed, then the frames before it are stored and the link is dropped as a broken chain, with the problem', async () => {
    const { box, ledger, told, asked } = checkedInbox();
    frames.forEach((f) => box.push(f, undefined, 'frame'));
    asked[0]!.pass();
    asked[1]!.fail('origin 1 seq 15: hash does not match the content');
    asked[2]!.pass();
    await turns();
    expect(stored(ledger)).toBe(10);
    expect(told.failed).toEqual({ code: 'CHAIN_BROKEN', detail: 'origin 1 seq 15: hash does not match the content' });
  });

  test('given a checker that is gone, then its frames are checked inline: a tampered event still breaks the chain', async () => {
    const { box, ledger, told, asked } = checkedInbox();
    const tampered: Envelope[] = frames[1]!.map((e) => (e.seq === 15 ? { ...e, data: e.data.replace('o1s15', 'mallory') } : e));
    box.push(frames[0]!, undefined, 'frame 0');
    box.push(tampered, undefined, 'frame 1');
    asked[0]!.gone();
    await turns();
    expect(stored(ledger)).toBe(10);
    asked[1]!.gone();
    await turns();
    expect(stored(ledger)).toBe(10);
    expect(told.failed?.code).toBe('CHAIN_BROKEN');
    expect(told.failed?.detail).toMatch(/origin 1 seq 15: hash does not match the content/);
  });
});

describe('catch-up frames the checker stores', () => {
  const backlog = chain(1, 30);
  const frames = [backlog.slice(0, 10), backlog.slice(10, 20), backlog.slice(20, 30)];

  /** An inbox with a fake checker, and a second connection to its log that stores frames as the worker would. */
  function storingInbox() {
    const made = checkedInbox();
    const worker = EventStore.open(made.dir.file('events.db'));
    cleanup.push(() => worker.close());
    const store = (frame: Envelope[]) => expect(worker.appendContinuation(frame, () => true)).toBe(true);
    return { ...made, store };
  }

  test('given frames within the catch-up target, then the checker is asked to store them; frames before the target is known, and live ones, it is not', async () => {
    const { box, asked } = checkedInbox();
    box.push(frames[0]!, undefined, 'before the target');
    box.start(new Map([[1, 20]]));
    box.push(frames[1]!, undefined, 'within it');
    box.push(frames[2]!, Date.now(), 'live');
    expect(asked.map((a) => a.store)).toEqual([false, true, false]);
    for (const a of asked) a.pass();
    await turns();
  });

  test('given frames the checker stored, then the inbox folds and acks them without storing them again', async () => {
    const { box, ledger, store, told, asked } = storingInbox();
    box.start(new Map([[1, 30]]));
    for (const f of frames) box.push(f, undefined, 'frame');
    for (const [i, f] of frames.entries()) {
      store(f);
      asked[i]!.pass(true);
    }
    await new Promise((resolve) => setTimeout(resolve, COALESCE_WAIT_MS + 50));

    expect(stored(ledger)).toBe(30);
    expect(told.acked).toBe(3);
    expect(told.failed).toBeUndefined();
    expect(ledger.store.count()).toBe(30);
    expect(ledger.current.users.size).toBe(30);
    expect(ledger.snapshot()).toBe(true); // every store settled: snapshots are allowed again
  });

  test('given the checker\'s thread gone after it stored a frame and before it answered, then the frame is applied without storing it twice', async () => {
    const { box, ledger, store, told, asked } = storingInbox();
    box.start(new Map([[1, 30]]));
    for (const f of frames) box.push(f, undefined, 'frame');
    store(frames[0]!);
    for (const a of asked) a.gone();
    await new Promise((resolve) => setTimeout(resolve, COALESCE_WAIT_MS + 50));

    expect(told.failed).toBeUndefined();
    expect(stored(ledger)).toBe(30);
    expect(told.acked).toBe(3);
    expect(ledger.current.users.size).toBe(30);
    const replayed = new Ledger(ledger.store, LEDGER_OPTIONS);
    replayed.open();
    expect(ledger.hash()).toBe(replayed.hash());
  });

  test('given the link drops while the checker has stored frames the inbox has not applied, then stores are withdrawn and those events are taken up from the log', async () => {
    const { box, ledger, store, asked, withdrawn } = storingInbox();
    box.start(new Map([[1, 30]]));
    for (const f of frames) box.push(f, undefined, 'frame');
    store(frames[0]!);
    asked[0]!.pass(true);
    await turns();
    expect(stored(ledger)).toBe(10);
    store(frames[1]!); // stored, its answer still on the way when the link drops

    box.stop();

    expect(withdrawn()).toBe(1);
    expect(stored(ledger)).toBe(20);
    expect(ledger.current.users.size).toBe(20);
    asked[1]!.pass(true); // late answers change nothing
    asked[2]!.pass(false);
    await turns();
    expect(stored(ledger)).toBe(20);
    expect(ledger.snapshot()).toBe(true);
    const replayed = new Ledger(ledger.store, LEDGER_OPTIONS);
    replayed.open();
    expect(ledger.hash()).toBe(replayed.hash());
  });
});

describe('what waits for the disk', () => {
  /** A real ledger that notes, for each applyRemote, whether its commit waited for the disk. */
  class NotingLedger extends Ledger {
    readonly waited: boolean[] = [];
    override applyRemote(envelopes: readonly Envelope[], options: Parameters<Ledger['applyRemote']>[1] = {}): Envelope[] {
      this.waited.push(options.waitForDisk ?? true);
      return super.applyRemote(envelopes, options);
    }
  }

  const notingInbox = (twinAck: TwinAck = 'flush') => inbox((store) => new NotingLedger(store, LEDGER_OPTIONS), twinAck);

  const events = chain(1, 30);

  test('given events the twin held when the link came up, then their commit does not wait for the disk; later (live) ones do', async () => {
    const { box, ledger } = notingInbox();
    box.start(new Map([[1, 20]]));
    box.push(events.slice(0, 10), undefined);
    box.push(events.slice(10, 20), undefined);
    await turns();
    box.push(events.slice(20, 30), Date.now());
    await turns();
    expect(stored(ledger)).toBe(30);
    expect(ledger.waited).toEqual([false, true]);
  });

  test('given catch-up frames applied together with a live one, then the commit waits for the disk', async () => {
    const { box, ledger } = notingInbox();
    box.start(new Map([[1, 20]]));
    box.push(events.slice(0, 20), undefined);
    box.push(events.slice(20, 30), Date.now());
    await turns();
    expect(stored(ledger)).toBe(30);
    expect(ledger.waited).toEqual([true]);
  });

  test('given a twin that asked for acks on write, then its live frames do not wait for the disk either', async () => {
    const { box, ledger, told } = notingInbox('write');
    box.start(new Map([[1, 10]]));
    box.push(events.slice(0, 10), undefined);
    await turns();
    box.push(events.slice(10, 20), Date.now());
    await turns();
    box.push(events.slice(20, 30), Date.now());
    await turns();
    expect(stored(ledger)).toBe(30);
    expect(ledger.waited).toEqual([false, false, false]);
    expect(told.acked).toBe(3);
  });

  test('given frames before the catch-up target is known, then their commit waits for the disk', async () => {
    const { box, ledger } = notingInbox();
    box.push(events.slice(0, 10), undefined);
    await turns();
    expect(stored(ledger)).toBe(10);
    expect(ledger.waited).toEqual([true]);
  });
});

describe('a catch-up cut short', () => {
  test('given catch-up frames that sort before events already folded, when the link drops before the backlog ends, then what was stored is folded at once', async () => {
    const { box, ledger } = inbox();
    ledger.applyRemote(chain(3, 5, { hlc: (i) => 10_000_000 + i })); // held and folded: they sort after the backlog
    const backlog = chain(1, 30);
    box.start(new Map([[1, 30]]));
    box.push(backlog.slice(0, 10), undefined);
    box.push(backlog.slice(10, 20), undefined);
    await new Promise((resolve) => setTimeout(resolve, COALESCE_WAIT_MS + 50)); // applied, the rest still to come
    expect(stored(ledger)).toBe(20);

    box.stop();

    expect(ledger.current.users.size).toBe(25);
    const replayed = new Ledger(ledger.store, LEDGER_OPTIONS);
    replayed.open();
    expect(ledger.hash()).toBe(replayed.hash());
  });

  test('given a connection whose link never came up (refused, say), when it stops, then the catch-up under way on the link in use is left to finish its backlog', async () => {
    const { box, ledger, told } = inbox();
    ledger.applyRemote(chain(3, 5, { hlc: (i) => 10_000_000 + i }));
    const backlog = chain(1, 30);
    box.start(new Map([[1, 30]]));
    box.push(backlog.slice(0, 10), undefined);
    box.push(backlog.slice(10, 20), undefined);
    await new Promise((resolve) => setTimeout(resolve, COALESCE_WAIT_MS + 50));
    expect(stored(ledger)).toBe(20);
    let refolds = 0;
    ledger.on('refold', () => (refolds += 1));

    const refused = new EventInbox(ledger, { receiving: () => false, liveWaitsForDisk: () => true, applied: () => undefined, caughtUp: () => undefined, progressed: () => undefined, failed: () => undefined });
    refused.stop();
    expect(refolds).toBe(0);
    expect(ledger.current.users.size).toBe(5); // the backlog so far: stored, to be folded at its end

    box.push(backlog.slice(20), undefined);
    await new Promise((resolve) => setTimeout(resolve, COALESCE_WAIT_MS + 50));
    expect(told.failed).toBeUndefined();
    expect(refolds).toBe(1);
    expect(ledger.current.users.size).toBe(35);
  });
});
