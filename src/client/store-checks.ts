/**
 * What the piece store checks before it trusts a manifest or a piece, and the coded
 * error it throws: file names that cannot escape the destination directory, manifests
 * whose numbers agree with each other, pieces whose length and SHA-1 match.
 */
import { hash as oneShotHash } from 'node:crypto';
import { stat } from 'node:fs/promises';
import { isAbsolute, join, win32 } from 'node:path';
import { pieceCount, pieceLength, PIECE_SIZE, type FileManifest } from '../wire/manifest.js';

/** Longest file name accepted from a manifest. */
export const MAX_NAME_LENGTH = 255;
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
