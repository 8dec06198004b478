/**
 * The frame checker's thread (frame-checker.ts): parses each `events` frame it is given
 * and runs checkEnvelopeFields on every envelope, in order; answers with the first
 * problem, or none. A frame that passed and is to be stored goes into the log through
 * this thread's own connection, if it continues the log and its request still stands.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { checkEnvelopeFields, type Envelope } from '../events/envelope.js';
import { EventStore } from '../events/log/event-store.js';
import { parseMessage } from '../events/replication/protocol.js';
import type { CheckAnswer, CheckerSetup, CheckRequest } from './frame-checker.js';

const setup = workerData as CheckerSetup;
const generation = new Int32Array(setup.generation);
let log: EventStore | undefined;

function checked(text: string): Envelope[] | string {
  const parsed = parseMessage(text);
  if (!parsed.ok) return parsed.reason;
  if (parsed.message.t !== 'events') return `not an events frame: ${parsed.message.t}`;
  for (const e of parsed.message.events) {
    const problem = checkEnvelopeFields(e);
    if (problem !== undefined) return `origin ${e.origin} seq ${e.seq}: ${problem}`;
  }
  return parsed.message.events;
}

/** Stores the events if they continue the log and the request was not withdrawn since `storeIn`. */
function store(events: readonly Envelope[], storeIn: number): boolean {
  if (setup.logPath === undefined) return false;
  try {
    if (!log) {
      log = EventStore.open(setup.logPath);
      // Checkpoints are the tracker's (its own connection's); this one only appends.
      log.db.pragma('wal_autocheckpoint = 0');
    }
    return log.appendContinuation(events, () => Atomics.load(generation, 0) === storeIn);
  } catch {
    return false; // the tracker stores the frame itself, and meets the problem there
  }
}

parentPort!.on('message', ({ id, text, storeIn }: CheckRequest) => {
  const events = checked(text);
  const problem = typeof events === 'string' ? events : undefined;
  const stored = typeof events !== 'string' && storeIn !== undefined && store(events, storeIn);
  parentPort!.postMessage({ id, problem, stored } satisfies CheckAnswer);
});
