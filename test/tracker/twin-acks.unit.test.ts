/**
 * The semi-synchronous wait on its own (TwinAcks): a command waits for the twin's ack of
 * its seq, at most the wait; one that runs out makes the link lagging until the twin
 * has acked everything of this origin again. Real timers, with a wait of 50 ms.
 */
import { describe, expect, test } from 'vitest';
import { TwinAcks } from '../../src/tracker/twin-acks.js';

const WAIT_MS = 50;

function acks() {
  const heard: string[] = [];
  const twin = new TwinAcks({ lagging: (ms) => heard.push(`lagging ${ms}`), lagOver: () => heard.push('lag over') }, WAIT_MS);
  return { twin, heard };
}

/** Whether the promise has settled after the current turn's microtasks. */
async function settled(p: Promise<unknown>): Promise<boolean> {
  let done = false;
  void p.then(() => (done = true));
  await new Promise((r) => setImmediate(r));
  return done;
}

describe('TwinAcks', () => {
  test('a wait ends when the twin acks its seq, not before', async () => {
    const { twin, heard } = acks();
    const first = twin.wait(3);
    const second = twin.wait(5);
    twin.acked(2, 5);
    expect(await settled(first)).toBe(false);
    twin.acked(4, 5);
    expect(await settled(first)).toBe(true);
    expect(await settled(second)).toBe(false);
    twin.acked(5, 5);
    expect(await settled(second)).toBe(true);
    await new Promise((r) => setTimeout(r, WAIT_MS * 2));
    expect(twin.lagging).toBe(false);
    expect(heard).toEqual([]);
  });

  test('a wait that runs out makes the link lagging and ends every wait; the twin acking everything ends the lag', async () => {
    const { twin, heard } = acks();
    const started = performance.now();
    const waits = [twin.wait(1), twin.wait(2)];
    await Promise.all(waits);
    expect(performance.now() - started).toBeGreaterThanOrEqual(WAIT_MS - 1);
    expect(twin.lagging).toBe(true);
    expect(heard).toEqual([`lagging ${WAIT_MS}`]);
    twin.acked(1, 2); // not everything yet
    expect(twin.lagging).toBe(true);
    twin.acked(2, 2);
    expect(twin.lagging).toBe(false);
    expect(heard).toEqual([`lagging ${WAIT_MS}`, 'lag over']);
  });

  test("the deadline is each wait's own: a later wait gets its full time after an earlier one is acked", async () => {
    const waitMs = 300; // a margin of 120 ms either side, for a busy machine
    const twin = new TwinAcks({ lagging: () => undefined, lagOver: () => undefined }, waitMs);
    const first = twin.wait(1);
    await new Promise((r) => setTimeout(r, waitMs * 0.6));
    const second = twin.wait(2);
    twin.acked(1, 2);
    await first;
    await new Promise((r) => setTimeout(r, waitMs * 0.6)); // past the first's deadline, not the second's
    expect(twin.lagging).toBe(false);
    expect(await settled(second)).toBe(false);
    await second;
    expect(twin.lagging).toBe(true);
  });

  test('a link starts lagging only when the twin is more than the tolerance behind', () => {
    const { twin } = acks();
    twin.linked(90, 100, 10);
    expect(twin.lagging).toBe(false);
    twin.linked(89, 100, 10);
    expect(twin.lagging).toBe(true);
  });

  test('releaseAll ends every wait at once, without lagging', async () => {
    const { twin, heard } = acks();
    const waits = [twin.wait(1), twin.wait(7)];
    twin.releaseAll();
    expect(await settled(Promise.all(waits))).toBe(true);
    await new Promise((r) => setTimeout(r, WAIT_MS * 2));
    expect(twin.lagging).toBe(false);
    expect(heard).toEqual([]);
  });
});
