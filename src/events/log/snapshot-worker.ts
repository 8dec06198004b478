/**
 * The snapshot worker: a thread with its own read connection to the log that keeps a
 * second copy of the state, folded from the durable log alone, and turns it into
 * snapshot text on request. The tracker's event loop never pays for encoding the state.
 *
 * Protocol (see snapshotter.ts): in `{ upTo, eventCount }` -> fold every event up to
 * that position, check the count, answer `{ upTo, eventCount, hash, state }` (the text's
 * UTF-8, the SHA-256 of which is its textHash), with `hashOnly` `{ upTo, eventCount, hash }`, or
 * `{ error }`; in `{ reset: true }` -> forget the state (a late event landed before it).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { snapshotText, stateHash, textHash } from '../state-codec.js';
import type { State } from '../state.js';
import { EventStore, type Position } from './event-store.js';
import { foldEvents, foldFromSnapshot } from './fold.js';
import type { SnapshotResult, StateHashResult } from './snapshotter.js';

interface Job {
  readonly upTo: Position;
  readonly eventCount: number;
  /** Only the state's hash is wanted (StateHasher's askElsewhere), not its text. */
  readonly hashOnly?: boolean;
}

const store = EventStore.openReadOnly((workerData as { path: string }).path);
let state: State | undefined;
let at: Position | undefined;

parentPort!.on('message', (message: Job | { reset: true } | { stop: true }) => {
  if ('stop' in message) {
    void store.close();
    parentPort!.close();
    return;
  }
  if ('reset' in message) {
    state = undefined;
    at = undefined;
    return;
  }
  try {
    if (!state || (at && compare(at, message.upTo) > 0)) {
      const snapshot = store.latestSnapshot({ ...message.upTo, seq: message.upTo.seq + 1 });
      const loaded = foldFromSnapshot(store, snapshot, { upTo: message.upTo });
      state = loaded.state;
    } else {
      foldEvents(store, state, { after: at, upTo: message.upTo });
    }
    at = message.upTo;
    if (state.eventCount !== message.eventCount) {
      const got = state.eventCount;
      state = undefined;
      at = undefined;
      parentPort!.postMessage({ error: `folded ${got} events up to the position, the tracker has ${message.eventCount}` });
      return;
    }
    if (message.hashOnly) {
      parentPort!.postMessage({ upTo: message.upTo, eventCount: state.eventCount, hash: stateHash(state) } satisfies StateHashResult);
      return;
    }
    // UTF-8 in a buffer of its own, which the message moves to the tracker's thread.
    const utf8 = new TextEncoder().encode(snapshotText(state));
    const result: SnapshotResult = { upTo: message.upTo, eventCount: state.eventCount, hash: textHash(utf8), state: utf8 };
    parentPort!.postMessage(result, [utf8.buffer]);
  } catch (error) {
    state = undefined;
    at = undefined;
    parentPort!.postMessage({ error: error instanceof Error ? error.message : String(error) });
  }
});

function compare(a: Position, b: Position): number {
  return a.hlc - b.hlc || a.origin - b.origin || a.seq - b.seq;
}
