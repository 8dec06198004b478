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
 */
import { MAX_FRAME } from '../wire/peer-frames.js';

/** Pieces that can be in shared memory at once (in flight, being written, held for the hash). */
export const PIECE_SLOTS = 48;
/** A slot holds the largest PIECE payload the decoder accepts. */
export const SLOT_BYTES = MAX_FRAME - 1;

let arena: SharedArrayBuffer | null = null;
const free: number[] = [];
const taken = new Uint8Array(PIECE_SLOTS);

/** The arena (made on first use); a worker given it can read every slot. */
export function pieceArena(): SharedArrayBuffer {
  if (!arena) {
    arena = new SharedArrayBuffer(PIECE_SLOTS * SLOT_BYTES);
    for (let slot = PIECE_SLOTS - 1; slot >= 0; slot--) free.push(slot);
  }
  return arena;
}

export function allocPieceBuffer(length: number): Buffer {
  const memory = pieceArena();
  const slot = length <= SLOT_BYTES ? free.pop() : undefined;
  if (slot === undefined) return Buffer.allocUnsafe(length);
  taken[slot] = 1;
  return Buffer.from(memory, slot * SLOT_BYTES, length);
}

/** True if `buffer` lies in the arena, so a worker holding the arena can read it. */
export function inArena(buffer: Uint8Array): boolean {
  return arena !== null && buffer.buffer === arena;
}

/** Gives back the slot `buffer` (or a view into it) lies in. */
export function releasePieceBuffer(buffer: Uint8Array): void {
  if (!inArena(buffer)) return;
  const slot = Math.floor(buffer.byteOffset / SLOT_BYTES);
  if (taken[slot] !== 1) return;
  taken[slot] = 0;
  free.push(slot);
}

/** Slots free right now (for tests and diagnostics). */
export function freePieceSlots(): number {
  pieceArena();
  return free.length;
}
