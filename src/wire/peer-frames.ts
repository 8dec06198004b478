/**
 * The peer wire: binary frames between a downloader and a peer that serves pieces.
 *
 *   frame  = u32be length-of-rest, then (if length > 0) u8 message id + payload
 *   length 0 is a keep-alive.
 *
 * | id | message   | payload                                                       |
 * |----|-----------|---------------------------------------------------------------|
 * | 0  | HANDSHAKE | 4-byte magic "P2PG", u8 version, 20-byte file id, ticket (ASCII) |
 * | 1  | BITFIELD  | one bit per piece, most significant bit first, spare bits 0   |
 * | 2  | HAVE      | u32 piece index                                               |
 * | 3  | REQUEST   | u32 piece index (always the whole piece)                      |
 * | 4  | PIECE     | u32 piece index + the piece's bytes                           |
 * | 5  | REJECT    | u32 piece index (NO_PIECE: the whole connection) + u8 reason  |
 * | 6  | CANCEL    | u32 piece index                                               |
 *
 * Encoders build whole frames (constant ones once). `FrameDecoder` (frame-decoder.ts)
 * is a small state machine (header, then payload) that caps the frame length and throws a
 * `PeerProtocolError` for anything malformed, so the caller drops that connection.
 * A PIECE payload costs at most one copy: assembled from several chunks, or copied
 * out of a chunk whose memory the caller reuses (`reusesInput`), else a view; a
 * caller that reads the socket straight into `directTarget()` avoids even that.
 */
import { PIECE_SIZE } from './manifest.js';
import { MAX_TICKET_LENGTH } from './ticket.js';

/** The BITFIELD payload's type, and the decoder: re-exported for the modules that take all from here. */
export { Bitfield } from './bitfield.js';
export { decodeMessage, FrameDecoder } from './frame-decoder.js';

export const PROTOCOL_MAGIC = Buffer.from('P2PG', 'ascii');
export const PROTOCOL_VERSION = 1;
export const FILE_ID_BYTES = 20;
/** Bytes before the data in a PIECE frame: length, id, index. */
export const PIECE_FRAME_HEADER_BYTES = 4 + 1 + 4;
/** Largest accepted value of the length prefix: a PIECE of a full piece, plus slack. */
export const MAX_FRAME = PIECE_SIZE + 64;
/** Index meaning "not about a piece" in REJECT: the connection as a whole is refused. */
export const NO_PIECE = 0xffffffff;

export const MessageId = {
  HANDSHAKE: 0,
  BITFIELD: 1,
  HAVE: 2,
  REQUEST: 3,
  PIECE: 4,
  REJECT: 5,
  CANCEL: 6,
} as const;

/** Why a peer refuses a request (or, with NO_PIECE, the whole connection). */
export const RejectReason = {
  NOT_AUTHORIZED: 1,
  UNKNOWN_FILE: 2,
  NOT_AVAILABLE: 3,
  BUSY: 4,
  PROTOCOL: 5,
} as const;
export type RejectReason = (typeof RejectReason)[keyof typeof RejectReason];
/** @internal */ export const REJECT_REASONS: ReadonlySet<number> = new Set<number>(Object.values(RejectReason));

/** @internal */ export const HANDSHAKE_FIXED_BYTES = PROTOCOL_MAGIC.length + 1 + FILE_ID_BYTES;
/** A PIECE, REQUEST, HAVE or REJECT payload starts with the piece index, in this many bytes. */
export const INDEX_BYTES = 4;

export type PeerMessage =
  | { readonly type: 'keep-alive' }
  | { readonly type: 'handshake'; readonly fileId: string; readonly ticket: string }
  | { readonly type: 'bitfield'; readonly bits: Buffer }
  | { readonly type: 'have'; readonly index: number }
  | { readonly type: 'request'; readonly index: number }
  | { readonly type: 'piece'; readonly index: number; readonly data: Buffer }
  | { readonly type: 'reject'; readonly index: number; readonly reason: RejectReason }
  | { readonly type: 'cancel'; readonly index: number };

export type PeerProtocolErrorCode =
  | 'FRAME_TOO_LARGE'
  | 'UNKNOWN_MESSAGE'
  | 'BAD_PAYLOAD_SIZE'
  | 'BAD_HANDSHAKE'
  | 'BAD_REJECT_REASON'
  | 'TRUNCATED_FRAME';

export class PeerProtocolError extends Error {
  constructor(
    readonly code: PeerProtocolErrorCode,
    message: string,
  ) {
    super(`${code}: ${message}`);
    this.name = 'PeerProtocolError';
  }
}

// ---------------------------------------------------------------- encoders

export const KEEP_ALIVE_FRAME: Buffer = Buffer.alloc(4);

export function encodeHandshake(fileId: string, ticket: string): Buffer {
  if (!/^[0-9a-fA-F]{40}$/.test(fileId)) throw new TypeError('encodeHandshake: fileId must be 40 hex digits');
  const ticketBytes = Buffer.from(ticket, 'latin1');
  if (ticketBytes.length > MAX_TICKET_LENGTH) throw new RangeError('encodeHandshake: ticket too long');
  const frame = allocFrame(MessageId.HANDSHAKE, HANDSHAKE_FIXED_BYTES + ticketBytes.length);
  let at = 5;
  at += PROTOCOL_MAGIC.copy(frame, at);
  frame[at++] = PROTOCOL_VERSION;
  at += Buffer.from(fileId, 'hex').copy(frame, at);
  ticketBytes.copy(frame, at);
  return frame;
}

export function encodeBitfield(bits: Buffer): Buffer {
  const frame = allocFrame(MessageId.BITFIELD, bits.length);
  bits.copy(frame, 5);
  return frame;
}

export function encodeHave(index: number): Buffer {
  return indexFrame(MessageId.HAVE, index);
}

export function encodeRequest(index: number): Buffer {
  return indexFrame(MessageId.REQUEST, index);
}

export function encodeCancel(index: number): Buffer {
  return indexFrame(MessageId.CANCEL, index);
}

export function encodeReject(index: number, reason: RejectReason): Buffer {
  const frame = allocFrame(MessageId.REJECT, INDEX_BYTES + 1);
  frame.writeUInt32BE(index, 5);
  frame[9] = reason;
  return frame;
}

/**
 * A PIECE frame with its header filled in and `length` uninitialised data bytes
 * at PIECE_FRAME_HEADER_BYTES: read the piece from disk straight into it.
 */
export function allocPieceFrame(index: number, length: number): Buffer {
  if (length > MAX_FRAME - 1 - INDEX_BYTES) throw new RangeError('allocPieceFrame: piece too large');
  const frame = Buffer.allocUnsafe(PIECE_FRAME_HEADER_BYTES + length);
  writePieceFrameHeader(frame, index);
  return frame;
}

/** (Re)writes the header of a PIECE frame whose data fills the rest of `frame`. */
export function writePieceFrameHeader(frame: Buffer, index: number): void {
  frame.writeUInt32BE(frame.length - 4, 0);
  frame[4] = MessageId.PIECE;
  frame.writeUInt32BE(index, 5);
}

export function encodePiece(index: number, data: Buffer): Buffer {
  const frame = allocPieceFrame(index, data.length);
  data.copy(frame, PIECE_FRAME_HEADER_BYTES);
  return frame;
}

function allocFrame(id: number, payloadLength: number): Buffer {
  const frame = Buffer.alloc(5 + payloadLength);
  frame.writeUInt32BE(1 + payloadLength, 0);
  frame[4] = id;
  return frame;
}

function indexFrame(id: number, index: number): Buffer {
  const frame = allocFrame(id, INDEX_BYTES);
  frame.writeUInt32BE(index, 5);
  return frame;
}
