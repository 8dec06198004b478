/**
 * What the peer server reads pieces from: a complete file on disk (FileSource, one
 * handle shared by all its connections) or the PieceStore of a download in progress
 * (StoreSource: a leecher serves the pieces it has).
 */
import { open, type FileHandle } from 'node:fs/promises';
import { pieceCount, type FileManifest } from '../wire/manifest.js';
import { Bitfield } from '../wire/bitfield.js';
import type { PieceStore } from './piece-store.js';
import { readFully } from './positional-io.js';

export class PeerServerError extends Error {
  constructor(
    readonly code: 'SOURCE_MISMATCH' | 'NOT_LISTENING',
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

  private constructor(
    private readonly manifest: FileManifest,
    private readonly handle: FileHandle,
  ) {
    this.bits = Bitfield.full(pieceCount(manifest.size, manifest.pieceSize)).bytes;
  }

  static async open(manifest: FileManifest, path: string): Promise<FileSource> {
    const handle = await open(path, 'r');
    const { size } = await handle.stat();
    if (size !== manifest.size) {
      await handle.close();
      throw new PeerServerError('SOURCE_MISMATCH', `${path} is ${size} bytes, manifest says ${manifest.size}`);
    }
    return new FileSource(manifest, handle);
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
