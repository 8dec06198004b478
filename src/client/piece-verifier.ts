/**
 * Checks received pieces against their SHA-1 off the main thread, so that the main
 * thread only moves bytes (socket -> disk) and the two hashes every byte needs (this
 * one and the whole-file one, see whole-file-hasher.ts) run beside it on other cores.
 *
 * Owns: one process-wide pool of VERIFIER_THREADS worker threads, made on first use; an
 * idle one is unref'd (it never keeps a process alive), a busy one is not. The workers get the piece arena
 * (piece-buffers.ts) once, so a piece in it is checked where it lies: a message carries
 * its offset, length and expected digest, the answer is one boolean. A piece outside
 * the arena is checked on the calling thread.
 * Promises: `verifyPiece` resolves true exactly when `data` has the expected SHA-1.
 * A worker that dies fails its pending checks (false: the piece is fetched again)
 * and is replaced on the next call.
 */
import { hash } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { inArena, pieceArena } from './piece-buffers.js';

/** Worker threads checking pieces: one per core beyond the main thread's, at most 2. */
export const VERIFIER_THREADS = Math.max(1, Math.min(2, availableParallelism() - 1));

/** Messages in: [id, offset, length, expected hex]; out: [id, matches]. */
// process.getBuiltinModule, not require: the eval'd source runs as an ES module when
// the process was started with --input-type=module (workers inherit it).
const WORKER_SOURCE = `
const { parentPort, workerData } = process.getBuiltinModule('node:worker_threads');
const { hash } = process.getBuiltinModule('node:crypto');
const arena = new Uint8Array(workerData.arena);
parentPort.on('message', ([id, offset, length, expected]) => {
  parentPort.postMessage([id, hash('sha1', arena.subarray(offset, offset + length), 'hex') === expected]);
});
`;

interface Verifier {
  readonly worker: Worker;
  readonly pending: Map<number, (matches: boolean) => void>;
}

const pool: Verifier[] = [];
let nextId = 1;

/** True if `data` has the SHA-1 `expectedHex` (lower-case hex). */
export function verifyPiece(data: Buffer, expectedHex: string): Promise<boolean> {
  if (!inArena(data)) return Promise.resolve(hash('sha1', data, 'hex') === expectedHex);
  const verifier = leastBusy();
  const id = nextId++;
  return new Promise<boolean>((resolve) => {
    if (verifier.pending.size === 0) verifier.worker.ref(); // busy: a pending check keeps the process alive
    verifier.pending.set(id, resolve);
    verifier.worker.postMessage([id, data.byteOffset, data.length, expectedHex]);
  });
}

function leastBusy(): Verifier {
  while (pool.length < VERIFIER_THREADS) pool.push(startVerifier());
  let best = pool[0]!;
  for (const verifier of pool) if (verifier.pending.size < best.pending.size) best = verifier;
  return best;
}

function startVerifier(): Verifier {
  const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { arena: pieceArena() } });
  const verifier: Verifier = { worker, pending: new Map() };
  worker.on('message', ([id, matches]: [number, boolean]) => {
    const resolve = verifier.pending.get(id);
    verifier.pending.delete(id);
    if (verifier.pending.size === 0) worker.unref();
    resolve?.(matches);
  });
  const retire = (): void => {
    const at = pool.indexOf(verifier);
    if (at >= 0) pool.splice(at, 1);
    for (const resolve of verifier.pending.values()) resolve(false);
    verifier.pending.clear();
  };
  worker.once('error', retire);
  worker.once('exit', retire);
  worker.unref(); // after the listeners: adding a 'message' listener refs the worker again
  return verifier;
}
