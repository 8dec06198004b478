// Piece selection: rarest first, least-loaded peer, endgame duplicates, and never
// asking a peer again for a piece it corrupted.
import { describe, expect, it } from 'vitest';
import { ENDGAME_MAX_REQUESTERS, Scheduler, type SchedulablePeer } from '../../src/client/scheduler.js';

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
});
