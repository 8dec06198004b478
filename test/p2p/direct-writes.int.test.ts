// Pieces written past the page cache (O_DIRECT): full pieces from the piece arena go
// to the disk without being cached while the last piece takes the ordinary way, from
// page-aligned memory, and a write the kernel refuses falls back.
// The page cache is observed with fincore(1) (util-linux), on the real filesystem.
import { execFileSync } from 'node:child_process';
import { existsSync, statfsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DirectWriter } from '../../src/client/direct-writes.js';
import { allocPieceBuffer, DATA_ALIGN, pieceArena, releasePieceBuffer } from '../../src/client/piece-buffers.js';
import { PieceStore } from '../../src/client/piece-store.js';
import { INDEX_BYTES } from '../../src/wire/peer-frames.js';
import { PIECE_SIZE, pieceCount, pieceLength, type FileManifest } from '../../src/wire/manifest.js';
import { Swarm } from './swarm.js';

/** Bytes of `path` in the page cache. */
function cachedBytes(path: string): number {
  return Number(execFileSync('fincore', ['--bytes', '--noheadings', '--output', 'RES', path], { encoding: 'utf8' }).trim());
}

/** A piece as the downloader has it: its bytes in an arena slot, after the 4-byte index. */
function arenaPiece(bytes: Buffer): Buffer {
  const piece = allocPieceBuffer(INDEX_BYTES + bytes.length).subarray(INDEX_BYTES);
  bytes.copy(piece);
  return piece;
}

async function writeAll(store: PieceStore, source: Buffer, manifest: FileManifest): Promise<void> {
  for (let index = 0; index < pieceCount(manifest.size, manifest.pieceSize); index++) {
    const start = index * manifest.pieceSize;
    await store.writePiece(index, arenaPiece(source.subarray(start, start + pieceLength(manifest, index))));
  }
}

/** tmpfs is all page cache, O_DIRECT or not: the page-cache check means nothing there. */
const TMPFS_MAGIC = 0x01021994;
const testDirOnTmpfs = statfsSync(tmpdir()).type === TMPFS_MAGIC;

const hasFincore = (() => {
  try {
    execFileSync('fincore', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

describe('direct piece writes', () => {
  const swarm = new Swarm();
  const scratch: string[] = [];
  afterEach(async () => {
    await swarm.cleanup();
    for (const dir of scratch.splice(0)) await rm(dir, { recursive: true, force: true });
  });

  /** A scratch file on the test directory's filesystem, with a direct writer if it takes O_DIRECT. */
  async function directFile(): Promise<{ path: string; writer: DirectWriter | null }> {
    const path = join(await swarm.dir(), 'probe.bin');
    await writeFile(path, Buffer.alloc(2 * DATA_ALIGN));
    return { path, writer: await DirectWriter.open(path) };
  }

  it('writes right on tmpfs', async () => {
    if (!existsSync('/dev/shm')) return;
    const dir = await mkdtemp('/dev/shm/p2p-test-');
    scratch.push(dir);
    const { path, manifest } = await swarm.file(2 * PIECE_SIZE + 7);
    const source = await readFile(path);
    const store = await PieceStore.open(manifest, join(dir, 'out.bin'));
    await writeAll(store, source, manifest);
    const done = await store.finish();
    await store.close();
    expect((await readFile(done)).equals(source)).toBe(true);
  });

  // The kernel refuses memory that is not aligned to 512 bytes, which it can see; that a
  // piece starts on a page, which it cannot refuse but which this VM's disk writes 8x
  // faster (piece-buffers.ts), rests on the arena's start: checked here at offset 0.
  it('keeps each piece on a page of an arena whose start the kernel takes for O_DIRECT as it is', async () => {
    const { path, writer } = await directFile();
    if (!writer) return;
    const piece = arenaPiece(Buffer.alloc(PIECE_SIZE, 5));
    try {
      expect(piece.byteOffset % DATA_ALIGN).toBe(0);
      expect(await writer.write(Buffer.from(pieceArena(), 0, DATA_ALIGN), 0)).toBe(true);
      expect(await writer.write(piece, 0)).toBe(true);
      expect((await readFile(path)).subarray(0, PIECE_SIZE).equals(Buffer.alloc(PIECE_SIZE, 5))).toBe(true);
    } finally {
      releasePieceBuffer(piece);
      await writer.close();
    }
  });

  it.skipIf(!hasFincore || testDirOnTmpfs)('writes full pieces past the page cache and the last piece through it; the file is right', async () => {
    const { writer } = await directFile();
    await writer?.close();
    if (!writer) return expect.fail('the test directory\'s filesystem should take O_DIRECT on these machines');
    const { path, manifest } = await swarm.file(3 * PIECE_SIZE + 1000);
    const source = await readFile(path);
    const store = await PieceStore.open(manifest, join(await swarm.dir(), 'out.bin'));
    await writeAll(store, source, manifest);
    const done = await store.finish();
    await store.close();
    // Only the last piece (1,000 bytes: one page) went through the page cache.
    expect(cachedBytes(done)).toBeLessThanOrEqual(DATA_ALIGN);
    expect((await readFile(done)).equals(source)).toBe(true);
  });

  it('takes only aligned pieces from the arena at aligned offsets', async () => {
    const { writer } = await directFile();
    if (!writer) return;
    const piece = arenaPiece(Buffer.alloc(PIECE_SIZE, 1));
    try {
      expect(writer.fits(piece, 0)).toBe(true);
      expect(writer.fits(piece, 3 * PIECE_SIZE)).toBe(true);
      expect(writer.fits(piece, 100)).toBe(false); // offset
      expect(writer.fits(piece.subarray(0, 1000), 0)).toBe(false); // length
      expect(writer.fits(piece.subarray(8), 0)).toBe(false); // memory
      expect(writer.fits(Buffer.alloc(PIECE_SIZE), 0)).toBe(false); // not in the arena
    } finally {
      releasePieceBuffer(piece);
      await writer.close();
    }
  });

  it('turns itself off when the kernel refuses a write, and the caller writes the ordinary way', async () => {
    const { path, writer } = await directFile();
    if (!writer) return;
    const piece = arenaPiece(Buffer.alloc(DATA_ALIGN, 7));
    try {
      expect(await writer.write(piece, 0)).toBe(true);
      expect((await readFile(path)).subarray(0, DATA_ALIGN).equals(Buffer.alloc(DATA_ALIGN, 7))).toBe(true);
      // Memory one byte off an aligned start: the kernel answers EINVAL.
      const misaligned = Buffer.from(pieceArena(), piece.byteOffset + 1, DATA_ALIGN);
      expect(await writer.write(misaligned, DATA_ALIGN)).toBe(false);
      expect(writer.fits(piece, 0)).toBe(false);
    } finally {
      releasePieceBuffer(piece);
      await writer.close();
    }
  });
});
