/**
 * One file being downloaded: verified pieces go to their offsets in `<dest>.part`
 * with positional writes; a bitfield says which are there; `<dest>.part.json`
 * records progress so a restarted client resumes.
 *
 * Promises:
 * - The progress record never claims a piece whose bytes are not on disk: pieces are
 *   written, then the file is fdatasync'ed, then the record (taken before the sync)
 *   is replaced atomically (tmp + fsync + rename). Records are batched, at most one
 *   per PROGRESS_FLUSH_INTERVAL_MS, so durability does not cost throughput.
 * - `finish()` renames `.part` into place only if the whole-file SHA-1 matches; it
 *   throws FILE_HASH_MISMATCH (and deletes the bad `.part`) otherwise. The whole-file
 *   hash is computed while downloading, on a worker thread (WholeFileHasher) fed with
 *   each written piece, so finishing costs little and the main thread none of it.
 * - Memory stays at a few piece buffers whatever the file size.
 * - Full pieces are written past the page cache where the filesystem allows
 *   (direct-writes.ts); reads for serving and the last piece use the ordinary handle.
 * The store does not check piece hashes: the downloader does (`pieceMatches`) before
 * `writePiece`, so each piece is hashed once. Names, manifests and pieces are checked
 * by store-checks.ts; the progress record is progress-record.ts.
 */
import { EventEmitter } from 'node:events';
import { open, rename, stat, unlink, type FileHandle } from 'node:fs/promises';
import { pieceCount, pieceLength, type FileManifest } from '../wire/manifest.js';
import { Bitfield } from '../wire/bitfield.js';
import { DirectWriter } from './direct-writes.js';
import { releasePieceBuffer } from './piece-buffers.js';
import { readFully, writeFully } from './positional-io.js';
import { loadProgress, saveProgress } from './progress-record.js';
import { assertValidManifest, PieceStoreError, resolveDestination } from './store-checks.js';
import { MAX_HELD_PIECES, WholeFileHasher, type HashLoans } from './whole-file-hasher.js';

export {
  assertSafeName,
  assertValidManifest,
  MAX_NAME_LENGTH,
  pieceMatches,
  PieceStoreError,
  resolveDestination,
  type PieceStoreErrorCode,
} from './store-checks.js';

/**
 * Longest progress delay: pieces written in this window are re-fetched after a crash.
 * Each record first fdatasyncs what was written, so a short window also keeps the
 * final fdatasync in `finish()` short: with 1 s it waited 130 ms (median, 1 GiB from
 * 3 seeders) for the last second's writes to reach the disk, with 250 ms 28 ms.
 */
export const PROGRESS_FLUSH_INTERVAL_MS = 250;
export const PART_SUFFIX = '.part';
export const PROGRESS_SUFFIX = '.part.json';

/**
 * Events: 'piece' (index) once a piece is written and readable; 'hash-loans' when pieces
 * lent to the whole-file hash came back (see `hashLoans`).
 */
export class PieceStore extends EventEmitter {
  readonly pieceCount: number;
  private readonly bits: Bitfield;
  private closed = false;
  private closing: Promise<void> | null = null;
  private finished = false;
  private pendingWrites = new Set<Promise<void>>();
  private pendingReads = 0;
  private readsDrained: (() => void) | null = null;
  private flushTimer: NodeJS.Timeout | null = null;
  private flushing: Promise<void> = Promise.resolve();
  private persistedCount = -1;
  private failure: Error | null = null;
  /** The whole-file SHA-1, fed with every piece in the file. */
  private readonly wholeHash: WholeFileHasher;

  private constructor(
    readonly manifest: FileManifest,
    /** Final path of the file. */
    readonly path: string,
    private readonly handle: FileHandle,
    private readonly direct: DirectWriter | null,
    bits: Bitfield,
  ) {
    super();
    this.setMaxListeners(0); // one 'piece' listener per serving connection
    this.pieceCount = bits.size;
    this.bits = bits;
    this.wholeHash = new WholeFileHasher(path + PART_SUFFIX, manifest, { onReturn: () => this.emit('hash-loans') });
    const had: number[] = [];
    for (let i = 0; i < bits.size; i++) if (bits.has(i)) had.push(i);
    this.wholeHash.have(had);
  }

  get partPath(): string {
    return this.path + PART_SUFFIX;
  }

  get progressPath(): string {
    return this.path + PROGRESS_SUFFIX;
  }

  /**
   * Opens (or resumes) the download of `manifest` to `destination` (a directory or a
   * file path). Refuses to overwrite an existing final file.
   */
  static async open(manifest: FileManifest, destination: string): Promise<PieceStore> {
    assertValidManifest(manifest);
    const path = await resolveDestination(destination, manifest.name);
    if (await exists(path)) throw new PieceStoreError('DESTINATION_EXISTS', `${path} already exists`);
    const count = pieceCount(manifest.size, manifest.pieceSize);
    const partPath = path + PART_SUFFIX;
    const resumed = await loadProgress(manifest, path + PROGRESS_SUFFIX, partPath, count);
    let handle: FileHandle;
    try {
      handle = await open(partPath, 'r+');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      handle = await open(partPath, 'w+');
    }
    try {
      if (!resumed) await handle.truncate(0);
      if ((await handle.stat()).size !== manifest.size) await handle.truncate(manifest.size);
    } catch (err) {
      await handle.close();
      throw err;
    }
    const direct = await DirectWriter.open(partPath);
    const store = new PieceStore(manifest, path, handle, direct, resumed ?? new Bitfield(count));
    store.persistedCount = resumed ? store.bits.count : -1;
    return store;
  }

  has(index: number): boolean {
    return this.bits.has(index);
  }

  /** A copy of the bitfield, in wire form. */
  bitfield(): Buffer {
    return Buffer.from(this.bits.bytes);
  }

  get piecesDone(): number {
    return this.bits.count;
  }

  get bytesDone(): number {
    let bytes = this.bits.count * this.manifest.pieceSize;
    const last = this.pieceCount - 1;
    if (last >= 0 && this.bits.has(last)) bytes -= this.manifest.pieceSize - pieceLength(this.manifest, last);
    return bytes;
  }

  /**
   * Pieces lent to the whole-file hash (each piece written from the piece arena is, until
   * it is both written and hashed), the most it takes, and the lowest piece on loan.
   * A writer that keeps within `max` never has a piece read back for the hash; the
   * hash waits for the pieces below `lowest` first.
   */
  get hashLoans(): HashLoans {
    return { count: this.wholeHash.onLoan, max: MAX_HELD_PIECES, lowest: this.wholeHash.lowestOnLoan };
  }

  get complete(): boolean {
    return this.bits.complete;
  }

  /**
   * Writes a verified piece at its offset. A piece already had is ignored. A buffer from
   * the piece arena is ours from here on (released once written and hashed).
   */
  async writePiece(index: number, data: Buffer): Promise<void> {
    this.assertOpen();
    this.assertIndex(index);
    if (data.length !== pieceLength(this.manifest, index)) {
      throw new PieceStoreError('BAD_PIECE_LENGTH', `piece ${index} must be ${pieceLength(this.manifest, index)} bytes, got ${data.length}`);
    }
    if (this.bits.has(index)) return releasePieceBuffer(data);
    const lent = this.wholeHash.share(index, data);
    const write = this.writeAt(data, index * this.manifest.pieceSize);
    this.pendingWrites.add(write);
    try {
      await write;
    } finally {
      this.pendingWrites.delete(write);
      if (!lent) releasePieceBuffer(data);
    }
    if (this.closed || !this.bits.set(index)) return;
    this.wholeHash.have([index]);
    this.scheduleFlush();
    this.emit('piece', index);
  }

  /** Reads piece `index` into `into` (or a new buffer); it must be had. */
  async readPiece(index: number, into?: Buffer): Promise<Buffer> {
    this.assertOpen();
    this.assertIndex(index);
    if (!this.bits.has(index)) throw new PieceStoreError('PIECE_MISSING', `piece ${index} is not here yet`);
    const length = pieceLength(this.manifest, index);
    const target = into ? into.subarray(0, length) : Buffer.allocUnsafe(length);
    if (target.length !== length) throw new PieceStoreError('BAD_PIECE_LENGTH', `buffer too small for piece ${index}`);
    this.pendingReads++;
    try {
      const position = index * this.manifest.pieceSize;
      const filled = await readFully(this.handle, target, position);
      if (filled < length) throw new Error(`unexpected end of file at ${position + filled}`);
    } finally {
      if (--this.pendingReads === 0 && this.readsDrained) this.readsDrained();
    }
    return target;
  }

  /** Makes every piece written so far durable and records it. */
  flush(): Promise<void> {
    if (this.flushTimer) {
      clearTimeout(this.flushTimer);
      this.flushTimer = null;
    }
    const next = this.flushing.then(() => this.persist());
    this.flushing = next.catch(() => undefined);
    return next;
  }

  /**
   * Checks the whole-file SHA-1 and renames `.part` into place. On a mismatch the
   * `.part` and its record are removed and FILE_HASH_MISMATCH is thrown.
   * The store stays readable (for serving) until `close()`.
   */
  async finish(): Promise<string> {
    this.assertOpen();
    if (this.finished) return this.path;
    if (!this.bits.complete) {
      throw new PieceStoreError('INCOMPLETE', `${this.pieceCount - this.bits.count} of ${this.pieceCount} pieces missing`);
    }
    await Promise.all(this.pendingWrites);
    if (this.failure) throw this.failure;
    const actual = await this.wholeHash.digest();
    if (actual !== this.manifest.sha1) {
      await this.close();
      await removeQuietly(this.partPath);
      await removeQuietly(this.progressPath);
      throw new PieceStoreError('FILE_HASH_MISMATCH', `whole-file SHA-1 is ${actual}, manifest says ${this.manifest.sha1}; ${this.path} not written`);
    }
    await this.flushing;
    if (this.flushTimer) clearTimeout(this.flushTimer);
    this.flushTimer = null;
    await this.handle.datasync();
    if (await exists(this.path)) throw new PieceStoreError('DESTINATION_EXISTS', `${this.path} appeared while downloading`);
    await rename(this.partPath, this.path);
    this.finished = true;
    await removeQuietly(this.progressPath);
    return this.path;
  }

  /** Records progress (unless finished) and releases the file. Idempotent. */
  close(): Promise<void> {
    this.closing ??= this.shutDown();
    return this.closing;
  }

  private async shutDown(): Promise<void> {
    await Promise.allSettled(this.pendingWrites);
    if (!this.finished) await this.flush().catch(() => undefined);
    this.closed = true;
    if (this.flushTimer) clearTimeout(this.flushTimer);
    this.flushTimer = null;
    if (this.pendingReads > 0) await new Promise<void>((resolve) => (this.readsDrained = resolve));
    await this.wholeHash.close();
    await this.direct?.close();
    await this.handle.close();
  }

  private async writeAt(data: Buffer, position: number): Promise<void> {
    if (this.direct?.fits(data, position) && (await this.direct.write(data, position))) return;
    await writeFully(this.handle, data, position);
  }

  private scheduleFlush(): void {
    if (this.flushTimer || this.finished) return;
    this.flushTimer = setTimeout(() => {
      this.flushTimer = null;
      this.flush().catch((err: Error) => {
        this.failure ??= err;
      });
    }, PROGRESS_FLUSH_INTERVAL_MS);
    this.flushTimer.unref();
  }

  private async persist(): Promise<void> {
    if (this.closed || this.finished) return;
    const snapshot = this.bitfield();
    const count = this.bits.count;
    if (count === this.persistedCount) return;
    await this.handle.datasync(); // everything in `snapshot` is on disk before the record says so
    await saveProgress(this.manifest, this.progressPath, snapshot);
    this.persistedCount = count;
  }

  private assertOpen(): void {
    if (this.closed) throw new PieceStoreError('STORE_CLOSED', `store for ${this.path} is closed`);
  }

  private assertIndex(index: number): void {
    if (!Number.isInteger(index) || index < 0 || index >= this.pieceCount) {
      throw new PieceStoreError('BAD_PIECE_INDEX', `piece ${index} out of range 0..${this.pieceCount - 1}`);
    }
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}

async function removeQuietly(path: string): Promise<void> {
  try {
    await unlink(path);
  } catch {
    // already gone
  }
}
