/**
 * Hashes a file as the swarm sees it: SHA-1 of every 512 KiB piece and of the whole
 * file, streamed so that memory stays at one read buffer whatever the file size.
 */
import { createHash } from 'node:crypto';
import { open } from 'node:fs/promises';
import { PIECE_SIZE } from '../wire/manifest.js';
import { readFully } from './positional-io.js';

export interface FileHashes {
  readonly size: number;
  readonly pieceSize: number;
  readonly pieceHashes: string[];
  readonly sha1: string;
}

export async function hashFile(path: string, pieceSize: number = PIECE_SIZE): Promise<FileHashes> {
  const handle = await open(path, 'r');
  try {
    const whole = createHash('sha1');
    const pieceHashes: string[] = [];
    const buffer = Buffer.allocUnsafe(pieceSize);
    let size = 0;
    for (;;) {
      const filled = await readFully(handle, buffer, size);
      if (filled === 0) break;
      const piece = buffer.subarray(0, filled);
      whole.update(piece);
      pieceHashes.push(createHash('sha1').update(piece).digest('hex'));
      size += filled;
      if (filled < pieceSize) break;
    }
    return { size, pieceSize, pieceHashes, sha1: whole.digest('hex') };
  } finally {
    await handle.close();
  }
}
