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
 * bytes start on a page (DATA_ALIGN). The arena is the memory of a shared
 * WebAssembly.Memory, which V8 maps page-aligned; a plain SharedArrayBuffer of this
 * size comes from malloc, 16 bytes past a page. The kernel takes O_DIRECT writes from
 * memory aligned to 512 bytes only, but on this VM's disk a 512 KiB write from memory
 * that is not page-aligned took 4-10 ms against 0.3-1 ms (8x slower: 100-200 MB/s
 * against 770-880 MB/s, measured with write loops in Python and Node). The guest sends
 * the disk as many requests either way (/sys/block/vda/stat), so it is presumably the
 * host that copies such buffers.
 */
import { INDEX_BYTES, MAX_FRAME } from '../wire/peer-frames.js';

/**
 * Pieces that can be in shared memory at once (in flight, being written, held for the
 * whole-file hash): 96 slots of 520 KiB, 49 MiB of address space, of which a download
 * touches only what it uses at once.
 */
export const PIECE_SLOTS = 96;
/** A slot holds the largest PIECE payload the decoder accepts. */
export const SLOT_BYTES = MAX_FRAME - 1;
/** Piece bytes start at a multiple of this: a page, which suits any block device. */
export const DATA_ALIGN = 4096;
/** Room for the payload: one DATA_ALIGN before the bytes (the index ends it), the bytes rounded up. */
const SLOT_STRIDE = DATA_ALIGN + Math.ceil(SLOT_BYTES / DATA_ALIGN) * DATA_ALIGN;
/** WebAssembly memory grows in pages of 64 KiB. */
const WASM_PAGE = 65536;

/** The one piece of the WebAssembly API used here (the project's TypeScript libs have none of it). */
declare const WebAssembly: {
  Memory: new (descriptor: { initial: number; maximum: number; shared: true }) => { readonly buffer: SharedArrayBuffer };
};

let arena: SharedArrayBuffer | null = null;
const free: number[] = [];
const taken = new Uint8Array(PIECE_SLOTS);

/** The arena (made on first use); a worker given it can read every slot. */
export function pieceArena(): SharedArrayBuffer {
  if (!arena) {
    const pages = Math.ceil((PIECE_SLOTS * SLOT_STRIDE) / WASM_PAGE);
    arena = new WebAssembly.Memory({ initial: pages, maximum: pages, shared: true }).buffer;
    for (let slot = PIECE_SLOTS - 1; slot >= 0; slot--) free.push(slot);
  }
  return arena;
}

/** A PIECE payload of `length` bytes (index included); its piece bytes start on a page. */
export function allocPieceBuffer(length: number): Buffer {
  const memory = pieceArena();
  const slot = length <= SLOT_BYTES ? free.pop() : undefined;
  if (slot === undefined) return Buffer.allocUnsafe(length);
  taken[slot] = 1;
  return Buffer.from(memory, slot * SLOT_STRIDE + DATA_ALIGN - INDEX_BYTES, length);
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
