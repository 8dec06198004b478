// The piece store: names cannot escape the destination, progress on disk never
// claims more than was synced, and a wrong whole-file hash fails loudly.
import { open as openFile, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Download, DownloadError } from '../../src/client/downloader.js';
import { PieceStore, PieceStoreError, resolveDestination } from '../../src/client/piece-store.js';
import { PIECE_SIZE, pieceLength, type FileManifest } from '../../src/wire/manifest.js';
import { Bitfield } from '../../src/wire/peer-frames.js';
import { peerOf, Swarm, ticketFor } from './swarm.js';

async function codeOf(promise: Promise<unknown>): Promise<string> {
  const err = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  if (!(err instanceof PieceStoreError) && !(err instanceof DownloadError)) throw new Error(`expected a coded error, got ${String(err)}`);
  return err.code;
}

async function pieceOf(path: string, manifest: FileManifest, index: number): Promise<Buffer> {
  const handle = await openFile(path, 'r');
  try {
    const data = Buffer.alloc(pieceLength(manifest, index));
    await handle.read(data, 0, data.length, index * manifest.pieceSize);
    return data;
  } finally {
    await handle.close();
  }
}

const exists = (path: string): Promise<boolean> => stat(path).then(() => true, () => false);

describe('piece store', () => {
  const swarm = new Swarm();
  afterEach(() => swarm.cleanup());

  it.each(['', '.', '..', '../x', 'a/../../b', 'a/b', 'a\\b', '/etc/passwd', 'C:\\x', 'c:x', 'x\0y', 'x\ny', 'x'.repeat(300)])(
    'refuses the manifest name %j',
    async (name) => {
      const dir = await swarm.dir();
      expect(await codeOf(resolveDestination(dir, name))).toBe('UNSAFE_NAME');
    },
  );

  it.each(['notes..v2.txt', 'a..b', '..hidden', 'v1..', '...', '.profile', 'x'.repeat(255)])('accepts the manifest name %j: a single path component', async (name) => {
    const dir = await swarm.dir();
    expect(await resolveDestination(dir, name)).toBe(join(dir, name));
  });

  it('puts a file inside a destination directory, or at a destination file path', async () => {
    const dir = await swarm.dir();
    expect(await resolveDestination(dir, 'report.pdf')).toBe(join(dir, 'report.pdf'));
    expect(await resolveDestination(`${dir}/new/`, 'report.pdf')).toBe(join(dir, 'new', 'report.pdf'));
    expect(await resolveDestination(join(dir, 'copy.pdf'), 'report.pdf')).toBe(join(dir, 'copy.pdf'));
  });

  it('refuses a download whose manifest name escapes the destination', async () => {
    const { manifest } = await swarm.file(1000);
    const download = new Download({ manifest: { ...manifest, name: '../escape.bin' }, peers: [], ticket: 't', destination: await swarm.dir() });
    expect(await codeOf(download.start())).toBe('UNSAFE_NAME');
  });

  it('records only synced pieces, resumes them, and refuses to overwrite a file', async () => {
    const { path, manifest } = await swarm.file(4 * PIECE_SIZE + 10);
    const dir = await swarm.dir();
    const store = await PieceStore.open(manifest, dir);
    await store.writePiece(0, await pieceOf(path, manifest, 0));
    await store.flush();
    await store.writePiece(3, await pieceOf(path, manifest, 3));
    // Crash now: the record on disk says piece 0 only (piece 3 awaits the next flush).
    const record = JSON.parse(await readFile(store.progressPath, 'utf8')) as { have: string };
    const onDisk = new Bitfield(5, Buffer.from(record.have, 'base64'));
    expect([0, 1, 2, 3, 4].filter((i) => onDisk.has(i))).toEqual([0]);
    expect(await codeOf(store.readPiece(1))).toBe('PIECE_MISSING');
    await store.close(); // a clean close records piece 3 too

    const again = await PieceStore.open(manifest, dir);
    expect([0, 1, 2, 3, 4].filter((i) => again.has(i))).toEqual([0, 3]);
    expect((await again.readPiece(3)).equals(await pieceOf(path, manifest, 3))).toBe(true);
    for (const i of [1, 2, 4]) await again.writePiece(i, await pieceOf(path, manifest, i));
    const final = await again.finish();
    await again.close();
    expect((await readFile(final)).equals(await readFile(path))).toBe(true);
    expect(await exists(`${final}.part.json`)).toBe(false);
    expect(await codeOf(PieceStore.open(manifest, dir))).toBe('DESTINATION_EXISTS');
  });

  it('ignores a progress record that belongs to another file', async () => {
    const { path, manifest } = await swarm.file(2 * PIECE_SIZE);
    const dir = await swarm.dir();
    const store = await PieceStore.open(manifest, dir);
    await store.writePiece(1, await pieceOf(path, manifest, 1));
    await store.close();
    const record = JSON.parse(await readFile(store.progressPath, 'utf8')) as Record<string, unknown>;
    await writeFile(store.progressPath, JSON.stringify({ ...record, sha1: 'f'.repeat(40) }));
    const fresh = await PieceStore.open(manifest, dir);
    expect(fresh.piecesDone).toBe(0);
    await fresh.close();
  });

  it('fails loudly when the whole-file SHA-1 does not match, leaving no file behind', async () => {
    const { path, manifest } = await swarm.file(3 * PIECE_SIZE);
    const lying = { ...manifest, sha1: 'e'.repeat(40) }; // right pieces, wrong whole-file hash
    const seeder = await swarm.seeder(lying, path);
    const dest = await swarm.dir();
    const download = new Download({ manifest: lying, peers: [peerOf(seeder)], ticket: ticketFor(lying), destination: dest });
    expect(await codeOf(download.start())).toBe('FILE_HASH_MISMATCH');
    const target = join(dest, manifest.name);
    expect(await exists(target)).toBe(false);
    expect(await exists(`${target}.part`)).toBe(false);
    expect(await exists(`${target}.part.json`)).toBe(false);
  }, 20_000);
});
