/**
 * `<dest>.part.json`: which pieces of a download are durably in `<dest>.part`, so that a
 * restarted client resumes. Written atomically (tmp + fsync + rename); read back only
 * if it belongs to the same manifest and the `.part` has the right size.
 */
import { open, readFile, rename, stat } from 'node:fs/promises';
import type { FileManifest } from '../wire/manifest.js';
import { Bitfield } from '../wire/bitfield.js';

const PROGRESS_VERSION = 1;

interface ProgressRecord {
  readonly version: number;
  readonly sha1: string;
  readonly size: number;
  readonly pieceSize: number;
  /** Base64 of the wire bitfield of pieces durably on disk. */
  readonly have: string;
}

/** The bitfield from a progress record that matches this manifest and `.part`, else null. */
export async function loadProgress(manifest: FileManifest, recordPath: string, partPath: string, count: number): Promise<Bitfield | null> {
  let record: ProgressRecord;
  try {
    record = JSON.parse(await readFile(recordPath, 'utf8')) as ProgressRecord;
  } catch {
    return null;
  }
  try {
    if ((await stat(partPath)).size !== manifest.size) return null;
  } catch {
    return null;
  }
  if (
    typeof record !== 'object' ||
    record === null ||
    record.version !== PROGRESS_VERSION ||
    record.sha1 !== manifest.sha1 ||
    record.size !== manifest.size ||
    record.pieceSize !== manifest.pieceSize ||
    typeof record.have !== 'string'
  ) {
    return null;
  }
  const bytes = Buffer.from(record.have, 'base64');
  return Bitfield.isValid(count, bytes) ? new Bitfield(count, bytes) : null;
}

/** Replaces the record atomically; the caller has made those pieces durable first. */
export async function saveProgress(manifest: FileManifest, recordPath: string, have: Buffer): Promise<void> {
  const record: ProgressRecord = {
    version: PROGRESS_VERSION,
    sha1: manifest.sha1,
    size: manifest.size,
    pieceSize: manifest.pieceSize,
    have: have.toString('base64'),
  };
  const tmp = `${recordPath}.tmp`;
  const file = await open(tmp, 'w');
  try {
    await file.writeFile(JSON.stringify(record));
    await file.sync();
  } finally {
    await file.close();
  }
  await rename(tmp, recordPath);
}
