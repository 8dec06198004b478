// Piece bytes in shared memory: every slot of the piece arena comes back once a
// download is over, and the whole-file SHA-1 is right whether the hash worker reads a
// piece from shared memory or back from disk, in order or not.
import { createHash, randomBytes } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { open, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Download } from '../../src/client/downloader.js';
import { allocPieceBuffer, freePieceSlots, PIECE_SLOTS, releasePieceBuffer } from '../../src/client/piece-buffers.js';
import { WholeFileHasher } from '../../src/client/whole-file-hasher.js';
import { PIECE_SIZE } from '../../src/wire/manifest.js';
import { peerOf, sameBytes, Swarm, ticketFor } from './swarm.js';

describe('piece memory', () => {
  const swarm = new Swarm();
  afterEach(() => swarm.cleanup());

  it('gives every arena slot back after downloads from three seeders, one of them corrupt', async () => {
    const { path, manifest } = await swarm.file(12 * PIECE_SIZE + 5);
    const honest = [await swarm.seeder(manifest, path), await swarm.seeder(manifest, path)];
    const badPath = join(await swarm.dir(), 'bad.bin');
    const bytes = Buffer.from(await import('node:fs/promises').then((fs) => fs.readFile(path)));
    for (let i = 0; i < bytes.length; i += PIECE_SIZE) bytes[i] ^= 0xff; // every piece wrong
    await writeFile(badPath, bytes);
    const corrupt = await swarm.seeder(manifest, badPath);
    for (let round = 0; round < 2; round++) {
      const result = await new Download({
        manifest,
        peers: [...honest, corrupt].map((s) => peerOf(s)),
        ticket: ticketFor(manifest),
        destination: join(await swarm.dir(), 'out.bin'),
      }).start();
      expect(await sameBytes(result, path)).toBe(true);
      // Verdicts and hash-worker replies still in flight settle within a moment.
      for (let i = 0; i < 50 && freePieceSlots() < PIECE_SLOTS; i++) await new Promise((r) => setTimeout(r, 20));
      expect(freePieceSlots()).toBe(PIECE_SLOTS);
    }
  }, 20_000);

  it('releases a slot once, and ignores buffers that are not its own', () => {
    const before = freePieceSlots();
    const piece = allocPieceBuffer(PIECE_SIZE + 4);
    expect(freePieceSlots()).toBe(before - 1);
    releasePieceBuffer(piece.subarray(4));
    releasePieceBuffer(piece);
    releasePieceBuffer(Buffer.alloc(10));
    expect(freePieceSlots()).toBe(before);
  });

  it('hashes the whole file from shared pieces and from disk, in any order', async () => {
    const pieceSize = 1024;
    const data = randomBytes(40 * pieceSize + 17);
    const count = Math.ceil(data.length / pieceSize);
    const partPath = join(await swarm.dir(), 'x.part');
    await writeFile(partPath, Buffer.alloc(data.length));
    const hasher = new WholeFileHasher(partPath, { size: data.length, pieceSize });
    const handle = await open(partPath, 'r+');
    let lent = 0;
    try {
      // Out of order; even pieces handed over in shared memory, odd ones only on disk.
      const order = [...Array(count).keys()].sort((a, b) => ((a * 7919) % count) - ((b * 7919) % count));
      for (const index of order) {
        const piece = data.subarray(index * pieceSize, Math.min(data.length, (index + 1) * pieceSize));
        if (index % 2 === 0) {
          const shared = allocPieceBuffer(piece.length);
          piece.copy(shared);
          if (hasher.share(index, shared)) lent++;
          else releasePieceBuffer(shared); // the hasher holds a few at most: the rest is read from disk
        }
        await handle.write(piece, 0, piece.length, index * pieceSize);
        hasher.have([index]);
      }
    } finally {
      await handle.close();
    }
    expect(lent).toBeGreaterThan(0);
    expect(await hasher.digest()).toBe(createHash('sha1').update(data).digest('hex'));
    await hasher.close();
  });

  it('gives back the pieces on loan when its worker fails, each once it is written', async () => {
    // The downloader waits for loans to come back (scheduler.ts assignWithinLoans): a
    // worker that failed used to keep them until close(), which would stall a download.
    const returns: number[] = [];
    const hasher = new WholeFileHasher(join(await swarm.dir(), 'missing.part'), { size: 4 * PIECE_SIZE, pieceSize: PIECE_SIZE }, { onReturn: () => returns.push(hasher.onLoan) });
    const free = freePieceSlots();
    const one = allocPieceBuffer(PIECE_SIZE);
    const two = allocPieceBuffer(PIECE_SIZE);
    expect(hasher.share(1, one)).toBe(true);
    expect(hasher.share(2, two)).toBe(true);
    expect([hasher.onLoan, hasher.lowestOnLoan]).toEqual([2, 1]);
    hasher.have([1]); // piece 2 is still being written
    hasher.have([0]); // not shared: the worker reads it from a file that is not there, and fails
    await expect(hasher.digest()).rejects.toThrow(/whole-file hash: .*ENOENT/);
    expect(hasher.onLoan).toBe(1);
    expect(freePieceSlots()).toBe(free - 1);
    hasher.have([2]);
    expect([hasher.onLoan, hasher.lowestOnLoan]).toEqual([0, Infinity]);
    expect(freePieceSlots()).toBe(free);
    expect(returns.length).toBeGreaterThan(0);
    const three = allocPieceBuffer(PIECE_SIZE);
    expect(hasher.share(3, three)).toBe(false); // nothing more is lent
    releasePieceBuffer(three);
    await hasher.close();
  });

  it('keeps a process alive while a check or digest is pending, and lets it exit after', () => {
    // Regression: a worker unref'd before its 'message' listener was added kept the
    // process alive forever; and a pending check must keep it alive until answered.
    const dist = join(import.meta.dirname, '../../dist');
    const script = `
      import { PIECE_SIZE } from '${dist}/src/wire/manifest.js';
      import { verifyPiece } from '${dist}/src/client/piece-verifier.js';
      import { allocPieceBuffer } from '${dist}/src/client/piece-buffers.js';
      import { WholeFileHasher } from '${dist}/src/client/whole-file-hasher.js';
      const piece = allocPieceBuffer(PIECE_SIZE);
      await verifyPiece(piece, '0'.repeat(40));
      const hasher = new WholeFileHasher('/nonexistent', { size: 0, pieceSize: PIECE_SIZE });
      await hasher.digest();
      console.log('done');
    `;
    const run = spawnSync(process.execPath, ['--input-type=module', '-e', script], { timeout: 10_000, encoding: 'utf8' });
    expect(run.stdout.trim()).toBe('done');
    expect(run.signal).toBeNull();
    expect(run.status).toBe(0);
  });
});
