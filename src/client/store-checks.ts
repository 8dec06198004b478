/**
 * What the piece store checks before it trusts a manifest or a piece, and the coded
 * error it throws: file names that cannot escape the destination directory, manifests
 * whose numbers agree with each other, pieces whose length and SHA-1 match.
 */
import { hash as oneShotHash } from 'node:crypto';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { checkFileName, MAX_FILE_NAME_LENGTH } from '../events/names.js';
import { pieceCount, pieceLength, PIECE_SIZE, type FileManifest } from '../wire/manifest.js';

/** Longest file name accepted from a manifest. */
export const MAX_NAME_LENGTH = MAX_FILE_NAME_LENGTH;
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

/**
 * The one file-name rule of this client, for the names it shares and the names it saves:
 * a single path component (the tracker's rule: not empty, '.' or '..', no '/', '\\' or
 * control characters, at most MAX_NAME_LENGTH), and no drive prefix like "C:", which
 * Windows reads as a path. Dots inside a name ("notes..v2.txt") are ordinary characters.
 */
export function assertSafeName(name: string): void {
  const problem = typeof name !== 'string' ? 'a file name is text' : (checkFileName(name) ?? (/^[a-zA-Z]:/.test(name) ? 'a file name does not start with a drive letter like C:' : undefined));
  if (problem) throw new PieceStoreError('UNSAFE_NAME', `cannot use ${JSON.stringify(name)} as a file name: ${problem}`);
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
