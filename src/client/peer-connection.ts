/**
 * The downloader's side of one TCP connection to one peer, for one file.
 *
 * Owns the socket, the frame decoder, the peer's bitfield (as announced, updated by
 * HAVE) and the set of our requests in flight to it. It checks the peer's protocol
 * (first message BITFIELD or REJECT, then only HAVE / PIECE / REJECT, pieces only
 * for what we asked) and closes with a stable code on any violation; it does not
 * judge piece contents: the Download verifies hashes and counts bad pieces here.
 *
 * Events: 'ready' (bitfield known), 'have' (index, newly set), 'piece' (index, data),
 * 'reject' (index, reason) for a request of ours, 'closed' (code, detail) once.
 */
import { EventEmitter } from 'node:events';
import { connect, type Socket } from 'node:net';
import type { SwarmPeer } from '../wire/manifest.js';
import {
  Bitfield,
  encodeCancel,
  encodeHandshake,
  encodeRequest,
  FrameDecoder,
  KEEP_ALIVE_FRAME,
  NO_PIECE,
  RejectReason,
  type PeerMessage,
} from '../wire/peer-frames.js';
import { allocPieceBuffer, releasePieceBuffer } from './piece-buffers.js';
import type { RateLimiter } from './rate-limiter.js';
import type { SchedulablePeer } from './scheduler.js';

/** Time allowed from connect to the peer's BITFIELD. */
export const CONNECT_TIMEOUT_MS = 5_000;
/** Keep-alive period on a quiet connection (the server drops idle ones after 120 s). */
export const KEEPALIVE_INTERVAL_MS = 30_000;
/** Requests pipelined to one peer: enough to keep loopback busy, below the server's queue cap. */
export const MAX_REQUESTS_PER_PEER = 8;
/**
 * Socket reads go straight into the piece being received (no copy, no per-read
 * allocation); between frames they go to this small buffer, shared by every
 * connection (the decoder copies out what it keeps before the next read).
 */
export const HEADER_READ_BYTES = 64;
const headerReadBuffer = Buffer.alloc(HEADER_READ_BYTES);

export type PeerCloseCode =
  | 'CONNECT_FAILED'
  | 'HANDSHAKE_TIMEOUT'
  | 'REJECTED_TICKET'
  | 'REJECTED_UNKNOWN_FILE'
  | 'REJECTED_BUSY'
  | 'PROTOCOL'
  | 'BAD_PIECES'
  | 'STALLED'
  | 'CLOSED_BY_PEER'
  | 'DOWNLOAD_ENDED';

export interface PeerConnectionOptions {
  readonly fileId: string;
  readonly ticket: string;
  readonly pieceCount: number;
  /** Download cap shared by all connections of the process or download. */
  readonly limiter?: RateLimiter | null;
}

export class PeerConnection extends EventEmitter implements SchedulablePeer {
  readonly id: string;
  state: 'connecting' | 'handshaking' | 'ready' | 'closed' = 'connecting';
  bits: Bitfield | null = null;
  readonly inflight = new Set<number>();
  capacity = MAX_REQUESTS_PER_PEER;
  badPieces = 0;
  piecesReceived = 0;
  lastDataAt = Date.now();
  private readonly cancelled = new Set<number>();
  private socket: Socket | null = null;
  private readonly decoder = new FrameDecoder((message) => this.onMessage(message), {
    reusesInput: true,
    allocPiece: (length) => (this.receiving = allocPieceBuffer(length)),
  });
  /** The piece buffer being filled, ours until handed on with 'piece' (see piece-buffers.ts). */
  private receiving: Buffer | null = null;
  private connectTimer: NodeJS.Timeout | null = null;
  private keepAliveTimer: NodeJS.Timeout | null = null;
  private lastSentAt = Date.now();
  private direct: Buffer | null = null;
  private corked = false;

  constructor(
    readonly peer: SwarmPeer,
    private readonly options: PeerConnectionOptions,
  ) {
    super();
    this.id = `${peer.host}:${peer.port}`;
  }

  get load(): number {
    return this.inflight.size;
  }

  has(index: number): boolean {
    return this.bits?.has(index) ?? false;
  }

  isRequesting(index: number): boolean {
    return this.inflight.has(index);
  }

  connect(): void {
    const socket = connect({
      host: this.peer.host,
      port: this.peer.port,
      noDelay: true,
      onread: {
        // Called before each read: where should the next bytes land?
        buffer: (): Uint8Array => (this.direct = this.decoder.directTarget()) ?? headerReadBuffer,
        callback: (bytes: number, buffer: Uint8Array): boolean => {
          this.onData(buffer === this.direct ? null : (buffer as Buffer), bytes);
          return true;
        },
      },
    });
    this.socket = socket;
    this.connectTimer = setTimeout(() => this.close('HANDSHAKE_TIMEOUT'), CONNECT_TIMEOUT_MS);
    socket.once('connect', () => {
      if (this.state !== 'connecting') return;
      this.state = 'handshaking';
      this.write(encodeHandshake(this.options.fileId, this.options.ticket));
    });
    socket.on('error', (err) => this.close(this.state === 'connecting' ? 'CONNECT_FAILED' : 'CLOSED_BY_PEER', err.message));
    socket.on('close', () => this.close(this.state === 'connecting' ? 'CONNECT_FAILED' : 'CLOSED_BY_PEER'));
    socket.on('end', () => {
      try {
        this.decoder.end();
      } catch (err) {
        this.close('PROTOCOL', (err as Error).message);
        return;
      }
      this.close('CLOSED_BY_PEER');
    });
  }

  /** Sends a request; false (and nothing sent) if one for `index` is already in flight. */
  request(index: number): boolean {
    if (this.inflight.has(index) || this.state !== 'ready') return false;
    this.inflight.add(index);
    this.cancelled.delete(index);
    this.write(encodeRequest(index));
    return true;
  }

  /** Withdraws a request; a copy that still arrives is ignored. */
  cancel(index: number): void {
    if (!this.inflight.delete(index)) return;
    this.cancelled.add(index);
    this.write(encodeCancel(index));
  }

  /** Closes once; 'closed' listeners still see `inflight` as it was, then it is cleared. */
  close(code: PeerCloseCode, detail = ''): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    if (this.connectTimer) clearTimeout(this.connectTimer);
    if (this.keepAliveTimer) clearInterval(this.keepAliveTimer);
    this.socket?.destroy();
    if (this.receiving) releasePieceBuffer(this.receiving);
    this.receiving = null;
    this.emit('closed', code, detail);
    this.inflight.clear();
    this.cancelled.clear();
  }

  /** Frames written in one tick leave in one syscall (cork until the next tick). */
  private write(frame: Buffer): void {
    const socket = this.socket;
    if (this.state === 'closed' || !socket) return;
    if (!this.corked) {
      this.corked = true;
      socket.cork();
      process.nextTick(() => {
        this.corked = false;
        socket.uncork();
      });
    }
    socket.write(frame);
    this.lastSentAt = Date.now();
  }

  /** `buffer` null: the bytes were read into the decoder's payload; else a shared buffer. */
  private onData(buffer: Buffer | null, bytes: number): void {
    if (this.state === 'closed') return;
    this.lastDataAt = Date.now();
    const limiter = this.options.limiter;
    if (limiter && this.socket) {
      // Stop reading until the bucket allows this much: TCP flow control slows the sender.
      const socket = this.socket;
      socket.pause();
      void limiter.take(bytes).then(() => {
        if (this.state !== 'closed') socket.resume();
      });
    }
    try {
      if (buffer) this.decoder.push(buffer.subarray(0, bytes));
      else this.decoder.pushDirect(bytes);
    } catch (err) {
      this.close('PROTOCOL', (err as Error).message);
    }
  }

  private onMessage(message: PeerMessage): void {
    if (this.state === 'closed') return;
    if (message.type === 'keep-alive') return;
    if (this.state !== 'ready') return this.onFirstMessage(message);
    switch (message.type) {
      case 'have': {
        if (message.index >= this.options.pieceCount) return this.close('PROTOCOL', `HAVE ${message.index} out of range`);
        if (this.bits!.set(message.index)) this.emit('have', message.index);
        return;
      }
      case 'piece': {
        const { index, data } = message;
        this.receiving = null;
        if (this.inflight.delete(index)) {
          this.piecesReceived++;
          this.emit('piece', index, data); // the listener owns `data` now
          return;
        }
        releasePieceBuffer(data);
        if (!this.cancelled.delete(index)) this.close('PROTOCOL', `unrequested piece ${index}`);
        return;
      }
      case 'reject': {
        const { index, reason } = message;
        if (index === NO_PIECE) return this.close(closeCodeFor(reason), `peer refused (reason ${reason})`);
        if (this.inflight.delete(index)) {
          if (reason === RejectReason.NOT_AVAILABLE) this.bits!.clear(index);
          this.emit('reject', index, reason);
        } else if (!this.cancelled.delete(index)) {
          this.close('PROTOCOL', `reject of unrequested piece ${index}`);
        }
        return;
      }
      default:
        return this.close('PROTOCOL', `unexpected ${message.type}`);
    }
  }

  private onFirstMessage(message: PeerMessage): void {
    if (message.type === 'reject' && message.index === NO_PIECE) {
      return this.close(closeCodeFor(message.reason), `peer refused the handshake (reason ${message.reason})`);
    }
    if (message.type !== 'bitfield' || this.state !== 'handshaking') {
      return this.close('PROTOCOL', `expected BITFIELD, got ${message.type}`);
    }
    if (!Bitfield.isValid(this.options.pieceCount, message.bits)) return this.close('PROTOCOL', 'malformed bitfield');
    this.bits = new Bitfield(this.options.pieceCount, message.bits);
    this.state = 'ready';
    if (this.connectTimer) clearTimeout(this.connectTimer);
    this.connectTimer = null;
    this.keepAliveTimer = setInterval(() => {
      if (Date.now() - this.lastSentAt >= KEEPALIVE_INTERVAL_MS) this.write(KEEP_ALIVE_FRAME);
    }, KEEPALIVE_INTERVAL_MS / 2);
    this.keepAliveTimer.unref();
    this.emit('ready');
  }
}

function closeCodeFor(reason: RejectReason): PeerCloseCode {
  switch (reason) {
    case RejectReason.NOT_AUTHORIZED:
      return 'REJECTED_TICKET';
    case RejectReason.UNKNOWN_FILE:
      return 'REJECTED_UNKNOWN_FILE';
    case RejectReason.BUSY:
      return 'REJECTED_BUSY';
    default:
      return 'PROTOCOL';
  }
}
