/**
 * What the peer server reads pieces from: a complete file on disk (FileSource, one
 * handle shared by all its connections) or the PieceStore of a download in progress
 * (StoreSource: a leecher serves the pieces it has).
 *
 * A file edited on disk after it was hashed no longer matches its manifest: every peer
 * would drop us for bad pieces. A FileSource compares the file's size and modification
 * time with those it was shared with, at most once per CHANGE_CHECK_INTERVAL_MS while it
 * serves, and once changed it serves nothing more and says so (`onChanged`).
 */
import { open, type FileHandle } from 'node:fs/promises';
import { pieceCount, type FileManifest } from '../wire/manifest.js';
import { Bitfield } from '../wire/bitfield.js';
import type { PieceStore } from './piece-store.js';
import { readFully } from './positional-io.js';

/** A shared file is checked for edits on disk (fstat) at most this often while it serves. */
export const CHANGE_CHECK_INTERVAL_MS = 1000;

export class PeerServerError extends Error {
  constructor(
    readonly code: 'SOURCE_MISMATCH' | 'SOURCE_CHANGED' | 'NOT_LISTENING',
    message: string,
  ) {
    super(`${code}: ${message}`);
    this.name = 'PeerServerError';
  }
}

export interface PieceSource {
  has(index: number): boolean;
  bitfield(): Buffer;
  readInto(index: number, target: Buffer): Promise<void>;
  retire(): void;
}

/** A complete file on disk; one handle shared by all its connections. */
export class FileSource implements PieceSource {
  private reads = 0;
  private retired = false;
  private readonly bits: Buffer;
  private checkedAt = performance.now();
  private changed: PeerServerError | undefined;

  private constructor(
    private readonly manifest: FileManifest,
    private readonly path: string,
    private readonly handle: FileHandle,
    private readonly mtimeMs: number,
    private readonly onChanged: () => void,
  ) {
    this.bits = Bitfield.full(pieceCount(manifest.size, manifest.pieceSize)).bytes;
  }

  /** `mtimeMs`: the file's modification time when it was hashed, if known (else as it is now). */
  static async open(manifest: FileManifest, path: string, options: { mtimeMs?: number; onChanged?: () => void } = {}): Promise<FileSource> {
    const handle = await open(path, 'r');
    const { size, mtimeMs } = await handle.stat();
    const problem = size !== manifest.size ? `is ${size} bytes, manifest says ${manifest.size}` : options.mtimeMs !== undefined && mtimeMs !== options.mtimeMs ? 'was modified after it was hashed' : undefined;
    if (problem) {
      await handle.close();
      throw new PeerServerError('SOURCE_MISMATCH', `${path} ${problem}`);
    }
    return new FileSource(manifest, path, handle, mtimeMs, options.onChanged ?? (() => undefined));
  }

  has(): boolean {
    return true;
  }

  bitfield(): Buffer {
    return this.bits;
  }

  async readInto(index: number, target: Buffer): Promise<void> {
    if (this.retired) throw new Error('source no longer shared');
    this.reads++;
    try {
      if (performance.now() - this.checkedAt >= CHANGE_CHECK_INTERVAL_MS) await this.checkUnchanged();
      if (this.changed) throw this.changed;
      const position = index * this.manifest.pieceSize;
      const filled = await readFully(this.handle, target, position);
      if (filled < target.length) throw new Error(`file shorter than its manifest at ${position + filled}`);
    } finally {
      this.reads--;
      if (this.retired && this.reads === 0) void this.handle.close().catch(() => undefined);
    }
  }

  retire(): void {
    if (this.retired) return;
    this.retired = true;
    if (this.reads === 0) void this.handle.close().catch(() => undefined);
  }

  private async checkUnchanged(): Promise<void> {
    this.checkedAt = performance.now();
    const { size, mtimeMs } = await this.handle.stat();
    if (this.changed || (size === this.manifest.size && mtimeMs === this.mtimeMs)) return;
    this.changed = new PeerServerError('SOURCE_CHANGED', `${this.path} was modified after it was shared, so it no longer matches ${this.manifest.name}'s piece hashes`);
    this.onChanged();
  }
}

/** The store of a download in progress (owned by the Download, not by us). */
export class StoreSource implements PieceSource {
  constructor(
    private readonly manifest: FileManifest,
    readonly store: PieceStore,
  ) {
    if (store.manifest.sha1 !== manifest.sha1) throw new PeerServerError('SOURCE_MISMATCH', 'the store holds another file');
  }

  has(index: number): boolean {
    return this.store.has(index);
  }

  bitfield(): Buffer {
    return this.store.bitfield();
  }

  async readInto(index: number, target: Buffer): Promise<void> {
    await this.store.readPiece(index, target);
  }

  retire(): void {
    // The Download closes its store.
  }
}
