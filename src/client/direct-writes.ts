/**
 * Writes of whole pieces that bypass the page cache (O_DIRECT), where the filesystem
 * allows it.
 *
 * Why: a downloaded gigabyte written the ordinary way first has to be given a
 * gigabyte of page cache, and on a VM whose memory freed a few seconds ago has gone
 * back to the host, taking it again costs the kernel 1.4-1.7 CPU-seconds per GiB
 * (0.2 s when the memory was freed just before); with O_DIRECT the kernel hands the
 * piece arena's pages to the disk instead (0.2-0.7 s per GiB, measured with dd). The
 * file's pages then are not cached, which a download that is read later does not need.
 *
 * O_DIRECT wants the memory, the file offset and the length aligned to the device's
 * block (512 B or 4 KiB). Full pieces (512 KiB, at multiples of 512 KiB) have aligned
 * offsets and lengths; their memory is a piece-arena slot whose data starts on a page
 * (piece-buffers.ts). Each download checks with one probe write, from the arena to a
 * file next to the download, that its filesystem takes O_DIRECT at all.
 *
 * Anything else (the last piece, a piece in ordinary memory, a filesystem that refuses
 * O_DIRECT, such as tmpfs before Linux 6.6, a write the kernel refuses after all) goes
 * through the ordinary handle; a refused write turns direct writes off for that file.
 */
import { closeSync, constants, openSync, unlinkSync, writeSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { DATA_ALIGN, inArena, pieceArena } from './piece-buffers.js';
import { writeFully } from './positional-io.js';

export class DirectWriter {
  private constructor(private handle: FileHandle | null) {}

  /**
   * A direct writer for `path` (an existing file), or null where O_DIRECT does not work
   * (the filesystem refuses it).
   */
  static async open(path: string): Promise<DirectWriter | null> {
    if (!takesDirectWrites(path + '.direct-probe')) return null;
    try {
      return new DirectWriter(await open(path, constants.O_WRONLY | constants.O_DIRECT));
    } catch {
      return null;
    }
  }

  /** True if `data` can be written at `position` this way. */
  fits(data: Buffer, position: number): boolean {
    return (
      this.handle !== null &&
      inArena(data) &&
      data.byteOffset % DATA_ALIGN === 0 &&
      data.length % DATA_ALIGN === 0 &&
      position % DATA_ALIGN === 0
    );
  }

  /**
   * Writes all of `data` at `position`; false (and direct writes off for good) if the
   * kernel refuses it as misaligned, in which case the caller writes it the ordinary way.
   * Other errors (no space, I/O) are thrown.
   */
  async write(data: Buffer, position: number): Promise<boolean> {
    const handle = this.handle;
    if (!handle) return false;
    try {
      await writeFully(handle, data, position);
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EINVAL') throw err;
      await this.close();
      return false;
    }
  }

  async close(): Promise<void> {
    const handle = this.handle;
    this.handle = null;
    await handle?.close();
  }
}

/** True if the filesystem of `probePath` takes an O_DIRECT write from the piece arena. */
function takesDirectWrites(probePath: string): boolean {
  let fd: number;
  try {
    fd = openSync(probePath, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_DIRECT, 0o600);
  } catch {
    return false; // no O_DIRECT on this filesystem, or no probe file allowed: ordinary writes
  }
  try {
    writeSync(fd, new Uint8Array(pieceArena(), 0, DATA_ALIGN), 0, DATA_ALIGN, 0);
    return true;
  } catch {
    return false;
  } finally {
    closeSync(fd);
    try {
      unlinkSync(probePath);
    } catch {
      // already gone
    }
  }
}
