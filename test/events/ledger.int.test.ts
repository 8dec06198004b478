/**
 * The ledger over a real SQLite log: acknowledged means on disk, group commit, restart
 * from snapshots, idempotent and chain-checked replication, and convergence of two
 * trackers whatever the arrival order (re-folding when a late event sorts early).
 */
import { describe, expect, test, vi } from 'vitest';
import {
  checkEnvelope,
  decide,
  seal,
  stateHash,
  type Envelope,
} from '../../src/events/index.js';
import { EventStore, type Position } from '../../src/events/log/event-store.js';
import { ChainError, Ledger, SNAPSHOTS_KEPT } from '../../src/events/log/ledger.js';
import { HASH_COOLDOWN } from '../../src/events/log/state-hasher.js';
import { chain } from '../helpers/envelopes.js';
import { exec, logsPerTest, replayHash } from '../helpers/ledger.js';
import { cmd } from '../helpers/fixtures.js';

const logs = logsPerTest();

interface Clock {
  ms: number;
}

function openLedger(file: string, origin: number, options: { clock?: Clock; snapshotEvery?: number } = {}) {
  const store = logs.open(file);
  const clock = options.clock ?? { ms: 1_700_000_000_000 };
  const ledger = new Ledger(store, { origin, snapshotEvery: options.snapshotEvery, clock: () => clock.ms });
  const stats = ledger.open();
  return { ledger, store, stats, clock };
}

const own = (ledger: Ledger): Envelope[] => ledger.store.ofOrigin(ledger.origin, 0, 1_000_000);
const everything = (store: EventStore): Envelope[] => [...store.inFoldOrder()];

function snapshotOfLedger(ledger: Ledger) {
  return { count: ledger.store.count(), hash: ledger.hash(), marks: new Map(ledger.originMarks()) };
}

describe('commit', () => {
  test('given a commit, when its promise resolves, then another connection already finds the events on disk', async () => {
    const { ledger } = openLedger('one.db', 1);
    const other = logs.openReadOnly('one.db');
    const { envelopes, onDisk } = await exec(ledger, cmd.createUser('alice'), 'key-1').then((envelopes) => ({
      envelopes,
      onDisk: other.ofOrigin(1, 0, 10),
    }));
    expect(envelopes).toHaveLength(1);
    expect(onDisk).toEqual(envelopes);
    expect(onDisk[0]).toMatchObject({ origin: 1, seq: 1, type: 'user_created', idem: 'key-1', prev: '' });
  });

  test('given a commit not yet durable, when the next command is decided, then it already sees the first', async () => {
    const { ledger } = openLedger('one.db', 1);
    const pending = exec(ledger, cmd.createUser('alice'));
    expect(decide(ledger.current, cmd.createUser('alice'))).toMatchObject({ ok: false, rejection: { code: 'USER_EXISTS' } });
    await pending;
  });

  test('given several commits in the same tick, when they become durable, then in one transaction, each promise resolving with its own events', async () => {
    const { ledger, store } = openLedger('one.db', 1);
    const batches: Envelope[][] = [];
    ledger.on('durable', (envelopes: Envelope[]) => batches.push([...envelopes]));
    const append = vi.spyOn(store, 'append');

    const pending = ['alice', 'bob', 'carol', 'dave', 'erin'].map((u) => exec(ledger, cmd.createUser(u), `k-${u}`));
    expect(batches).toEqual([]);
    const results = await Promise.all(pending);

    expect(append).toHaveBeenCalledTimes(1);
    expect(batches).toHaveLength(1);
    expect(batches[0]).toEqual(results.flat());
    expect(results.map((r) => [r.length, r[0]!.seq, r[0]!.idem])).toEqual([
      [1, 1, 'k-alice'],
      [1, 2, 'k-bob'],
      [1, 3, 'k-carol'],
      [1, 4, 'k-dave'],
      [1, 5, 'k-erin'],
    ]);

    await exec(ledger, cmd.createUser('frank'));
    expect(batches).toHaveLength(2);
    expect(append).toHaveBeenCalledTimes(2);
  });

  test('given a command with two events, when committed, then they chain, both carry the key, and both pass checkEnvelope', async () => {
    const { ledger } = openLedger('one.db', 1);
    await exec(ledger, cmd.createUser('alice'));
    const envelopes = await ledger.commit(
      [
        { type: 'user_created', data: { user: 'bob', passwordHash: 'h' } },
        { type: 'group_created', data: { group: 'g', owner: 'bob' } },
      ],
      'two-events',
    );
    const log = own(ledger);
    expect(log.map((e) => [e.seq, e.idem])).toEqual([
      [1, null],
      [2, 'two-events'],
      [3, 'two-events'],
    ]);
    expect(ledger.current.conflicts, 'the second event of one run is not taken for a retry').toEqual([]);
    for (const [i, e] of log.entries()) {
      expect(checkEnvelope(e)).toBeUndefined();
      expect(e.prev).toBe(i === 0 ? '' : log[i - 1]!.hash);
      if (i > 0) expect(e.hlc).toBeGreaterThan(log[i - 1]!.hlc);
    }
    expect(envelopes).toEqual(log.slice(1));
  });

  test('given the disk write fails, when the batch is flushed, then every commit in it is rejected (never acknowledged) and fatal is emitted', async () => {
    const { ledger, store } = openLedger('one.db', 1);
    const fatal: unknown[] = [];
    ledger.on('fatal', (error: unknown) => fatal.push(error));
    vi.spyOn(store, 'append').mockImplementation(() => {
      throw new Error('disk full');
    });
    const outcomes = await Promise.allSettled([exec(ledger, cmd.createUser('alice')), exec(ledger, cmd.createUser('bob'))]);
    expect(outcomes.map((o) => o.status)).toEqual(['rejected', 'rejected']);
    expect(fatal).toEqual([expect.objectContaining({ message: 'disk full' })]);
    expect(store.count()).toBe(0);
  });

  test('given no events, when committed, then nothing is stored and no seq is used', async () => {
    const { ledger } = openLedger('one.db', 1);
    expect(await ledger.commit([], 'noop')).toEqual([]);
    const [first] = await exec(ledger, cmd.createUser('alice'));
    expect(first?.seq).toBe(1);
  });
});

describe('restart', () => {
  test('given committed events, when the log is reopened, then the same state hash, and new commits continue the chain', async () => {
    const first = openLedger('one.db', 1);
    await exec(first.ledger, cmd.createUser('alice'));
    await exec(first.ledger, cmd.createUser('bob'));
    await exec(first.ledger, cmd.createGroup('alice', 'g'));
    await exec(first.ledger, cmd.joinGroup('bob', 'g'));
    const before = first.ledger.hash();
    const last = own(first.ledger).at(-1)!;
    first.store.close();

    const clock = { ms: 1_000 }; // the wall clock went far back while we were down
    const again = openLedger('one.db', 1, { clock });
    expect(again.stats).toMatchObject({ snapshotEvents: 0, replayed: 4 });
    expect(again.ledger.hash()).toBe(before);
    expect(again.ledger.originMarks().get(1)).toEqual({ seq: last.seq, hash: last.hash, hlc: last.hlc });

    const [next] = await exec(again.ledger, cmd.accept('alice', 'g', 'bob'));
    expect(next).toMatchObject({ seq: last.seq + 1, prev: last.hash });
    expect(next!.hlc).toBeGreaterThan(last.hlc);
  });

  test('given snapshotEvery 10 and 35 commits, when reopened, then the newest snapshot is loaded and fewer than 10 events replayed, same hash', async () => {
    const clock = { ms: 1_700_000_000_000 };
    const first = openLedger('one.db', 1, { clock, snapshotEvery: 10 });
    const taken: number[] = [];
    first.ledger.on('snapshot', (_at: Position, eventCount: number) => taken.push(eventCount));
    for (let i = 1; i <= 35; i++) {
      clock.ms += 1;
      await exec(first.ledger, i % 7 === 0 ? cmd.createGroup(`u${i - 1}`, `g${i}`) : cmd.createUser(`u${i}`));
    }
    const hash = first.ledger.hash();
    expect(taken).toEqual([10, 20, 30]);
    expect(first.store.listSnapshots().length).toBeLessThanOrEqual(SNAPSHOTS_KEPT);
    first.store.close();

    const again = openLedger('one.db', 1, { clock, snapshotEvery: 10 });
    expect(again.stats.snapshotEvents).toBe(30);
    expect(again.stats.replayed).toBeLessThan(10);
    expect(again.stats.snapshotEvents + again.stats.replayed).toBe(35);
    expect(again.ledger.hash()).toBe(hash);
    expect(replayHash(again.store)).toBe(hash);
  });
});

describe('applyRemote', () => {
  async function tracker2WithHistory() {
    const two = openLedger('two.db', 2);
    await exec(two.ledger, cmd.createUser('alice'));
    await exec(two.ledger, cmd.createGroup('alice', 'g'));
    await exec(two.ledger, cmd.createUser('bob'));
    await exec(two.ledger, cmd.joinGroup('bob', 'g'));
    return two;
  }

  test('given events of origin 2, when applied to the ledger of origin 1, then they are stored, folded and marked', async () => {
    const two = await tracker2WithHistory();
    const one = openLedger('one.db', 1);
    const durable: Envelope[][] = [];
    one.ledger.on('durable', (e: Envelope[]) => durable.push(e));
    const events = own(two.ledger);

    expect(one.ledger.applyRemote(events)).toEqual(events);

    expect(everything(one.store)).toEqual(events);
    expect(one.ledger.current.groups.get('g')?.requests).toEqual(['bob']);
    expect(one.ledger.hash()).toBe(two.ledger.hash());
    expect(one.ledger.originMarks().get(2)).toMatchObject({ seq: 4, hash: events[3]!.hash });
    expect(durable).toEqual([events]);
  });

  test('given a batch already applied, when applied again (or overlapping), then nothing is added twice', async () => {
    const two = await tracker2WithHistory();
    const one = openLedger('one.db', 1);
    const events = own(two.ledger);
    one.ledger.applyRemote(events.slice(0, 2));
    const after = snapshotOfLedger(one.ledger);

    expect(one.ledger.applyRemote(events.slice(0, 2))).toEqual([]);
    expect(snapshotOfLedger(one.ledger)).toEqual(after);

    expect(one.ledger.applyRemote(events)).toEqual(events.slice(2));
    expect(one.ledger.applyRemote(events)).toEqual([]);
    expect(one.store.count()).toBe(4);
    expect(one.ledger.hash()).toBe(two.ledger.hash());
  });

  const broken: [string, (e: Envelope[]) => Envelope[]][] = [
    ['a gap in seq', (e) => [e[0]!, e[2]!]],
    ['a gap in seq whose prev still chains (seq 3 resealed onto seq 1)', (e) => [e[0]!, seal({ ...e[2]!, prev: e[0]!.hash })]],
    ['a chain that does not start at seq 1', (e) => e.slice(1)],
    ['a wrong prev (valid hex, resealed)', (e) => [e[0]!, seal({ ...e[1]!, prev: 'f'.repeat(64) })]],
    ['a tampered event (data changed, hash kept)', (e) => [e[0]!, { ...e[1]!, data: e[1]!.data.replace('"g"', '"h"') }]],
    ['a tampered hash', (e) => [e[0]!, { ...e[1]!, hash: e[1]!.hash.replace(/^./, (c) => (c === '0' ? '1' : '0')) }]],
    ['good events followed by one off-schema event', (e) => [e[0]!, e[1]!, seal({ ...e[2]!, data: '{"user":"bob"}' })]],
  ];

  test.each(broken)('given %s, when applied, then ChainError and nothing changes', async (_what, breakIt) => {
    const two = await tracker2WithHistory();
    const one = openLedger('one.db', 1);
    await exec(one.ledger, cmd.createUser('zed'));
    const before = snapshotOfLedger(one.ledger);

    const attempt = () => one.ledger.applyRemote(breakIt(own(two.ledger)));

    expect(attempt).toThrow(ChainError);
    try {
      attempt();
    } catch (error) {
      expect((error as ChainError).code).toBe('CHAIN_BROKEN');
    }
    expect(snapshotOfLedger(one.ledger)).toEqual(before);
    expect(replayHash(one.store)).toBe(before.hash);
  });

  test('given a local commit not yet durable, when a late remote event forces a re-fold, then the local event is kept and acknowledged', async () => {
    const clock = { ms: 1_700_000_003_000 };
    const one = openLedger('one.db', 1, { clock });
    await exec(one.ledger, cmd.createUser('alice'));
    const pending = exec(one.ledger, cmd.createUser('bob'));
    const refolds: Position[] = [];
    one.ledger.on('refold', (from: Position) => refolds.push(from));
    const late = chain(2, [{ type: 'user_created', data: { user: 'carol', passwordHash: 'h' } }], { hlc: () => 1_700_000_001_000_000 });

    one.ledger.applyRemote(late);

    expect(refolds).toHaveLength(1);
    expect([...one.ledger.current.users.keys()].sort()).toEqual(['alice', 'bob', 'carol']);
    await expect(pending).resolves.toHaveLength(1);
    expect(one.ledger.hash()).toBe(replayHash(one.store));
  });
});

describe('a command both trackers ran (a client retried it on the twin)', () => {
  test('given each tracker applies the other\'s copy, then both fold it once, list the later copy as a conflict, and a replay of either log agrees', async () => {
    const clock1 = { ms: 1_700_000_001_000 };
    const clock2 = { ms: 1_700_000_001_000 };
    const one = openLedger('one.db', 1, { clock: clock1 });
    const two = openLedger('two.db', 2, { clock: clock2 });
    await exec(one.ledger, cmd.createUser('alice'));
    two.ledger.applyRemote(own(one.ledger));
    // Tracker 2 runs the retry, and alice then leaves g there; tracker 1, stalled meanwhile, runs its copy later.
    clock2.ms += 1_000;
    await exec(two.ledger, cmd.createGroup('alice', 'g'), 'retried-key');
    clock2.ms += 500;
    await exec(two.ledger, cmd.leaveGroup('alice', 'g'), 'leave-key');
    clock1.ms += 2_000;
    await exec(one.ledger, cmd.createGroup('alice', 'g'), 'retried-key');

    one.ledger.applyRemote(own(two.ledger)); // sorts before tracker 1's copy: a re-fold
    two.ledger.applyRemote(own(one.ledger).slice(1));

    for (const { ledger, store } of [one, two]) {
      expect(ledger.current.groups.has('g'), 'applied once, then left: g does not come back').toBe(false);
      expect(ledger.current.conflicts).toEqual([{ origin: 1, seq: 2, type: 'group_created', reason: 'a retry of a command already applied (event 2/1)' }]);
      expect(ledger.hash()).toBe(replayHash(store));
    }
    expect(one.ledger.hash()).toBe(two.ledger.hash());
  });
});

describe('hash', () => {
  test('given hash() asked before, then after a commit and after a late event that re-folds, it is always the hash of the state', async () => {
    const c1 = { ms: 1_700_000_000_000 };
    const one = openLedger('one.db', 1, { clock: c1 });
    await exec(one.ledger, cmd.createUser('alice'));
    const first = one.ledger.hash();
    expect(one.ledger.hash()).toBe(first);

    c1.ms += 1000;
    await exec(one.ledger, cmd.createUser('bob'));
    expect(one.ledger.hash()).not.toBe(first);
    expect(one.ledger.hash()).toBe(stateHash(one.ledger.current));

    const refolds: Position[] = [];
    one.ledger.on('refold', (from: Position) => refolds.push(from));
    one.ledger.applyRemote(chain(2, 1, { hlc: () => 1 }));
    expect(refolds).toHaveLength(1);
    expect(one.ledger.hash()).toBe(stateHash(one.ledger.current));
    expect(one.ledger.hash()).toBe(replayHash(one.store));
  });
});

describe('recentHash (what /health reports)', () => {
  test('given a state that costs milliseconds to hash and events arriving, then the last hash is reused for ten times its cost, then recomputed', async () => {
    const one = openLedger('one.db', 1);
    const backlog = chain(2, 60_000);
    one.ledger.applyRemote(backlog.slice(0, 50_000));
    const first = one.ledger.recentHash();
    expect(first).toMatchObject({ eventCount: 50_000, hash: stateHash(one.ledger.current) });
    one.ledger.applyRemote(backlog.slice(50_000));
    const again = one.ledger.recentHash();
    if (performance.now() - first.at < HASH_COOLDOWN * first.costMs) expect(again).toBe(first); // (not if this host stalled between the two lines)
    await new Promise((r) => setTimeout(r, HASH_COOLDOWN * first.costMs + 5));
    expect(one.ledger.recentHash()).toMatchObject({ eventCount: 60_000, hash: stateHash(one.ledger.current) });
  });

  test('given a small state (its text well under HASH_REUSE_MIN_CHARS), then every event is in the next recentHash at once', () => {
    // Regression: a hash reused for ten times its cost, however small, made a test that
    // read /health right after a command see the state before it. The clock is the test's:
    // 0.1 ms per reading, so a hash costs about that and the calls come well within ten
    // times it (a real clock made this test fail whenever the host stalled for 5 ms).
    let ms = 0;
    const clock = vi.spyOn(performance, 'now').mockImplementation(() => (ms += 0.1));
    try {
      const one = openLedger('one.db', 1);
      const events = chain(2, 20);
      for (const [i, e] of events.entries()) {
        one.ledger.applyRemote([e]);
        expect(one.ledger.recentHash().eventCount).toBe(i + 1);
      }
    } finally {
      clock.mockRestore();
    }
  });

  test('given no new events, then it is the current hash, without recomputing it', () => {
    const one = openLedger('one.db', 1);
    one.ledger.applyRemote(chain(2, 100));
    const first = one.ledger.recentHash();
    expect(one.ledger.recentHash()).toBe(first);
    expect(first.hash).toBe(one.ledger.hash());
  });
});

describe('snapshots during a catch-up', () => {
  test('given batches applied with catchingUp, then no snapshot is taken until the batch that ends the backlog', () => {
    const one = openLedger('one.db', 1, { snapshotEvery: 10 });
    const backlog = chain(2, 45);
    one.ledger.applyRemote(backlog.slice(0, 20), { catchingUp: true });
    one.ledger.applyRemote(backlog.slice(20, 40), { catchingUp: true });
    expect(one.store.listSnapshots()).toEqual([]);

    one.ledger.applyRemote(backlog.slice(40), { catchingUp: false });

    expect(one.store.listSnapshots().map((s) => s.eventCount)).toEqual([45]);
  });
});

describe('a catch-up whose events sort before folded ones (a partition healing)', () => {
  /**
   * Tracker 1 holds 5 events of its own, then catches up on 40 of tracker 2's that all
   * sort before them (older hlc): 4 batches with catchingUp, the last one without.
   */
  async function healing(snapshotEvery?: number) {
    const one = openLedger('one.db', 1, { clock: { ms: 1_700_000_010_000 }, snapshotEvery });
    for (let i = 0; i < 5; i++) await exec(one.ledger, cmd.createUser(`mine${i}`));
    const backlog = chain(2, 40, { hlc: (i) => 1_700_000_001_000_000 + i });
    const refolds: Position[] = [];
    one.ledger.on('refold', (from: Position) => refolds.push(from));
    return { one, backlog, refolds, batches: [0, 10, 20, 30].map((at) => backlog.slice(at, at + 10)) };
  }

  test('given a backlog in batches, then it is re-folded once, at its end, into the state of the whole log', async () => {
    const { one, batches, refolds } = await healing();
    for (const batch of batches.slice(0, 3)) one.ledger.applyRemote(batch, { catchingUp: true });
    expect(refolds).toEqual([]);

    one.ledger.applyRemote(batches[3]!, { catchingUp: false });

    expect(refolds).toEqual([expect.objectContaining({ origin: 2, seq: 1 })]);
    expect(one.ledger.current.users.size).toBe(45);
    expect(one.ledger.hash()).toBe(replayHash(one.store));
  });

  test('given a backlog cut short (the link dropped), when foldDeferred runs, then the state is that of the log, a local commit made meanwhile included', async () => {
    const { one, batches, refolds } = await healing();
    one.ledger.applyRemote(batches[0]!, { catchingUp: true });
    const meanwhile = exec(one.ledger, cmd.createUser('meanwhile')); // folded, not yet in the log
    one.ledger.applyRemote(batches[1]!, { catchingUp: true });

    one.ledger.foldDeferred();

    expect(refolds).toHaveLength(1);
    await expect(meanwhile).resolves.toHaveLength(1);
    expect(one.ledger.current.users.has('meanwhile')).toBe(true);
    expect(one.ledger.current.users.size).toBe(5 + 20 + 1);
    expect(one.ledger.hash()).toBe(replayHash(one.store));
    one.ledger.foldDeferred(); // nothing left: no second re-fold
    expect(refolds).toHaveLength(1);
  });

  test('given snapshots after the backlog\'s position, then they are dropped as soon as it is stored, so a restart meanwhile loads the whole log', async () => {
    const { one, batches } = await healing(2);
    expect(one.store.listSnapshots().length).toBeGreaterThan(0);
    one.ledger.applyRemote(batches[0]!, { catchingUp: true });
    expect(one.store.listSnapshots()).toEqual([]);

    const restarted = new Ledger(one.store, { origin: 1 });
    restarted.open();
    expect(restarted.current.users.size).toBe(15);
    expect(restarted.hash()).toBe(replayHash(one.store));
  });

  test('given a snapshot asked for in the middle of the backlog, then it folds what was stored first', async () => {
    const { one, batches } = await healing();
    one.ledger.applyRemote(batches[0]!, { catchingUp: true });

    expect(one.ledger.snapshot()).toBe(true);

    expect(one.store.listSnapshots().map((s) => s.eventCount)).toEqual([15]);
    expect(one.ledger.hash()).toBe(replayHash(one.store));
  });
});

describe('events another connection appends (the frame checker storing a catch-up)', () => {
  /** Tracker 1's ledger, and a second connection to its log that appends 3 frames of tracker 2's 30 events. */
  function withSecondWriter() {
    const one = openLedger('one.db', 1, { snapshotEvery: 10 });
    const other = logs.open('one.db');
    const frames = [0, 10, 20].map((at) => chain(2, 30).slice(at, at + 10));
    const append = (frame: Envelope[]) => expect(other.appendContinuation(frame, () => true)).toBe(true);
    return { one, frames, append };
  }

  test('given a frame already in the log, when applied with inLog, then it is folded and not stored again', () => {
    const { one, frames, append } = withSecondWriter();
    const settled = one.ledger.appendingElsewhere();
    append(frames[0]!);

    expect(one.ledger.applyRemote(frames[0]!, { inLog: true, fieldsChecked: true })).toHaveLength(10);
    settled();

    expect(one.ledger.originMarks().get(2)?.seq).toBe(10);
    expect(one.store.count()).toBe(10);
    expect(one.ledger.hash()).toBe(replayHash(one.store));
  });

  test('given events in the log beyond the marks, when a late event makes the ledger re-fold, then the re-fold leaves them out and they are folded once when applied', () => {
    const { one, frames, append } = withSecondWriter();
    one.ledger.applyRemote(chain(3, 5, { hlc: (i) => 5_000_000 + i })); // folded: they sort after tracker 2's
    const settled = one.ledger.appendingElsewhere();
    append(frames[0]!);

    one.ledger.applyRemote(chain(4, 1, { hlc: () => 1 })); // sorts first: a re-fold from the start
    expect(one.ledger.current.users.size).toBe(6);

    one.ledger.applyRemote(frames[0]!, { inLog: true });
    settled();
    expect(one.ledger.current.users.size).toBe(16);
    expect(one.ledger.current.conflicts).toEqual([]);
    expect(one.ledger.hash()).toBe(replayHash(one.store));
  });

  test('given appends elsewhere not settled, then no snapshot is taken; once settled, the next batch takes one', () => {
    const { one, frames, append } = withSecondWriter();
    const settled = one.ledger.appendingElsewhere();
    one.ledger.applyRemote(chain(3, 25));
    append(frames[0]!);
    expect(one.ledger.snapshot()).toBe(false);
    expect(one.store.listSnapshots()).toEqual([]);

    one.ledger.applyRemote(frames[0]!, { inLog: true });
    settled();
    one.ledger.applyRemote(frames[1]!);

    expect(one.store.listSnapshots().map((s) => s.eventCount)).toEqual([45]);
    expect(one.ledger.hash()).toBe(replayHash(one.store));
  });

  test('given events appended elsewhere that the ledger was never told of, when it adopts the log\'s tail, then its marks and state are the log\'s', () => {
    const { one, frames, append } = withSecondWriter();
    one.ledger.applyRemote(frames[0]!);
    append(frames[1]!);
    append(frames[2]!);

    expect(one.ledger.adoptLogTail()).toBe(20);

    expect(one.ledger.originMarks().get(2)).toEqual({ seq: 30, hash: frames[2]![9]!.hash, hlc: frames[2]![9]!.hlc });
    expect(one.ledger.current.users.size).toBe(30);
    expect(one.ledger.hash()).toBe(replayHash(one.store));
    expect(one.ledger.adoptLogTail()).toBe(0);
    one.ledger.applyRemote(chain(2, 31).slice(30)); // the chain goes on from the adopted tip
    expect(one.ledger.originMarks().get(2)?.seq).toBe(31);
  });
});

describe('after close', () => {
  test('given a closed ledger and log (a tracker stopping), when its link\'s last close asks it to fold or adopt, then it does nothing', async () => {
    const one = openLedger('one.db', 1, { clock: { ms: 1_700_000_010_000 } });
    await exec(one.ledger, cmd.createUser('mine'));
    one.ledger.applyRemote(chain(2, 10, { hlc: (i) => 1_700_000_001_000_000 + i }), { catchingUp: true }); // stored, its fold deferred
    await one.ledger.close();
    await one.store.close();

    expect(() => one.ledger.foldDeferred()).not.toThrow();
    expect(one.ledger.adoptLogTail()).toBe(0);
  });
});

describe('convergence of two trackers', () => {
  test('given both accepted conflicting commands during a partition, when they exchange in different orders and batches, then equal hashes and the same conflicts', async () => {
    const c1 = { ms: 1_700_000_001_000 };
    const c2 = { ms: 1_700_000_000_999 }; // tracker 2's clock is a millisecond behind: its claims sort first
    const one = openLedger('one.db', 1, { clock: c1 });
    const two = openLedger('two.db', 2, { clock: c2 });
    const refolds = { one: 0, two: 0, three: 0 };
    one.ledger.on('refold', () => (refolds.one += 1));
    two.ledger.on('refold', () => (refolds.two += 1));

    // The partition: both create alice (different passwords) and group g.
    await exec(one.ledger, cmd.createUser('alice', 'pw-from-1'));
    await exec(one.ledger, cmd.createGroup('alice', 'g'));
    await exec(one.ledger, cmd.createUser('bob'));
    await exec(two.ledger, cmd.createUser('alice', 'pw-from-2'));
    await exec(two.ledger, cmd.createGroup('alice', 'g'));
    c2.ms += 10;
    await exec(two.ledger, cmd.createUser('carol'));
    await exec(two.ledger, cmd.joinGroup('carol', 'g'));

    // Heal: 1 gets all of 2 at once; 2 gets 1 in two batches.
    one.ledger.applyRemote(own(two.ledger));
    const fromOne = own(one.ledger);
    two.ledger.applyRemote(fromOne.slice(0, 1));
    two.ledger.applyRemote(fromOne.slice(1));

    expect(refolds.one).toBeGreaterThan(0);
    expect(refolds.two).toBeGreaterThan(0);
    expect(one.ledger.hash()).toBe(two.ledger.hash());
    expect(one.ledger.current.conflicts).toEqual(two.ledger.current.conflicts);
    expect(one.ledger.current.conflicts.map((c) => [c.origin, c.seq, c.type])).toEqual([
      [1, 1, 'user_created'],
      [1, 2, 'group_created'],
    ]);
    expect(one.ledger.current.users.get('alice')?.passwordHash).toBe('pw-from-2');
    expect(two.ledger.current.groups.get('g')?.requests).toEqual(['carol']);

    // A third tracker hears both, interleaved in one batch and then the rest: same state.
    const three = openLedger('three.db', 3);
    three.ledger.on('refold', () => (refolds.three += 1));
    const fromTwo = own(two.ledger);
    three.ledger.applyRemote([fromOne[0]!, fromTwo[0]!, fromOne[1]!]);
    three.ledger.applyRemote([...fromOne, ...fromTwo]);
    expect(three.ledger.hash()).toBe(one.ledger.hash());

    // Concurrent again: 2 (clock behind) commits while 1 commits later; 1 hears 2's late event after folding its own.
    c1.ms += 1000;
    c2.ms += 500;
    await exec(one.ledger, cmd.createUser('dave', 'pw-from-1'));
    await exec(two.ledger, cmd.createUser('dave', 'pw-from-2'));
    const refoldsBefore = refolds.one;
    one.ledger.applyRemote(own(two.ledger));
    two.ledger.applyRemote(own(one.ledger));
    three.ledger.applyRemote([...own(two.ledger), ...own(one.ledger)]);
    expect(refolds.one).toBe(refoldsBefore + 1);
    expect(one.ledger.current.users.get('dave')?.passwordHash).toBe('pw-from-2');
    expect(new Set([one.ledger.hash(), two.ledger.hash(), three.ledger.hash(), replayHash(one.store)]).size).toBe(1);
    expect(two.ledger.current.conflicts).toEqual(one.ledger.current.conflicts);
    expect(one.ledger.current.conflicts).toHaveLength(3);
  });

  test('given snapshots, when a late event sorts before some of them, then the re-fold starts from an older snapshot, drops the stale ones, and survives a restart', async () => {
    const c1 = { ms: 1_700_000_000_000 };
    const one = openLedger('one.db', 1, { clock: c1, snapshotEvery: 5 });
    for (let i = 1; i <= 20; i++) {
      c1.ms = 1_700_000_000_000 + i; // u<i> at hlc (T + i) ms
      await exec(one.ledger, cmd.createUser(`u${i}`, 'pw-from-1'));
    }
    const positions = () => one.store.listSnapshots().map((s) => s.hlc);
    expect(positions()).toHaveLength(SNAPSHOTS_KEPT);
    const before = one.store.listSnapshots();

    // Tracker 2 claimed u15 at T + 12.5 ms, i.e. before tracker 1's snapshots at 15 and 20 but after the one at 10.
    const c2 = { ms: 1_700_000_000_012 };
    const two = openLedger('two.db', 2, { clock: c2 });
    await exec(two.ledger, cmd.createUser('u15', 'pw-from-2'));
    const late = own(two.ledger)[0]!;
    const lateAt = { ...late, hlc: late.hlc + 500 };
    const resealed = seal({ ...late, hlc: lateAt.hlc });

    const refolds: Position[] = [];
    one.ledger.on('refold', (from: Position) => refolds.push(from));
    const loads = vi.spyOn(one.store, 'latestSnapshot');
    one.ledger.applyRemote([resealed]);

    expect(refolds).toEqual([expect.objectContaining({ hlc: lateAt.hlc, origin: 2, seq: 1 })]);
    const usedSnapshot = loads.mock.results.at(-1)?.value as { hlc: number; eventCount: number } | undefined;
    expect(usedSnapshot).toMatchObject({ eventCount: 10 });
    expect(positions().length).toBeGreaterThan(0);
    // Every snapshot taken before the late event arrived and sorting after it is gone; a
    // snapshot the re-fold itself took (its replayed tail reached snapshotEvery) includes it.
    expect(before.filter((s) => s.hlc >= lateAt.hlc).length).toBeGreaterThan(0);
    for (const s of one.store.listSnapshots().filter((x) => x.hlc >= lateAt.hlc)) {
      expect(s.eventCount).toBe(one.ledger.current.eventCount);
      expect(s.stateHash).toBe(one.ledger.hash());
    }
    expect(one.ledger.current.users.get('u15')?.passwordHash).toBe('pw-from-2');
    expect(one.ledger.current.conflicts).toEqual([expect.objectContaining({ origin: 1, seq: 15, type: 'user_created' })]);
    expect(one.ledger.hash()).toBe(replayHash(one.store));

    // More commits after the re-fold take fresh snapshots; a restart agrees with a full replay.
    for (let i = 21; i <= 32; i++) {
      c1.ms += 1;
      await exec(one.ledger, cmd.createUser(`u${i}`));
    }
    const hash = one.ledger.hash();
    expect(hash).toBe(replayHash(one.store));
    one.store.close();
    const again = openLedger('one.db', 1, { clock: c1, snapshotEvery: 5 });
    expect(again.ledger.hash()).toBe(hash);
    expect(again.stats.snapshotEvents).toBeGreaterThan(0);
  });
});

describe('rebuilding a tracker from its twin', () => {
  test('given tracker 1 lost its disk, when it gets its own events back from tracker 2, then its next commit continues its seq chain', async () => {
    const c1 = { ms: 1_700_000_005_000 };
    const one = openLedger('one.db', 1, { clock: c1 });
    await exec(one.ledger, cmd.createUser('alice'));
    await exec(one.ledger, cmd.createGroup('alice', 'g'));
    await exec(one.ledger, cmd.createUser('bob'));
    const two = openLedger('two.db', 2);
    two.ledger.applyRemote(own(one.ledger));
    await exec(two.ledger, cmd.joinGroup('bob', 'g'));
    const lastOfOne = own(one.ledger).at(-1)!;
    one.store.close();

    const rebuiltClock = { ms: 1_700_000_000_000 }; // and its clock is behind its old events
    const rebuilt = openLedger('one-rebuilt.db', 1, { clock: rebuiltClock });
    rebuilt.ledger.applyRemote([...two.store.ofOrigin(1, 0, 100), ...two.store.ofOrigin(2, 0, 100)]);
    expect(rebuilt.ledger.hash()).toBe(two.ledger.hash());

    const [next] = await exec(rebuilt.ledger, cmd.accept('alice', 'g', 'bob'));
    expect(next).toMatchObject({ origin: 1, seq: lastOfOne.seq + 1, prev: lastOfOne.hash });
    expect(next!.hlc).toBeGreaterThan(two.store.maxHlc());

    expect(two.ledger.applyRemote([next!])).toEqual([next]);
    expect(two.ledger.hash()).toBe(rebuilt.ledger.hash());
    expect(two.ledger.current.groups.get('g')?.members).toEqual(['alice', 'bob']);
  });
});
