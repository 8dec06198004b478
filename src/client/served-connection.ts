/**
 * One peer connected to our PeerServer: the handshake (ticket checked against the
 * server's keys, else REJECT and close), then its requests served in order, one piece
 * at a time, each read from the file's source straight into the outgoing frame, under
 * the server's upload limiter and the socket's backpressure. A leecher's store pushes
 * HAVE for each new piece. Bad data closes this connection only.
 *
 * Frames of full pieces are reused (up to SPARE_FRAMES per connection) once the socket
 * has handed them to the kernel, so serving allocates (and page-faults) almost nothing.
 */
import type { KeyObject } from 'node:crypto';
import type { Socket } from 'node:net';
import { pieceCount, pieceLength, PIECE_SIZE, type FileManifest } from '../wire/manifest.js';
import {
  allocPieceFrame,
  encodeBitfield,
  encodeHave,
  encodeReject,
  FrameDecoder,
  NO_PIECE,
  PIECE_FRAME_HEADER_BYTES,
  RejectReason,
  writePieceFrameHeader,
  type PeerMessage,
} from '../wire/peer-frames.js';
import { verifyTicket } from '../wire/ticket.js';
import { StoreSource, type PieceSource } from './piece-sources.js';
import type { PieceStore } from './piece-store.js';
import type { RateLimiter } from './rate-limiter.js';

/** Requests a peer may have queued with us; more get REJECT(BUSY). */
export const MAX_QUEUED_REQUESTS = 32;
export const HANDSHAKE_TIMEOUT_MS = 10_000;
export const IDLE_TIMEOUT_MS = 120_000;
/** Bytes buffered in a socket before the serving loop waits for 'drain'. */
export const SEND_BUFFER_LIMIT = 2 * PIECE_SIZE;
/** A peer that lets more than this pile up unread is dropped. */
export const MAX_SEND_BACKLOG = SEND_BUFFER_LIMIT + 2 * PIECE_SIZE;
/** How long a refused connection gets to read its REJECT before being destroyed. */
export const CLOSE_GRACE_MS = 2_000;
/** Piece frames kept for reuse per connection. */
export const SPARE_FRAMES = 4;
const FULL_FRAME_BYTES = PIECE_FRAME_HEADER_BYTES + PIECE_SIZE;

/** Why a connection was closed, as reported by the 'peer-closed' event. */
export type ServedCloseCode =
  | 'PROTOCOL'
  | 'HANDSHAKE_TIMEOUT'
  | 'IDLE'
  | 'TICKET'
  | 'UNKNOWN_FILE'
  | 'TOO_MANY_CONNECTIONS'
  | 'SLOW_READER'
  | 'UNSHARED'
  | 'SOURCE_FAILED'
  | 'SOCKET'
  | 'SERVER_CLOSED'
  | 'PEER_CLOSED';

export interface SharedFile {
  readonly manifest: FileManifest;
  source: PieceSource;
  readonly connections: Set<ServedConnection>;
  piecesServed: number;
  bytesServed: number;
}

/** What a connection needs from its server. */
export interface ServingHost {
  readonly options: { readonly publicKeys: () => readonly KeyObject[] };
  readonly limiter: RateLimiter | null;
  lookup(fileId: string): SharedFile | undefined;
  forget(connection: ServedConnection, code: ServedCloseCode, detail: string): void;
}

/** One accepted peer: handshake, then a queue of requests served in order. */
export class ServedConnection {
  readonly remote: string;
  readonly address: string | undefined;
  private state: 'handshake' | 'serving' | 'closed' = 'handshake';
  private file: SharedFile | null = null;
  private readonly queue: number[] = [];
  private pumping = false;
  /** Full-piece frames the socket is done with. */
  private readonly spareFrames: Buffer[] = [];
  private readonly decoder = new FrameDecoder((message) => this.onMessage(message));
  private readonly handshakeTimer: NodeJS.Timeout;
  private subscribed: PieceStore | null = null;
  private readonly onStorePiece = (index: number): void => this.send(encodeHave(index));

  constructor(
    private readonly server: ServingHost,
    private readonly socket: Socket,
  ) {
    this.remote = `${socket.remoteAddress}:${socket.remotePort}`;
    this.address = socket.remoteAddress;
    socket.setNoDelay(true);
    socket.setTimeout(IDLE_TIMEOUT_MS, () => this.close('IDLE'));
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', () => this.close('SOCKET'));
    socket.on('close', () => this.close('PEER_CLOSED'));
    this.handshakeTimer = setTimeout(() => this.close('HANDSHAKE_TIMEOUT'), HANDSHAKE_TIMEOUT_MS);
    this.handshakeTimer.unref();
  }

  /** Tells the peer why, then closes once it had a chance to read it. */
  refuse(reason: RejectReason, code: ServedCloseCode): void {
    if (this.state === 'closed') return;
    this.socket.end(encodeReject(NO_PIECE, reason));
    setTimeout(() => this.socket.destroy(), CLOSE_GRACE_MS).unref();
    this.close(code, false);
  }

  close(code: ServedCloseCode, destroy = true, detail = ''): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    clearTimeout(this.handshakeTimer);
    this.queue.length = 0;
    this.file?.connections.delete(this);
    this.subscribed?.off('piece', this.onStorePiece);
    this.subscribed = null;
    if (destroy) this.socket.destroy();
    this.server.forget(this, code, detail);
  }

  private onData(chunk: Buffer): void {
    if (this.state === 'closed') return;
    try {
      this.decoder.push(chunk);
    } catch (err) {
      this.close('PROTOCOL', true, (err as Error).message);
    }
  }

  private onMessage(message: PeerMessage): void {
    if (this.state === 'closed') return;
    switch (message.type) {
      case 'keep-alive':
        return;
      case 'handshake':
        return this.onHandshake(message.fileId, message.ticket);
      case 'request':
        return this.onRequest(message.index);
      case 'cancel': {
        const at = this.queue.indexOf(message.index);
        if (at >= 0) this.queue.splice(at, 1);
        return;
      }
      default:
        // A downloader has nothing else to tell a server.
        return this.close('PROTOCOL', true, `unexpected ${message.type}`);
    }
  }

  private onHandshake(fileId: string, ticket: string): void {
    if (this.state !== 'handshake') return this.close('PROTOCOL', true, 'second handshake');
    clearTimeout(this.handshakeTimer);
    const file = this.server.lookup(fileId);
    if (!file) return this.refuse(RejectReason.UNKNOWN_FILE, 'UNKNOWN_FILE');
    const verdict = verifyTicket(this.server.options.publicKeys(), ticket, fileId, Date.now());
    if (!verdict.ok) return this.refuse(RejectReason.NOT_AUTHORIZED, 'TICKET');
    this.state = 'serving';
    this.file = file;
    file.connections.add(this);
    // Subscribe before the snapshot so no piece falls between the two.
    if (file.source instanceof StoreSource) {
      this.subscribed = file.source.store;
      this.subscribed.on('piece', this.onStorePiece);
    }
    this.send(encodeBitfield(file.source.bitfield()));
  }

  private onRequest(index: number): void {
    const file = this.file;
    if (this.state !== 'serving' || !file) return this.close('PROTOCOL', true, 'request before handshake');
    if (index >= pieceCount(file.manifest.size, file.manifest.pieceSize)) {
      return this.close('PROTOCOL', true, `request for piece ${index} out of range`);
    }
    if (this.queue.includes(index)) return;
    if (this.queue.length >= MAX_QUEUED_REQUESTS) return this.send(encodeReject(index, RejectReason.BUSY));
    if (!file.source.has(index)) return this.send(encodeReject(index, RejectReason.NOT_AVAILABLE));
    this.queue.push(index);
    void this.pump();
  }

  private send(frame: Buffer): void {
    if (this.state === 'closed') return;
    this.socket.write(frame);
    if (this.socket.writableLength > MAX_SEND_BACKLOG) this.close('SLOW_READER');
  }

  /** Serves queued requests one after another; at most one runs per connection. */
  private async pump(): Promise<void> {
    if (this.pumping) return;
    this.pumping = true;
    try {
      while (this.queue.length > 0 && this.state === 'serving' && this.file) {
        const file = this.file;
        const index = this.queue[0]!;
        const length = pieceLength(file.manifest, index);
        if (this.server.limiter) await this.server.limiter.take(length);
        if (this.state !== 'serving' || this.queue[0] !== index) continue; // closed or cancelled meanwhile
        this.queue.shift();
        const source = file.source;
        if (!source.has(index)) {
          this.send(encodeReject(index, RejectReason.NOT_AVAILABLE));
          continue;
        }
        const frame = this.frameFor(index, length);
        try {
          await source.readInto(index, frame.subarray(PIECE_FRAME_HEADER_BYTES));
        } catch (err) {
          if (this.file?.source === source) this.close('SOURCE_FAILED', true, (err as Error).message);
          break;
        }
        if (this.state !== 'serving') break;
        // Once the kernel has the bytes, the frame can carry the next piece.
        this.socket.write(frame, (err) => {
          if (!err && frame.length === FULL_FRAME_BYTES && this.spareFrames.length < SPARE_FRAMES) this.spareFrames.push(frame);
        });
        file.piecesServed++;
        file.bytesServed += length;
        if (this.socket.writableLength > SEND_BUFFER_LIMIT) await this.drained();
      }
    } finally {
      this.pumping = false;
    }
  }

  /** A PIECE frame for `length` bytes of piece `index`: a spare one if it is a full piece. */
  private frameFor(index: number, length: number): Buffer {
    const spare = length === PIECE_SIZE ? this.spareFrames.pop() : undefined;
    if (!spare) return allocPieceFrame(index, length);
    writePieceFrameHeader(spare, index);
    return spare;
  }

  private drained(): Promise<void> {
    return new Promise((resolve) => {
      if (this.socket.destroyed) return resolve();
      const done = (): void => {
        this.socket.off('drain', done);
        this.socket.off('close', done);
        resolve();
      };
      this.socket.on('drain', done);
      this.socket.on('close', done);
    });
  }
}
