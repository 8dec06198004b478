/** Positional file reads and writes that finish: one call may move fewer bytes than asked. */
import type { FileHandle } from 'node:fs/promises';

/** Writes all of `data` at `position`. */
export async function writeFully(handle: FileHandle, data: Uint8Array, position: number): Promise<void> {
  let written = 0;
  while (written < data.length) {
    const { bytesWritten } = await handle.write(data, written, data.length - written, position + written);
    written += bytesWritten;
  }
}

/** Fills `target` from `position`, unless the file ends first. Returns the bytes read. */
export async function readFully(handle: FileHandle, target: Uint8Array, position: number): Promise<number> {
  let filled = 0;
  while (filled < target.length) {
    const { bytesRead } = await handle.read(target, filled, target.length - filled, position + filled);
    if (bytesRead === 0) break;
    filled += bytesRead;
  }
  return filled;
}
