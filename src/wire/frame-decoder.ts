/**
 * Decoding the peer wire (frames described in peer-frames.ts): `decodeMessage` checks
 * and parses one message, `FrameDecoder` cuts a byte stream into messages. Both throw
 * PeerProtocolError on the first violation, before buffering anything oversized.
 */
import {
  HANDSHAKE_FIXED_BYTES,
  INDEX_BYTES,
  MAX_FRAME,
  MessageId,
  PeerProtocolError,
  PROTOCOL_MAGIC,
  PROTOCOL_VERSION,
  FILE_ID_BYTES,
  REJECT_REASONS,
  type PeerMessage,
  type RejectReason,
} from './peer-frames.js';
import { MAX_TICKET_LENGTH } from './ticket.js';

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
