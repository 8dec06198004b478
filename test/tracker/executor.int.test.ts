/**
 * The executor over a real SQLite log: a client's command runs within COMMAND_DEADLINE_MS
 * of being read or not at all, so the copies of a retried command that two trackers run
 * are stamped close enough together for the fold to remember the first (COMMAND_MEMORY_MS).
 */
import { performance } from 'node:perf_hooks';
import { describe, expect, test } from 'vitest';
import { COMMAND_MEMORY_MS } from '../../src/events/index.js';
import { Ledger } from '../../src/events/log/ledger.js';
import { COMMAND_DEADLINE_MS, Executor } from '../../src/tracker/executor.js';
import { cmd } from '../helpers/fixtures.js';
import { logsPerTest } from '../helpers/ledger.js';

const logs = logsPerTest();

function executorOn(file: string): { executor: Executor; ledger: Ledger } {
  const ledger = new Ledger(logs.open(file), { origin: 1 });
  ledger.open();
  return { executor: new Executor(ledger), ledger };
}

describe('the command deadline', () => {
  test('the fold remembers a command far longer than a tracker may take to run it', () => {
    expect(COMMAND_MEMORY_MS).toBeGreaterThanOrEqual(4 * COMMAND_DEADLINE_MS);
  });

  test('given a command read longer ago than COMMAND_DEADLINE_MS (a stalled tracker), when run, then TIMED_OUT and nothing is committed', async () => {
    const { executor, ledger } = executorOn('late.db');
    const outcome = await executor.execute(cmd.createUser('alice'), { idem: 'late-key', readAt: performance.now() - COMMAND_DEADLINE_MS - 1 });
    expect(outcome).toMatchObject({ ok: false, rejection: { code: 'TIMED_OUT', message: expect.stringContaining('try again') } });
    expect(ledger.store.count()).toBe(0);
    expect(executor.previous('late-key')).toBeUndefined();
  });

  test('given a command read just now, when run, then it commits with its key; a retry of it is answered from the log', async () => {
    const { executor, ledger } = executorOn('fresh.db');
    const first = await executor.execute(cmd.createUser('alice'), { idem: 'fresh-key', readAt: performance.now() });
    expect(first).toMatchObject({ ok: true, repeated: false });
    const again = await executor.execute(cmd.createUser('alice'), { idem: 'fresh-key', readAt: performance.now() });
    expect(again).toMatchObject({ ok: true, repeated: true });
    expect(ledger.store.count()).toBe(1);
  });

  test("given the tracker's own command (no submission), when run, then no deadline applies", async () => {
    const { executor, ledger } = executorOn('own.db');
    await executor.execute(cmd.createUser('alice'));
    await executor.execute(cmd.login('alice'));
    expect(await executor.execute(cmd.lose('alice', 0))).toMatchObject({ ok: true, repeated: false });
    expect(ledger.store.count()).toBe(3);
  });
});
