/**
 * Driving a real Ledger in the log tests: run a command as the tracker does, and the
 * state hash a replay of the whole log gives (what a snapshot-free restart would get).
 */
import { decide, evolve, initialState, openEnvelope, stateHash, type Command, type Envelope } from '../../src/events/index.js';
import type { EventStore } from '../../src/events/log/event-store.js';
import type { Ledger } from '../../src/events/log/ledger.js';

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
