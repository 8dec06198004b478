/**
 * What user ids, group ids and file names may look like. One place, used by `decide`,
 * so every entry point refuses the same things with the same words.
 */
import { PIECE_SIZE, pieceCount } from '../wire/manifest.js';

export const MAX_ID_LENGTH = 64;
export const MAX_FILE_NAME_LENGTH = 255;
/** Bounded so an upload_file request (all piece hashes) fits in one 1 MiB frame. */
export const MAX_FILE_SIZE = 10 * 1024 ** 3;

const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;
const SHA1_PATTERN = /^[0-9a-f]{40}$/;

/** Returns a problem description, or undefined when the id is fine. */
export function checkId(kind: 'user id' | 'group id', id: string): string | undefined {
  if (id.length === 0 || id.length > MAX_ID_LENGTH || !ID_PATTERN.test(id)) {
    return `a ${kind} is 1 to ${MAX_ID_LENGTH} letters, digits, '_', '.' or '-', starting with a letter or digit`;
  }
  return undefined;
}

export function checkFileName(name: string): string | undefined {
  if (
    name.length === 0 ||
    name.length > MAX_FILE_NAME_LENGTH ||
    name === '.' ||
    name === '..' ||
    /[/\\\u0000-\u001f]/.test(name)
  ) {
    return `a file name is 1 to ${MAX_FILE_NAME_LENGTH} characters with no '/', '\\' or control characters, and not '.' or '..'`;
  }
  return undefined;
}

export function checkFileShape(size: number, pieceSize: number, pieceHashes: readonly string[], sha1: string): string | undefined {
  if (!Number.isSafeInteger(size) || size < 0 || size > MAX_FILE_SIZE) return `file size must be 0 to ${MAX_FILE_SIZE} bytes`;
  if (pieceSize !== PIECE_SIZE) return `piece size must be ${PIECE_SIZE}`;
  if (pieceHashes.length !== pieceCount(size, pieceSize)) return 'piece hash count does not match the file size';
  if (!SHA1_PATTERN.test(sha1) || !pieceHashes.every((h) => SHA1_PATTERN.test(h))) return 'hashes must be 40 lower-case hex digits';
  return undefined;
}
