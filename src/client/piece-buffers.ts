/**
 * Where received pieces live: slots of one shared-memory arena (a SharedArrayBuffer),
 * so that the whole-file hash worker reads them without a copy (it gets the arena
 * once), and so that a download allocates, zero-fills and garbage-collects nothing per
 * piece.
 *
 * One arena per process, made on first use; its pages are touched only as slots are
 * used. `allocPieceBuffer` hands out a free slot (or, when all are taken, ordinary
 * memory: still correct, just copied to the worker the slow way); whoever owns a piece
 * buffer last gives it back with `releasePieceBuffer`: the connection for a piece it
 * drops, the Download for a bad or duplicate piece, the PieceStore's whole-file hasher
 * once the piece is both on disk and hashed. Releasing anything else, or twice, does
 * nothing. Memory: at most PIECE_SLOTS slots.
 *
 * Alignment, for writes that bypass the page cache (direct-writes.ts): a slot holds a
 * PIECE payload (a 4-byte index, then the piece's bytes) placed so that the piece's
 * bytes start DATA_ALIGN bytes, plus the arena's shift, into the slot. JavaScript cannot
 * see addresses, so the shift that makes those starts aligned in memory is found by
 * trying (`setPieceDataShift`); until then it is 0. A slot has room for every shift, so
 * a slot's number is read off any view into it, before or after the shift is set.
 */
import { INDEX_BYTES, MAX_FRAME } from '../wire/peer-frames.js';

/**
 * Pieces that can be in shared memory at once (in flight, being written, held for the
 * whole-file hash): 96 slots of 528 KiB, 51 MiB of address space, of which a download
 * touches only what it uses at once.
 */
export const PIECE_SLOTS = 96;
/** A slot holds the largest PIECE payload the decoder accepts. */
export const SLOT_BYTES = MAX_FRAME - 1;
/** Piece bytes start at a multiple of this (plus the shift): 4 KiB suits any block device. */
export const DATA_ALIGN = 4096;
/** Room for the payload at any shift: one DATA_ALIGN before it, one for the shift, the payload rounded up. */
const SLOT_STRIDE = 2 * DATA_ALIGN + Math.ceil(SLOT_BYTES / DATA_ALIGN) * DATA_ALIGN;

let arena: SharedArrayBuffer | null = null;
let shift = 0;
const free: number[] = [];
const taken = new Uint8Array(PIECE_SLOTS);

/** The arena (made on first use); a worker given it can read every slot. */
export function pieceArena(): SharedArrayBuffer {
  if (!arena) {
    arena = new SharedArrayBuffer(PIECE_SLOTS * SLOT_STRIDE);
    for (let slot = PIECE_SLOTS - 1; slot >= 0; slot--) free.push(slot);
  }
  return arena;
}

/** Where pieces' bytes start: this many bytes past a multiple of DATA_ALIGN. */
export function pieceDataShift(): number {
  return shift;
}

/**
 * Where pieces' bytes start from now on: at `bytes` (0 <= bytes < DATA_ALIGN) past each
 * multiple of DATA_ALIGN. Pieces already handed out stay where they are.
 */
export function setPieceDataShift(bytes: number): void {
  if (!Number.isInteger(bytes) || bytes < 0 || bytes >= DATA_ALIGN) throw new RangeError(`piece data shift must be in 0..${DATA_ALIGN - 1}`);
  shift = bytes;
}

/** A PIECE payload of `length` bytes (index included). */
export function allocPieceBuffer(length: number): Buffer {
  const memory = pieceArena();
  const slot = length <= SLOT_BYTES ? free.pop() : undefined;
  if (slot === undefined) return Buffer.allocUnsafe(length);
  taken[slot] = 1;
  return Buffer.from(memory, slot * SLOT_STRIDE + DATA_ALIGN + shift - INDEX_BYTES, length);
}

/** True if `buffer` lies in the arena, so a worker holding the arena can read it. */
export function inArena(buffer: Uint8Array): boolean {
  return arena !== null && buffer.buffer === arena;
}

/** Gives back the slot `buffer` (or a view into it) lies in. */
export function releasePieceBuffer(buffer: Uint8Array): void {
  if (!inArena(buffer)) return;
  const slot = Math.floor(buffer.byteOffset / SLOT_STRIDE);
  if (taken[slot] !== 1) return;
  taken[slot] = 0;
  free.push(slot);
}

/** Slots free right now (for tests and diagnostics). */
export function freePieceSlots(): number {
  pieceArena();
  return free.length;
}
