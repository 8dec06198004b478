/** Positional file writes that finish: a write may take fewer bytes than asked. */
import type { FileHandle } from 'node:fs/promises';

/** Writes all of `data` at `position`. */
export async function writeFully(handle: FileHandle, data: Uint8Array, position: number): Promise<void> {
  let written = 0;
  while (written < data.length) {
    const { bytesWritten } = await handle.write(data, written, data.length - written, position + written);
    written += bytesWritten;
  }
}
