/**
 * Replay on two cores: a worker thread reads the log in fold order (its own read-only
 * connection and read transaction, so one consistent point of the log) while this
 * thread parses and folds. The fold itself is the shared one (events/log/fold.ts); only
 * the reading moves.
 *
 * The worker ships batches of BATCH_EVENTS rows: positions and type codes in
 * transferred typed arrays (no copy), the data texts joined into one JSON array text
 * (one string copy, one JSON.parse here), the idempotency keys as an array. It stays
 * at most MAX_BATCHES_AHEAD batches ahead of the fold (a shared counter and
 * Atomics.wait), so memory stays bounded however long the log.
 */
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import { EVENT_TYPES } from '../../events/domain-events.js';
import { Fold, foldOrderQuery, type FoldRange } from '../../events/log/fold.js';
import type { State } from '../../events/state.js';

export const BATCH_EVENTS = 4096;
export const MAX_BATCHES_AHEAD = 8;
/** Type code for a type this build does not know: the text travels beside the batch. */
const OTHER_TYPE = 255;

interface Batch {
  readonly n: number;
  readonly hlc: Float64Array;
  readonly origin: Float64Array;
  readonly seq: Float64Array;
  readonly type: Uint8Array;
  /** Types outside EVENT_TYPES, by index in the batch (a damaged log; evolve records them). */
  readonly other: Record<number, string>;
  /** The batch's data texts as one JSON array text. */
  readonly data: string;
  /** The batch's idempotency keys (or nulls). */
  readonly idem: (string | null)[];
}

const WORKER_SOURCE = `
const { workerData, parentPort } = require('node:worker_threads');
const Database = require(workerData.driver);
const { path, sql, params, types, batch: N, ahead, otherType } = workerData;
const consumed = new Int32Array(workerData.consumed);
const codes = new Map(types.map((t, i) => [t, i]));
const db = new Database(path, { readonly: true, fileMustExist: true });
let produced = 0;
let hlc, origin, seq, type, other, data, idem, n;
const fresh = () => { hlc = new Float64Array(N); origin = new Float64Array(N); seq = new Float64Array(N); type = new Uint8Array(N); other = {}; data = []; idem = []; n = 0; };
const flush = () => {
  while (produced - Atomics.load(consumed, 0) >= ahead) Atomics.wait(consumed, 0, Atomics.load(consumed, 0), 1000);
  parentPort.postMessage({ n, hlc, origin, seq, type, other, data: '[' + data.join(',') + ']', idem }, [hlc.buffer, origin.buffer, seq.buffer, type.buffer]);
  produced += 1;
  fresh();
};
try {
  fresh();
  db.exec('BEGIN');
  for (const r of db.prepare(sql).raw(true).iterate(...params)) {
    hlc[n] = r[0]; origin[n] = r[1]; seq[n] = r[2];
    const code = codes.get(r[3]);
    if (code === undefined) { type[n] = otherType; other[n] = String(r[3]); } else type[n] = code;
    data.push(r[4]);
    idem.push(r[5]);
    n += 1;
    if (n === N) flush();
  }
  if (n > 0) flush();
  db.exec('COMMIT');
  parentPort.postMessage({ done: true });
} catch (error) {
  parentPort.postMessage({ error: String(error && error.message || error) });
} finally {
  db.close();
}
`;

/** Folds the events of `file` in `range` into `state` (changed in place), reading on a worker thread. */
export function foldFileInParallel(file: string, state: State, range: FoldRange = {}): Promise<Fold> {
  const { sql, params } = foldOrderQuery(range);
  const consumed = new SharedArrayBuffer(4);
  const counter = new Int32Array(consumed);
  const fold = new Fold(state);
  const driver = createRequire(import.meta.url).resolve('better-sqlite3');
  return new Promise<Fold>((resolve, reject) => {
    const worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: { path: file, sql, params, types: EVENT_TYPES, batch: BATCH_EVENTS, ahead: MAX_BATCHES_AHEAD, otherType: OTHER_TYPE, consumed, driver },
    });
    let settled = false;
    const finish = (error?: unknown) => {
      if (settled) return;
      settled = true;
      void worker.terminate();
      if (error) reject(error instanceof Error ? error : new Error(String(error)));
      else resolve(fold);
    };
    worker.on('message', (message: Batch | { done: true } | { error: string }) => {
      if ('done' in message) return finish();
      if ('error' in message) return finish(new Error(`reading the log failed: ${message.error}`));
      try {
        const datas = JSON.parse(message.data) as unknown[];
        for (let i = 0; i < message.n; i++) {
          const code = message.type[i]!;
          const type = (code === OTHER_TYPE ? message.other[i] : EVENT_TYPES[code]) as (typeof EVENT_TYPES)[number];
          fold.add(message.hlc[i]!, message.origin[i]!, message.seq[i]!, type, datas[i], message.idem[i] ?? null);
        }
      } catch (error) {
        return finish(error);
      }
      Atomics.add(counter, 0, 1);
      Atomics.notify(counter, 0);
    });
    worker.on('error', finish);
    // Every message is delivered before 'exit': an exit before 'done' is a failure.
    worker.on('exit', (code) => finish(new Error(`the log reader stopped early (exit code ${code})`)));
  });
}
