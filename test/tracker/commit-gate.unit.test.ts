/**
 * The gate that holds local commits (CommitGate) on its own: shut until the first contact
 * with the twin settles (or the settle time passes), and while the twin holds more of
 * this origin than the log; a held command goes ahead when the gate opens, or is refused
 * after the hold. Real timers, with holds of tens of ms.
 */
import { describe, expect, test } from 'vitest';
import { CatchingUpError, CommitGate } from '../../src/tracker/commit-gate.js';

function gate(options: { behind?: () => boolean; holdMs?: number; settleMaxMs?: number } = {}) {
  return new CommitGate({ behind: options.behind ?? (() => false), refusal: 'catching up', holdMs: options.holdMs ?? 1000, settleMaxMs: options.settleMaxMs ?? 60_000 });
}

describe('CommitGate', () => {
  test('shut until settled; a held command goes ahead when it settles', async () => {
    const g = gate();
    expect(g.open).toBe(false);
    const held = g.hold();
    expect(held).toBeDefined();
    g.settle();
    await held;
    expect(g.open).toBe(true);
    expect(g.hold()).toBeUndefined();
    g.stop();
  });

  test('settles by itself after the settle time', async () => {
    const g = gate({ settleMaxMs: 30 });
    expect(g.settled).toBe(false);
    await g.hold();
    expect(g.settled).toBe(true);
    expect(g.open).toBe(true);
  });

  test('while the twin holds more of this origin, commands are held; they go ahead on the recheck that finds it caught up', async () => {
    let behind = true;
    const g = gate({ behind: () => behind });
    g.settle();
    expect(g.open).toBe(false);
    const held = g.hold()!;
    let done = false;
    void held.then(() => (done = true));
    g.recheck(); // still behind
    await new Promise((r) => setImmediate(r));
    expect(done).toBe(false);
    behind = false;
    g.recheck();
    await held;
    g.stop();
  });

  test('a command held too long is refused with TRACKER_CATCHING_UP, and is no longer held', async () => {
    const g = gate({ behind: () => true, holdMs: 30 });
    g.settle();
    const error = await g.hold()!.then(() => undefined, (e: unknown) => e);
    expect(error).toBeInstanceOf(CatchingUpError);
    expect((error as CatchingUpError).code).toBe('TRACKER_CATCHING_UP');
    expect((error as CatchingUpError).message).toBe('catching up');
    g.stop();
  });

  test('stop lets every held command go ahead, and holds no more', async () => {
    const g = gate({ behind: () => true });
    const held = [g.hold()!, g.hold()!];
    g.stop();
    await Promise.all(held);
    expect(g.hold()).toBeUndefined();
  });
});
