/**
 * Driving a real Ledger in the log tests: log files in a temp dir of each test's own, a
 * command run as the tracker does, and the state hash a replay of the whole log gives
 * (what a snapshot-free restart would get).
 */
import { afterEach, beforeEach } from 'vitest';
import { decide, evolve, initialState, openEnvelope, stateHash, type Command, type Envelope } from '../../src/events/index.js';
import { EventStore } from '../../src/events/log/event-store.js';
import type { Ledger } from '../../src/events/log/ledger.js';
import { tempDir } from './envelopes.js';

/**
 * Log files in a fresh temp dir for each test; every store opened through it is closed,
 * and the dir removed, after the test. Call at the top of a test file.
 */
export function logsPerTest(): { open(file: string): EventStore; openReadOnly(file: string): EventStore } {
  let dir: ReturnType<typeof tempDir>;
  const stores: EventStore[] = [];
  beforeEach(() => {
    dir = tempDir();
  });
  afterEach(() => {
    for (const s of stores.splice(0)) if (s.db.open) s.close();
    dir.remove();
  });
  const kept = (store: EventStore) => (stores.push(store), store);
  return {
    open: (file) => kept(EventStore.open(dir.file(file))),
    openReadOnly: (file) => kept(EventStore.openReadOnly(dir.file(file))),
  };
}

/** decide against the ledger's state, then commit; throws if refused. */
export function exec(ledger: Ledger, command: Command, idem: string | null = null): Promise<Envelope[]> {
  const decision = decide(ledger.current, command);
  if (!decision.ok) throw new Error(`${command.type} refused: ${decision.rejection.message}`);
  return ledger.commit(decision.events, idem);
}

/** The hash of folding the whole log from the empty state. */
export function replayHash(store: EventStore): string {
  const state = initialState();
  for (const e of store.inFoldOrder()) evolve(state, openEnvelope(e), e);
  return stateHash(state);
}
