/** The one error a Download fails with: a stable code and a message for the user. */
import { PieceStoreError } from './store-checks.js';

export type DownloadErrorCode =
  | 'ABORTED'
  | 'ALREADY_STARTED'
  | 'DOWNLOAD_STALLED'
  | 'NO_PEERS'
  | 'TICKET_REJECTED'
  | 'BAD_PEERS'
  | 'FILE_HASH_MISMATCH'
  | 'BAD_MANIFEST'
  | 'UNSAFE_NAME'
  | 'DESTINATION_EXISTS'
  | 'STORAGE_FAILED';

export class DownloadError extends Error {
  constructor(
    readonly code: DownloadErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`${code}: ${message}`, options);
    this.name = 'DownloadError';
  }
}

/** Store errors keep their code when it means something to the user; the rest is STORAGE_FAILED. */
export function asDownloadError(err: unknown): DownloadError {
  if (err instanceof DownloadError) return err;
  if (err instanceof PieceStoreError) {
    switch (err.code) {
      case 'FILE_HASH_MISMATCH':
      case 'BAD_MANIFEST':
      case 'UNSAFE_NAME':
      case 'DESTINATION_EXISTS':
        return new DownloadError(err.code, err.message.replace(/^[A-Z_]+: /, ''), { cause: err });
      default:
        break;
    }
  }
  return new DownloadError('STORAGE_FAILED', (err as Error)?.message ?? String(err), { cause: err });
}
