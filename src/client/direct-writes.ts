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
 * offsets and lengths; their memory is a piece-arena slot whose data starts at a
 * multiple of DATA_ALIGN plus the arena's shift (piece-buffers.ts). The shift is found
 * by a probe: a file next to the download is written from each offset of the arena in
 * turn until the kernel accepts one (it refuses misaligned memory with EINVAL). Each
 * download checks the shift so found with one probe write, as filesystems differ
 * (tmpfs takes any memory, ext4 on this disk 512-byte aligned memory); where it is
 * refused the probe looks again, and pieces received from then on use the new shift.
 *
 * Anything else (the last piece, a piece in ordinary memory, a filesystem that refuses
 * O_DIRECT, such as tmpfs before Linux 6.6, a write the kernel refuses after all) goes
 * through the ordinary handle; a refused write turns direct writes off for that file.
 */
import { closeSync, constants, openSync, unlinkSync, writeSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { DATA_ALIGN, inArena, pieceArena, pieceDataShift, setPieceDataShift } from './piece-buffers.js';
import { writeFully } from './positional-io.js';

/** Smallest step between the offsets the probe tries (allocators align to at least this). */
const PROBE_STEP = 8;

export class DirectWriter {
  private constructor(private handle: FileHandle | null) {}

  /**
   * A direct writer for `path` (an existing file), or null where O_DIRECT does not work
   * (the filesystem refuses it, or no offset of the arena is accepted).
   */
  static async open(path: string): Promise<DirectWriter | null> {
    const shift = probeShift(path + '.align-probe', pieceDataShift());
    if (shift === null) return null;
    setPieceDataShift(shift);
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
      (data.byteOffset - pieceDataShift()) % DATA_ALIGN === 0 &&
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

/**
 * The arena offset (below DATA_ALIGN) whose memory the kernel takes for an O_DIRECT
 * write to a file at `probePath` (`likely` first), or null. Synchronous: one write when
 * `likely` is right, a few hundred refused writes (about a millisecond) when it is not.
 */
function probeShift(probePath: string, likely: number): number | null {
  let fd: number;
  try {
    fd = openSync(probePath, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_DIRECT, 0o600);
  } catch {
    return null; // no O_DIRECT on this filesystem, or no probe file allowed: ordinary writes
  }
  try {
    const arena = pieceArena();
    const offsets = [likely];
    for (let offset = 0; offset < DATA_ALIGN; offset += PROBE_STEP) offsets.push(offset);
    for (const offset of offsets) {
      try {
        writeSync(fd, new Uint8Array(arena, offset, DATA_ALIGN), 0, DATA_ALIGN, 0);
        return offset;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EINVAL') return null;
      }
    }
    return null;
  } finally {
    closeSync(fd);
    try {
      unlinkSync(probePath);
    } catch {
      // already gone
    }
  }
}
