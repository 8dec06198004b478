// Piece selection: rarest first, least-loaded peer, endgame duplicates, and never
// asking a peer again for a piece it corrupted.
import { describe, expect, it } from 'vitest';
import { ENDGAME_MAX_REQUESTERS, HASH_LOANS_FOR_GAPS, Scheduler, type SchedulablePeer } from '../../src/client/scheduler.js';

class FakePeer implements SchedulablePeer {
  readonly inflight = new Set<number>();
  constructor(
    readonly id: string,
    private readonly pieces: number[],
    readonly capacity = 4,
  ) {}
  get load(): number {
    return this.inflight.size;
  }
  has(index: number): boolean {
    return this.pieces.includes(index);
  }
  isRequesting(index: number): boolean {
    return this.inflight.has(index);
  }
}

function send(scheduler: Scheduler, peers: FakePeer[]): [string, number][] {
  return scheduler.assign(peers).map(({ peer, index }) => {
    peer.inflight.add(index);
    return [peer.id, index];
  });
}

describe('scheduler', () => {
  it('asks for the rarest pieces first, lowest index on ties', () => {
    const a = new FakePeer('a', [0, 1, 2, 3], 2);
    const b = new FakePeer('b', [0, 1, 2], 2);
    const scheduler = new Scheduler(4, () => false);
    scheduler.addPeer(a);
    scheduler.addPeer(b);
    // piece 3 is only at a (rarest); then 0, 1, 2 are equally common.
    expect(send(scheduler, [a, b])).toEqual([
      ['a', 3],
      ['b', 0],
      ['a', 1],
      ['b', 2],
    ]);
  });

  it('gives each request to the least-loaded peer that has the piece', () => {
    const a = new FakePeer('a', [0, 1, 2, 3, 4, 5]);
    const b = new FakePeer('b', [0, 1, 2, 3, 4, 5]);
    a.inflight.add(99).add(98);
    const scheduler = new Scheduler(6, () => false);
    scheduler.addPeer(a);
    scheduler.addPeer(b);
    const sent = send(scheduler, [a, b]);
    expect(sent.filter(([p]) => p === 'b')).toHaveLength(4);
    expect(sent.filter(([p]) => p === 'a')).toHaveLength(2);
  });

  it('duplicates in-flight pieces to free peers in the endgame only', () => {
    const a = new FakePeer('a', [0, 1], 1);
    const b = new FakePeer('b', [0, 1], 1);
    const c = new FakePeer('c', [0, 1], 4);
    const scheduler = new Scheduler(2, () => false);
    [a, b, c].forEach((p) => scheduler.addPeer(p));
    expect(send(scheduler, [a, b])).toEqual([
      ['a', 0],
      ['b', 1],
    ]);
    // Everything missing is in flight: c duplicates both, but never beyond the cap.
    expect(send(scheduler, [a, b, c])).toEqual([
      ['c', 0],
      ['c', 1],
    ]);
    expect(ENDGAME_MAX_REQUESTERS).toBeGreaterThanOrEqual(2);
    expect(send(scheduler, [a, b, c])).toEqual([]);
  });

  it('never asks a peer again for a piece it sent corrupted', () => {
    const bad = new FakePeer('bad', [0]);
    const scheduler = new Scheduler(1, () => false);
    scheduler.addPeer(bad);
    expect(send(scheduler, [bad])).toEqual([['bad', 0]]);
    bad.inflight.clear();
    scheduler.requestEnded(0);
    scheduler.exclude(0, 'bad');
    expect(send(scheduler, [bad])).toEqual([]);
    expect(scheduler.canProgress([bad])).toBe(false);
    const good = new FakePeer('good', [0]);
    scheduler.addPeer(good);
    expect(send(scheduler, [bad, good])).toEqual([['good', 0]]);
  });

  it('asks nothing for held pieces', () => {
    const a = new FakePeer('a', [0, 1, 2]);
    const scheduler = new Scheduler(3, (i) => i !== 1);
    scheduler.addPeer(a);
    expect(send(scheduler, [a])).toEqual([['a', 1]]);
    scheduler.markHeld(1);
    expect(scheduler.remaining).toBe(0);
  });

  it('asks nobody for a piece whose received copy is being checked, not even in the endgame', () => {
    // Regression: with checks off the main thread, a piece being checked looked
    // unrequested (or in flight elsewhere) and was fetched again from the same peer.
    const a = new FakePeer('a', [0, 1], 4);
    const scheduler = new Scheduler(2, () => false);
    scheduler.addPeer(a);
    expect(send(scheduler, [a])).toEqual([
      ['a', 0],
      ['a', 1],
    ]);
    // Piece 0 arrives and goes to the verifier.
    a.inflight.delete(0);
    scheduler.requestEnded(0);
    scheduler.setChecking(0, true);
    expect(send(scheduler, [a])).toEqual([]);
    // It fails its check: now it is asked for again.
    scheduler.setChecking(0, false);
    expect(send(scheduler, [a])).toEqual([['a', 0]]);
  });

  it('hands out at most `max` requests', () => {
    const a = new FakePeer('a', [0, 1, 2, 3], 4);
    const scheduler = new Scheduler(4, () => false);
    scheduler.addPeer(a);
    expect(scheduler.assign([a], 2).map((x) => x.index)).toEqual([0, 1]);
    expect(scheduler.assign([a], 0)).toEqual([]);
  });

  describe('within the whole-file hash loans', () => {
    const MAX = 64;
    const loans = (count: number, lowest: number) => ({ count, max: MAX, lowest });
    const within = (scheduler: Scheduler, peers: FakePeer[], room: { memory: number; pending: number; loans: ReturnType<typeof loans> }): [string, number][] =>
      scheduler.assignWithinLoans(peers, room).map(({ peer, index }) => {
        peer.inflight.add(index);
        return [peer.id, index];
      });
    const all = (n: number): number[] => Array.from({ length: n }, (_, i) => i);

    it('asks as usual while loans are free, and no more than they and memory allow', () => {
      const a = new FakePeer('a', all(100), 50);
      const scheduler = new Scheduler(100, () => false);
      scheduler.addPeer(a);
      // 64 - 10 on loan - 2 pending - 16 kept for gaps = 36, memory 8: memory decides.
      expect(within(scheduler, [a], { memory: 8, pending: 2, loans: loans(10, 0) })).toHaveLength(8);
      // 64 - 40 - 2 - 16 = 6: the loans decide.
      expect(within(scheduler, [a], { memory: 30, pending: 2, loans: loans(40, 0) })).toHaveLength(6);
    });

    it('asks nothing while the hash is only behind (nothing missing below its lowest loan)', () => {
      // Regression: the download ran ahead of a hash worker that lagged on a busy
      // machine; pieces it could not take were read back from disk, which held it up
      // further (40-80% of 1 GiB from 3 seeders read back).
      const a = new FakePeer('a', all(100), 50);
      const scheduler = new Scheduler(100, (i) => i < 60); // 10..59 written, on loan
      scheduler.addPeer(a);
      expect(within(scheduler, [a], { memory: 32, pending: 0, loans: loans(MAX - HASH_LOANS_FOR_GAPS, 10) })).toEqual([]);
    });

    it('asks only for the pieces the hash waits for once the loans are taken', () => {
      const a = new FakePeer('a', all(100), 50);
      const scheduler = new Scheduler(100, (i) => i >= 3 && i < 51); // 0..2 missing, 3..50 on loan
      scheduler.addPeer(a);
      expect(within(scheduler, [a], { memory: 32, pending: 0, loans: loans(48, 3) })).toEqual([
        ['a', 0],
        ['a', 1],
        ['a', 2],
      ]);
    });

    it('copies a piece the hash waits for to another peer when it is in flight', () => {
      const slow = new FakePeer('slow', all(100), 8);
      const fast = new FakePeer('fast', all(100), 8);
      const scheduler = new Scheduler(100, (i) => i >= 1 && i < 49);
      scheduler.addPeer(slow);
      scheduler.addPeer(fast);
      expect(send(scheduler, [slow])).toEqual(all(8).map((i) => ['slow', i === 0 ? 0 : 48 + i]));
      expect(within(scheduler, [slow, fast], { memory: 24, pending: 8, loans: loans(48, 1) })).toEqual([['fast', 0]]);
    });

    it('goes on as usual when a piece the hash waits for is at no peer, so the download does not stall', () => {
      const partial = new FakePeer('partial', all(100).filter((i) => i !== 0), 50);
      const scheduler = new Scheduler(100, (i) => i >= 1 && i < 49);
      scheduler.addPeer(partial);
      expect(within(scheduler, [partial], { memory: 4, pending: 0, loans: loans(48, 1) })).toEqual([49, 50, 51, 52].map((i) => ['partial', i]));
    });
  });

  it('restricts a round to the pieces below an index, endgame included', () => {
    const a = new FakePeer('a', [0, 1, 2, 3], 4);
    const b = new FakePeer('b', [0, 1, 2, 3], 4);
    const scheduler = new Scheduler(4, () => false);
    scheduler.addPeer(a);
    scheduler.addPeer(b);
    expect(scheduler.assign([a], Infinity, 2).map((x) => x.index)).toEqual([0, 1]);
    a.inflight.add(0).add(1);
    // Below 2 everything is in flight at a: b gets copies, not pieces 2 and 3.
    expect(scheduler.assign([a, b], Infinity, 2).map((x) => [x.peer.id, x.index])).toEqual([
      ['b', 0],
      ['b', 1],
    ]);
  });
});
