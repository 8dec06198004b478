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
 * Encoders build whole frames (constant ones once). `FrameDecoder` is a small state
 * machine (header, then payload) that caps the frame length and throws a
 * `PeerProtocolError` for anything malformed, so the caller drops that connection.
 * A PIECE payload costs at most one copy: assembled from several chunks, or copied
 * out of a chunk whose memory the caller reuses (`reusesInput`), else a view; a
 * caller that reads the socket straight into `directTarget()` avoids even that.
 */
import { PIECE_SIZE } from './manifest.js';
import { MAX_TICKET_LENGTH } from './ticket.js';

/** The BITFIELD payload's type; re-exported for the modules that take both from here. */
export { Bitfield } from './bitfield.js';

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
const REJECT_REASONS = new Set<number>(Object.values(RejectReason));

const HANDSHAKE_FIXED_BYTES = PROTOCOL_MAGIC.length + 1 + FILE_ID_BYTES;
const INDEX_BYTES = 4;

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

// ---------------------------------------------------------------- decoder

/** Expected payload size for fixed-size messages; -1 = variable. */
function fixedPayloadSize(id: number): number {
  switch (id) {
    case MessageId.HAVE:
    case MessageId.REQUEST:
    case MessageId.CANCEL:
      return INDEX_BYTES;
    case MessageId.REJECT:
      return INDEX_BYTES + 1;
    default:
      return -1;
  }
}

function checkHeader(id: number, payloadLength: number): void {
  if (id > MessageId.CANCEL) throw new PeerProtocolError('UNKNOWN_MESSAGE', `unknown message id ${id}`);
  const fixed = fixedPayloadSize(id);
  if (fixed >= 0 && payloadLength !== fixed) {
    throw new PeerProtocolError('BAD_PAYLOAD_SIZE', `message ${id} needs ${fixed} payload bytes, got ${payloadLength}`);
  }
  if (id === MessageId.PIECE && payloadLength <= INDEX_BYTES) {
    throw new PeerProtocolError('BAD_PAYLOAD_SIZE', 'PIECE without data');
  }
  if (id === MessageId.HANDSHAKE && (payloadLength < HANDSHAKE_FIXED_BYTES || payloadLength > HANDSHAKE_FIXED_BYTES + MAX_TICKET_LENGTH)) {
    throw new PeerProtocolError('BAD_PAYLOAD_SIZE', `HANDSHAKE of ${payloadLength} bytes`);
  }
}

export function decodeMessage(id: number, payload: Buffer): PeerMessage {
  checkHeader(id, payload.length);
  switch (id) {
    case MessageId.HANDSHAKE: {
      if (!payload.subarray(0, PROTOCOL_MAGIC.length).equals(PROTOCOL_MAGIC)) {
        throw new PeerProtocolError('BAD_HANDSHAKE', 'wrong protocol magic');
      }
      const version = payload[PROTOCOL_MAGIC.length];
      if (version !== PROTOCOL_VERSION) throw new PeerProtocolError('BAD_HANDSHAKE', `unsupported protocol version ${version}`);
      const idStart = PROTOCOL_MAGIC.length + 1;
      const fileId = payload.toString('hex', idStart, idStart + FILE_ID_BYTES);
      const ticket = payload.toString('latin1', HANDSHAKE_FIXED_BYTES);
      return { type: 'handshake', fileId, ticket };
    }
    case MessageId.BITFIELD:
      return { type: 'bitfield', bits: payload };
    case MessageId.HAVE:
      return { type: 'have', index: payload.readUInt32BE(0) };
    case MessageId.REQUEST:
      return { type: 'request', index: payload.readUInt32BE(0) };
    case MessageId.CANCEL:
      return { type: 'cancel', index: payload.readUInt32BE(0) };
    case MessageId.PIECE:
      return { type: 'piece', index: payload.readUInt32BE(0), data: payload.subarray(INDEX_BYTES) };
    case MessageId.REJECT: {
      const reason = payload[INDEX_BYTES]!;
      if (!REJECT_REASONS.has(reason)) throw new PeerProtocolError('BAD_REJECT_REASON', `unknown reject reason ${reason}`);
      return { type: 'reject', index: payload.readUInt32BE(0), reason: reason as RejectReason };
    }
    default:
      throw new PeerProtocolError('UNKNOWN_MESSAGE', `unknown message id ${id}`);
  }
}

/**
 * Streaming decoder: feed socket chunks to `push`, get whole messages in `onMessage`.
 * Throws PeerProtocolError (from `push` or `end`) on the first violation; after that
 * the decoder is unusable and the connection must be closed.
 */
export class FrameDecoder {
  private readonly header = Buffer.alloc(5);
  private readonly reusesInput: boolean;
  private readonly allocPiece: (length: number) => Buffer;
  private headerFilled = 0;
  private payload: Buffer | null = null;
  private payloadFilled = 0;
  private id = 0;
  private failed = false;

  /**
   * `reusesInput`: the caller overwrites each chunk after `push` returns (a shared
   * socket read buffer), so payloads that outlive the call are copied out of it.
   * `allocPiece`: where PIECE payloads are assembled (e.g. shared memory that a worker
   * thread can read without a copy); default Buffer.allocUnsafe.
   */
  constructor(
    private readonly onMessage: (message: PeerMessage) => void,
    options: { reusesInput?: boolean; allocPiece?: (length: number) => Buffer } = {},
  ) {
    this.reusesInput = options.reusesInput ?? false;
    this.allocPiece = options.allocPiece ?? Buffer.allocUnsafe;
  }

  /** True when no frame is partially received. */
  get idle(): boolean {
    return this.headerFilled === 0 && this.payload === null;
  }

  push(chunk: Buffer): void {
    if (this.failed) throw new PeerProtocolError('TRUNCATED_FRAME', 'decoder already failed');
    try {
      this.consume(chunk);
    } catch (err) {
      this.failed = true;
      throw err;
    }
  }

  /**
   * The unfilled rest of the payload being assembled, for a caller that can read
   * socket bytes straight into it (then `pushDirect`); null between frames.
   */
  directTarget(): Buffer | null {
    return this.payload && !this.failed ? this.payload.subarray(this.payloadFilled) : null;
  }

  /** `bytes` were written at the start of the last `directTarget()`. */
  pushDirect(bytes: number): void {
    const payload = this.payload;
    if (this.failed || !payload || bytes > payload.length - this.payloadFilled) {
      throw new RangeError('FrameDecoder.pushDirect: no such target');
    }
    this.payloadFilled += bytes;
    if (this.payloadFilled === payload.length) {
      this.payload = null;
      try {
        this.onMessage(decodeMessage(this.id, payload));
      } catch (err) {
        this.failed = true;
        throw err;
      }
    }
  }

  /** The stream ended: throws if it stopped in the middle of a frame. */
  end(): void {
    if (!this.idle) throw new PeerProtocolError('TRUNCATED_FRAME', 'stream ended inside a frame');
  }

  private consume(chunk: Buffer): void {
    let at = 0;
    while (at < chunk.length) {
      if (this.payload === null) {
        // Header: 4 length bytes, then (unless keep-alive) 1 id byte.
        if (this.headerFilled === 0 && chunk.length - at >= 5) {
          const length = chunk.readUInt32BE(at);
          if (length === 0) {
            at += 4;
            this.onMessage({ type: 'keep-alive' });
            continue;
          }
          const id = chunk[at + 4]!;
          at += 5;
          const payloadLength = this.startFrame(length, id);
          if (chunk.length - at >= payloadLength) {
            // Whole payload in this chunk: a view, unless the chunk is about to be reused.
            const view = chunk.subarray(at, at + payloadLength);
            const keep = this.reusesInput && (id === MessageId.PIECE || id === MessageId.BITFIELD);
            const payload = keep ? this.copyOf(id, view) : view;
            at += payloadLength;
            this.onMessage(decodeMessage(id, payload));
            continue;
          }
          this.payload = this.alloc(id, payloadLength);
          this.payloadFilled = 0;
          continue;
        }
        const need = (this.headerFilled < 4 ? 4 : 5) - this.headerFilled;
        const take = Math.min(need, chunk.length - at);
        chunk.copy(this.header, this.headerFilled, at, at + take);
        this.headerFilled += take;
        at += take;
        if (this.headerFilled === 4 && this.header.readUInt32BE(0) === 0) {
          this.headerFilled = 0;
          this.onMessage({ type: 'keep-alive' });
        } else if (this.headerFilled === 5) {
          this.headerFilled = 0;
          const payloadLength = this.startFrame(this.header.readUInt32BE(0), this.header[4]!);
          if (payloadLength === 0) {
            this.onMessage(decodeMessage(this.id, Buffer.alloc(0)));
          } else {
            this.payload = this.alloc(this.id, payloadLength);
            this.payloadFilled = 0;
          }
        }
        continue;
      }
      const take = Math.min(this.payload.length - this.payloadFilled, chunk.length - at);
      chunk.copy(this.payload, this.payloadFilled, at, at + take);
      this.payloadFilled += take;
      at += take;
      if (this.payloadFilled === this.payload.length) {
        const payload = this.payload;
        this.payload = null;
        this.onMessage(decodeMessage(this.id, payload));
      }
    }
  }

  private alloc(id: number, length: number): Buffer {
    return id === MessageId.PIECE ? this.allocPiece(length) : Buffer.allocUnsafe(length);
  }

  /** A memcpy'd copy (Buffer.from(buffer) takes a slower element-wise path). */
  private copyOf(id: number, view: Buffer): Buffer {
    const copy = this.alloc(id, view.length);
    view.copy(copy);
    return copy;
  }

  /** Validates the header before buffering anything; returns the payload length. */
  private startFrame(length: number, id: number): number {
    if (length > MAX_FRAME) throw new PeerProtocolError('FRAME_TOO_LARGE', `frame of ${length} bytes exceeds ${MAX_FRAME}`);
    const payloadLength = length - 1;
    checkHeader(id, payloadLength);
    this.id = id;
    return payloadLength;
  }
}
