/**
 * The whole-file SHA-1 of a download, computed beside it on a worker thread so that
 * it neither costs the main thread (which verifies pieces and moves bytes) nor lags at
 * the end. The worker hashes the in-order prefix of pieces as it grows:
 * - a piece received into the shared piece arena (piece-buffers.ts; the worker gets the
 *   arena once) is hashed straight from it, without a copy: the worker holds it until
 *   the prefix reaches it. At most MAX_HELD_PIECES are on loan at once (held, queued
 *   while the worker is busy, or hashed and still being written);
 * - any other piece is read back from the `.part` once it is there (`have`), up to
 *   HASH_READ_PIECES pieces per read. That costs a read from the disk (pieces are
 *   written past the page cache, direct-writes.ts), and on this VM more CPU than
 *   waiting would: the downloader keeps its pieces within the loans (`onLoan`,
 *   `lowestOnLoan`, the `onReturn` callback) rather than let the worker fall behind.
 *   Without that, once the worker lagged (on 2 cores it shares with the download and
 *   3 seeders) the loans filled, the next pieces were read back, which held the worker
 *   up further: 40-80% of the 2,048 pieces of 1 GiB from 3 seeders were read back.
 *
 * Owns: one worker, its read buffer and the shared pieces it holds. The worker opens
 * the `.part` by path once and keeps that descriptor, so renaming the file is harmless.
 * A shared piece goes back to the piece-buffers pool once it is both written (`have`)
 * and hashed or declined by the worker.
 * Promises: `digest()` resolves with the hex SHA-1 of pieces 0..n-1 once every one of
 * them was reported with `have()`; a read error rejects it. `close()` ends the worker.
 * The worker is unref'd (it never keeps a process alive) except while `digest()` waits.
 */
import { Worker } from 'node:worker_threads';
import { inArena, PIECE_SLOTS, pieceArena, releasePieceBuffer } from './piece-buffers.js';

/** Contiguous pieces read (and hashed) at once by the worker. */
export const HASH_READ_PIECES = 4;
/**
 * Shared pieces on loan to the worker at once: two thirds of the arena's slots, so that
 * receiving (at most 32 pieces in memory, downloader.ts) always has the other third.
 */
export const MAX_HELD_PIECES = (PIECE_SLOTS / 3) * 2;

/**
 * The worker, as source so that it runs the same from `src/` (tests) and `dist/`.
 * Messages in: { have: number[] }, { share: [index, offset in the arena, length] },
 * { digest: true }; out: { done: number[] } (shared pieces hashed or declined),
 * { sha1 } or { error }.
 */
// process.getBuiltinModule, not require: the eval'd source runs as an ES module when
// the process was started with --input-type=module (workers inherit it).
const WORKER_SOURCE = `
const { parentPort, workerData } = process.getBuiltinModule('node:worker_threads');
const { openSync, readSync, closeSync } = process.getBuiltinModule('node:fs');
const { createHash } = process.getBuiltinModule('node:crypto');
const { path, size, pieceSize, pieceCount, readPieces, arena } = workerData;
const have = new Uint8Array(pieceCount);
const held = new Map();
const hash = createHash('sha1');
const buffer = Buffer.allocUnsafe(Math.min(size, pieceSize * readPieces));
let fd = -1;
let cursor = 0;
let wanted = false;
let failed = false;
let done = [];
function advance() {
  for (;;) {
    const shared = held.get(cursor);
    if (shared !== undefined) {
      held.delete(cursor);
      hash.update(shared);
      done.push(cursor);
      cursor++;
      continue;
    }
    if (cursor >= pieceCount || have[cursor] !== 1) break;
    if (fd < 0) fd = openSync(path, 'r');
    let end = cursor + 1;
    while (end < pieceCount && have[end] === 1 && !held.has(end) && end - cursor < readPieces) end++;
    const start = cursor * pieceSize;
    const length = Math.min(end * pieceSize, size) - start;
    let filled = 0;
    while (filled < length) {
      const n = readSync(fd, buffer, filled, length - filled, start + filled);
      if (n === 0) throw new Error('the .part file ends at ' + (start + filled) + ', before its size ' + size);
      filled += n;
    }
    hash.update(buffer.subarray(0, length));
    cursor = end;
  }
  if (wanted && cursor === pieceCount) {
    wanted = false;
    parentPort.postMessage({ sha1: hash.digest('hex') });
  }
}
parentPort.on('message', (message) => {
  if (failed) return;
  try {
    if (message.have) for (const index of message.have) have[index] = 1;
    if (message.share) {
      const [index, offset, length] = message.share;
      if (index >= cursor) held.set(index, new Uint8Array(arena, offset, length));
      else done.push(index);
    }
    if (message.digest) wanted = true;
    advance();
    if (done.length > 0) {
      parentPort.postMessage({ done });
      done = [];
    }
  } catch (err) {
    failed = true;
    parentPort.postMessage({ error: String((err && err.message) || err) });
  }
});
process.on('exit', () => { if (fd >= 0) closeSync(fd); });
`;

export interface WholeFileLayout {
  readonly size: number;
  readonly pieceSize: number;
}

/** Pieces on loan to the worker: how many, the most it takes, the lowest (Infinity: none). */
export interface HashLoans {
  readonly count: number;
  readonly max: number;
  readonly lowest: number;
}

export interface WholeFileHasherOptions {
  /** Called whenever pieces on loan come back (see `onLoan`). */
  readonly onReturn?: () => void;
}

export class WholeFileHasher {
  private readonly worker: Worker;
  private readonly result: Promise<string>;
  private asked = false;
  private closed = false;
  /** The worker failed or stopped: nothing more is lent. */
  private retired = false;
  /** Shared pieces lent to the worker: released when written and done with. */
  private readonly lent = new Map<number, { data: Buffer; written: boolean; done: boolean }>();

  constructor(
    path: string,
    layout: WholeFileLayout,
    private readonly options: WholeFileHasherOptions = {},
  ) {
    const pieceCount = Math.ceil(layout.size / layout.pieceSize);
    this.worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: { path, size: layout.size, pieceSize: layout.pieceSize, pieceCount, readPieces: HASH_READ_PIECES, arena: pieceArena() },
    });
    this.result = new Promise<string>((resolve, reject) => {
      this.worker.on('message', (message: { done?: number[]; sha1?: string; error?: string }) => {
        if (message.done) {
          for (const index of message.done) this.settle(index, 'done');
          this.options.onReturn?.();
        } else if (message.sha1 !== undefined) resolve(message.sha1);
        else {
          reject(new Error(`whole-file hash: ${message.error}`));
          this.retire(); // it hashes nothing more
        }
      });
      this.worker.once('error', (err) => {
        reject(err);
        this.retire();
      });
      this.worker.once('exit', () => {
        reject(new Error('whole-file hash: worker stopped'));
        this.retire();
      });
    });
    this.result.catch(() => undefined); // reported by digest()
    this.worker.unref(); // after the listeners: adding a 'message' listener refs the worker again
  }

  /**
   * Piece `index` (verified, about to be written): if its bytes are in the piece arena
   * the worker may hash them from there; then the hasher owns `data` and releases it
   * (true). They must not change afterwards.
   */
  share(index: number, data: Buffer): boolean {
    // Past MAX_HELD_PIECES on loan the worker reads the piece back from disk instead:
    // memory stays bounded if it lags.
    if (this.closed || this.retired || !inArena(data) || this.lent.has(index) || this.lent.size >= MAX_HELD_PIECES) return false;
    this.lent.set(index, { data, written: false, done: false });
    this.worker.postMessage({ share: [index, data.byteOffset, data.length] });
    return true;
  }

  /** Pieces on loan now: at most MAX_HELD_PIECES; a lender that stays below never has a piece read back. */
  get onLoan(): number {
    return this.lent.size;
  }

  /** The lowest piece on loan (Infinity if none): the worker hashes every piece below it first. */
  get lowestOnLoan(): number {
    let lowest = Infinity;
    for (const index of this.lent.keys()) if (index < lowest) lowest = index;
    return lowest;
  }

  /** These pieces are in the file (written, or already there when resuming). */
  have(indexes: readonly number[]): void {
    for (const index of indexes) this.settle(index, 'written');
    if (!this.closed && indexes.length > 0) this.worker.postMessage({ have: indexes });
  }

  /** The SHA-1 of the whole file, once every piece was reported. */
  digest(): Promise<string> {
    if (!this.asked && !this.closed) {
      this.asked = true;
      this.worker.ref(); // someone waits for it now
      void this.result.catch(() => undefined).finally(() => this.worker.unref());
      this.worker.postMessage({ digest: true });
    }
    return this.result;
  }

  /** Ends the worker; call once no write of a shared piece is pending (every loan comes back). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.worker.terminate();
    for (const loan of this.lent.values()) releasePieceBuffer(loan.data);
    this.lent.clear();
  }

  /**
   * The worker is gone, or failed and reads no shared piece again: its loans come back,
   * each once it is written too (a write may still be reading it).
   */
  private retire(): void {
    this.retired = true;
    if (this.lent.size === 0) return;
    for (const index of [...this.lent.keys()]) this.settle(index, 'done');
    this.options.onReturn?.();
  }

  private settle(index: number, what: 'written' | 'done'): void {
    const loan = this.lent.get(index);
    if (!loan) return;
    loan[what] = true;
    if (!loan.written || !loan.done) return;
    this.lent.delete(index);
    releasePieceBuffer(loan.data);
  }
}
