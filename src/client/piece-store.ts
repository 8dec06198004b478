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
 *   hash is computed while downloading, over the in-order prefix, so finishing a big
 *   file costs little beyond what arrived out of order.
 * - Memory stays at one piece buffer whatever the file size.
 * The store does not check piece hashes: the downloader does (`pieceMatches`) before
 * `writePiece`, so each piece is hashed once.
 */
import { createHash, hash as oneShotHash, type Hash } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { open, readFile, rename, stat, unlink, type FileHandle } from 'node:fs/promises';
import { isAbsolute, join, win32 } from 'node:path';
import { pieceCount, pieceLength, PIECE_SIZE, type FileManifest } from '../wire/manifest.js';
import { Bitfield } from '../wire/peer-frames.js';

/** How far ahead of the whole-file hash a received piece is kept in memory for it (8 MiB at most). */
export const MAX_PIECES_AHEAD = 16;
/** Pieces read back from disk at once when the whole-file hash has to catch up. */
export const HASH_READ_AHEAD = 4;
/** Longest progress delay: pieces written in this window are re-fetched after a crash. */
export const PROGRESS_FLUSH_INTERVAL_MS = 1000;
export const PART_SUFFIX = '.part';
export const PROGRESS_SUFFIX = '.part.json';
/** Longest file name accepted from a manifest. */
export const MAX_NAME_LENGTH = 255;
const PROGRESS_VERSION = 1;
const HEX_SHA1 = /^[0-9a-f]{40}$/;

export type PieceStoreErrorCode =
  | 'UNSAFE_NAME'
  | 'BAD_MANIFEST'
  | 'DESTINATION_EXISTS'
  | 'BAD_PIECE_INDEX'
  | 'BAD_PIECE_LENGTH'
  | 'PIECE_MISSING'
  | 'INCOMPLETE'
  | 'FILE_HASH_MISMATCH'
  | 'STORE_CLOSED';

export class PieceStoreError extends Error {
  constructor(
    readonly code: PieceStoreErrorCode,
    message: string,
  ) {
    super(`${code}: ${message}`);
    this.name = 'PieceStoreError';
  }
}

/** Refuses names that could escape the destination directory or mean nothing. */
export function assertSafeName(name: string): void {
  const unsafe =
    typeof name !== 'string' ||
    name.length === 0 ||
    name.length > MAX_NAME_LENGTH ||
    name === '.' ||
    name.includes('/') ||
    name.includes('\\') ||
    name.includes('..') ||
    name.includes('\0') ||
    isAbsolute(name) ||
    win32.isAbsolute(name) ||
    /^[a-zA-Z]:/.test(name);
  if (unsafe) throw new PieceStoreError('UNSAFE_NAME', `refusing file name ${JSON.stringify(name)}`);
}

/**
 * Where a download of `name` to `destination` ends up: inside it if it is an
 * existing directory (or ends with a separator), else `destination` itself.
 * The manifest name is checked either way: a bad name means a bad manifest.
 */
export async function resolveDestination(destination: string, name: string): Promise<string> {
  assertSafeName(name);
  if (destination.endsWith('/') || destination.endsWith('\\')) return join(destination, name);
  try {
    if ((await stat(destination)).isDirectory()) return join(destination, name);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  return destination;
}

/** Checks a manifest's internal consistency before trusting its numbers. */
export function assertValidManifest(manifest: FileManifest): void {
  const count = Number.isSafeInteger(manifest.size) && manifest.size >= 0 ? pieceCount(manifest.size, manifest.pieceSize) : -1;
  const valid =
    Number.isInteger(manifest.pieceSize) &&
    manifest.pieceSize > 0 &&
    manifest.pieceSize <= PIECE_SIZE &&
    count >= 0 &&
    Array.isArray(manifest.pieceHashes) &&
    manifest.pieceHashes.length === count &&
    manifest.pieceHashes.every((h) => typeof h === 'string' && HEX_SHA1.test(h)) &&
    typeof manifest.sha1 === 'string' &&
    HEX_SHA1.test(manifest.sha1);
  if (!valid) throw new PieceStoreError('BAD_MANIFEST', `inconsistent manifest for ${JSON.stringify(manifest.name)}`);
}

/**
 * True if `data` is exactly piece `index` of the manifest (length and SHA-1).
 * Synchronous on purpose: a one-shot SHA-1 of 512 KiB costs less main-thread time
 * than WebCrypto's async digest, which copies its input and settles a promise.
 */
export function pieceMatches(manifest: FileManifest, index: number, data: Buffer): boolean {
  const expected = manifest.pieceHashes[index];
  if (expected === undefined || data.length !== pieceLength(manifest, index)) return false;
  return oneShotHash('sha1', data, 'hex') === expected;
}

interface ProgressRecord {
  readonly version: number;
  readonly sha1: string;
  readonly size: number;
  readonly pieceSize: number;
  /** Base64 of the wire bitfield of pieces durably on disk. */
  readonly have: string;
}

/** Events: 'piece' (index) once a piece is written and readable. */
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
  // Whole-file SHA-1 over pieces [0, hashedPieces), advanced as pieces arrive.
  private readonly wholeHash: Hash = createHash('sha1');
  private hashedPieces = 0;
  private readonly ahead = new Map<number, Buffer>();
  private hashing: Promise<void> | null = null;

  private constructor(
    readonly manifest: FileManifest,
    /** Final path of the file. */
    readonly path: string,
    private readonly handle: FileHandle,
    bits: Bitfield,
  ) {
    super();
    this.setMaxListeners(0); // one 'piece' listener per serving connection
    this.pieceCount = bits.size;
    this.bits = bits;
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
    const store = new PieceStore(manifest, path, handle, resumed ?? new Bitfield(count));
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

  get complete(): boolean {
    return this.bits.complete;
  }

  /** Writes a verified piece at its offset. A piece already had is ignored. */
  async writePiece(index: number, data: Buffer): Promise<void> {
    this.assertOpen();
    this.assertIndex(index);
    if (data.length !== pieceLength(this.manifest, index)) {
      throw new PieceStoreError('BAD_PIECE_LENGTH', `piece ${index} must be ${pieceLength(this.manifest, index)} bytes, got ${data.length}`);
    }
    if (this.bits.has(index)) return;
    const write = this.writeAt(data, index * this.manifest.pieceSize);
    this.pendingWrites.add(write);
    try {
      await write;
    } finally {
      this.pendingWrites.delete(write);
    }
    if (this.closed || !this.bits.set(index)) return;
    this.advanceWholeHash(index, data);
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
      await readFully(this.handle, target, index * this.manifest.pieceSize);
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
    this.advanceWholeHash(-1, null);
    while (this.hashing) await this.hashing;
    if (this.failure) throw this.failure;
    const actual = this.wholeHash.digest('hex');
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
    while (this.hashing) await this.hashing.catch(() => undefined);
    this.ahead.clear();
    await this.handle.close();
  }

  private async writeAt(data: Buffer, position: number): Promise<void> {
    let written = 0;
    while (written < data.length) {
      const { bytesWritten } = await this.handle.write(data, written, data.length - written, position + written);
      written += bytesWritten;
    }
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
    const record: ProgressRecord = {
      version: PROGRESS_VERSION,
      sha1: this.manifest.sha1,
      size: this.manifest.size,
      pieceSize: this.manifest.pieceSize,
      have: snapshot.toString('base64'),
    };
    const tmp = `${this.progressPath}.tmp`;
    const file = await open(tmp, 'w');
    try {
      await file.writeFile(JSON.stringify(record));
      await file.sync();
    } finally {
      await file.close();
    }
    await rename(tmp, this.progressPath);
    this.persistedCount = count;
  }

  /**
   * Feeds the in-order prefix of pieces to the whole-file hash. A piece that arrives
   * within MAX_PIECES_AHEAD of the prefix waits in memory for its turn; others are
   * read back from disk (HASH_READ_AHEAD at a time) when the prefix reaches them.
   */
  private advanceWholeHash(index: number, data: Buffer | null): void {
    if (data && index > this.hashedPieces && index < this.hashedPieces + MAX_PIECES_AHEAD) this.ahead.set(index, data);
    if (data && index === this.hashedPieces && !this.hashing) {
      this.wholeHash.update(data);
      this.hashedPieces++;
    }
    if (this.hashing) return; // the running loop picks the rest up
    this.hashFromMemory();
    if (!this.bits.has(this.hashedPieces)) return;
    const loop = (async () => {
      const reading = new Map<number, { buffer: Buffer; read: Promise<Buffer> }>();
      const spare: Buffer[] = []; // read buffers, reused for the whole loop
      try {
        while (!this.closed) {
          this.hashFromMemory();
          const cursor = this.hashedPieces;
          if (!this.bits.has(cursor)) break;
          for (let i = cursor; i < Math.min(cursor + HASH_READ_AHEAD, this.pieceCount); i++) {
            if (reading.has(i) || this.ahead.has(i) || !this.bits.has(i)) continue;
            const buffer = spare.pop() ?? Buffer.allocUnsafe(this.manifest.pieceSize);
            reading.set(i, { buffer, read: this.readPiece(i, buffer) });
          }
          const slot = reading.get(cursor)!;
          reading.delete(cursor);
          this.wholeHash.update(await slot.read);
          this.hashedPieces++;
          spare.push(slot.buffer);
        }
      } finally {
        await Promise.allSettled([...reading.values()].map((slot) => slot.read));
      }
    })();
    const run: Promise<void> = loop
      .catch((err: Error) => {
        this.failure ??= err;
      })
      .finally(() => {
        if (this.hashing === run) this.hashing = null;
      });
    this.hashing = run;
  }

  private hashFromMemory(): void {
    for (let next = this.ahead.get(this.hashedPieces); next; next = this.ahead.get(this.hashedPieces)) {
      this.ahead.delete(this.hashedPieces);
      this.wholeHash.update(next);
      this.hashedPieces++;
    }
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

/** The bitfield from a progress record that matches this manifest and `.part`, else null. */
async function loadProgress(manifest: FileManifest, recordPath: string, partPath: string, count: number): Promise<Bitfield | null> {
  let record: ProgressRecord;
  try {
    record = JSON.parse(await readFile(recordPath, 'utf8')) as ProgressRecord;
  } catch {
    return null;
  }
  try {
    if ((await stat(partPath)).size !== manifest.size) return null;
  } catch {
    return null;
  }
  if (
    typeof record !== 'object' ||
    record === null ||
    record.version !== PROGRESS_VERSION ||
    record.sha1 !== manifest.sha1 ||
    record.size !== manifest.size ||
    record.pieceSize !== manifest.pieceSize ||
    typeof record.have !== 'string'
  ) {
    return null;
  }
  const bytes = Buffer.from(record.have, 'base64');
  return Bitfield.isValid(count, bytes) ? new Bitfield(count, bytes) : null;
}

async function readFully(handle: FileHandle, target: Buffer, position: number): Promise<void> {
  let filled = 0;
  while (filled < target.length) {
    const { bytesRead } = await handle.read(target, filled, target.length - filled, position + filled);
    if (bytesRead === 0) throw new Error(`unexpected end of file at ${position + filled}`);
    filled += bytesRead;
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
