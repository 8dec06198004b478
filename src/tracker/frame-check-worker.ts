/**
 * The frame checker's thread (frame-checker.ts): parses each `events` frame it is given
 * and runs checkEnvelopeFields on every envelope, in order; answers with the first
 * problem, or none. Frames that passed and are to be stored go into the log through
 * this thread's own connection, if they continue the log and their request still stands.
 *
 * Frames to be stored that arrive together (a catch-up keeps a window of them in flight)
 * are stored together, up to MAX_FRAMES_PER_STORE, in one transaction: each commit
 * rewrites the last, partly filled page of the table and of each index, so small
 * transactions write the same pages again and again.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { checkEnvelopeFields, type Envelope } from '../events/envelope.js';
import { EventStore } from '../events/log/event-store.js';
import { parseMessage } from '../events/replication/protocol.js';
import { MAX_FRAMES_PER_STORE, type CheckAnswer, type CheckerSetup, type CheckRequest } from './frame-checker.js';

const setup = workerData as CheckerSetup;
const generation = new Int32Array(setup.generation);
let log: EventStore | undefined;

/** Frames that passed and wait to be stored together, all asked for in generation `storeIn`. */
let run: { ids: number[]; frames: Envelope[][]; storeIn: number } | undefined;
let runEndQueued = false;

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
    return false; // the tracker stores the frames itself, and meets the problem there
  }
}

function answer(id: number, problem: string | undefined, stored: boolean): void {
  parentPort!.postMessage({ id, problem, stored } satisfies CheckAnswer);
}

/** Stores the waiting frames, all or none, and answers for each: in the order asked. */
function endRun(): void {
  if (!run) return;
  const { ids, frames, storeIn } = run;
  run = undefined;
  const stored = store(frames.length === 1 ? frames[0]! : frames.flat(), storeIn);
  for (const id of ids) answer(id, undefined, stored);
}

function queueRunEnd(): void {
  if (runEndQueued) return;
  runEndQueued = true;
  // After the messages that arrived together: the port delivers those queued before immediates run.
  setImmediate(() => {
    runEndQueued = false;
    endRun();
  });
}

parentPort!.on('message', ({ id, text, storeIn }: CheckRequest) => {
  const events = checked(text);
  if (typeof events === 'string' || storeIn === undefined || setup.logPath === undefined) {
    endRun();
    return answer(id, typeof events === 'string' ? events : undefined, false);
  }
  if (run && (run.storeIn !== storeIn || run.ids.length === MAX_FRAMES_PER_STORE)) endRun();
  run ??= { ids: [], frames: [], storeIn };
  run.ids.push(id);
  run.frames.push(events);
  queueRunEnd();
});
