/**
 * Serves pieces to other peers over TCP (Guarantee 6: only to ticket holders).
 *
 * Owns: the listening socket, one ServedConnection per accepted peer, and the table
 * of shared files. A shared file's source is either a complete file on disk or the
 * PieceStore of a download in progress (a leecher serves what it has and announces
 * each new piece with HAVE).
 *
 * Promises: every connection opens with a HANDSHAKE whose ticket verifies for that
 * file against `publicKeys()`, or gets REJECT and is closed; pieces are read from
 * disk on demand into the outgoing frame (no whole-file buffers); requests are served
 * in order, a few at a time, with socket backpressure and an optional upload rate
 * shared by all connections; bad data from a peer closes that connection only.
 */
import { EventEmitter } from 'node:events';
import type { KeyObject } from 'node:crypto';
import { open, type FileHandle } from 'node:fs/promises';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { pieceCount, pieceLength, PIECE_SIZE, type FileManifest } from '../wire/manifest.js';
import {
  allocPieceFrame,
  Bitfield,
  encodeBitfield,
  encodeHave,
  encodeReject,
  FrameDecoder,
  NO_PIECE,
  PIECE_FRAME_HEADER_BYTES,
  RejectReason,
  type PeerMessage,
} from '../wire/peer-frames.js';
import { verifyTicket } from '../wire/ticket.js';
import { assertValidManifest, PieceStore } from './piece-store.js';
import { RateLimiter } from './rate-limiter.js';

export const MAX_CONNECTIONS = 128;
/** Connections from one IP address; more get REJECT(BUSY), so one host cannot take every slot. */
export const MAX_CONNECTIONS_PER_ADDRESS = 32;
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

export interface PeerServerOptions {
  readonly host: string;
  /** 0 picks a free port; see `address()` after `listen()`. */
  readonly port: number;
  /** Trackers' ticket-signing keys; called on every handshake so keys can rotate. */
  readonly publicKeys: () => readonly KeyObject[];
  /** Upload cap in bytes/s shared by all connections. */
  readonly maxUploadRate?: number;
  readonly maxConnections?: number;
  readonly maxConnectionsPerAddress?: number;
}

export interface SharedFileStats {
  readonly fileId: string;
  readonly name: string;
  readonly piecesServed: number;
  readonly bytesServed: number;
  readonly connections: number;
}

export interface PeerServerStats {
  readonly connections: number;
  readonly piecesServed: number;
  readonly bytesServed: number;
  readonly files: readonly SharedFileStats[];
}

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

export class PeerServerError extends Error {
  constructor(
    readonly code: 'SOURCE_MISMATCH' | 'NOT_LISTENING',
    message: string,
  ) {
    super(`${code}: ${message}`);
    this.name = 'PeerServerError';
  }
}

interface PieceSource {
  has(index: number): boolean;
  bitfield(): Buffer;
  readInto(index: number, target: Buffer): Promise<void>;
  retire(): void;
}

interface SharedFile {
  readonly manifest: FileManifest;
  source: PieceSource;
  readonly connections: Set<ServedConnection>;
  piecesServed: number;
  bytesServed: number;
}

/** Events: 'peer-closed' ({ code, remote, detail }). */
export class PeerServer extends EventEmitter {
  private readonly server: Server;
  private readonly files = new Map<string, SharedFile>();
  private readonly connections = new Set<ServedConnection>();
  private readonly sockets = new Set<Socket>(); // including refused ones still draining their REJECT
  /** @internal */ readonly limiter: RateLimiter | null;
  private closing = false;

  constructor(readonly options: PeerServerOptions) {
    super();
    this.limiter = options.maxUploadRate ? new RateLimiter(options.maxUploadRate) : null;
    this.server = createServer((socket) => this.accept(socket));
    this.server.on('error', () => undefined);
  }

  listen(): Promise<{ host: string; port: number }> {
    return new Promise((resolve, reject) => {
      const onError = (err: Error): void => reject(err);
      this.server.once('error', onError);
      this.server.listen(this.options.port, this.options.host, () => {
        this.server.off('error', onError);
        resolve(this.address());
      });
    });
  }

  address(): { host: string; port: number } {
    const info = this.server.address() as AddressInfo | null;
    if (!info) throw new PeerServerError('NOT_LISTENING', 'call listen() first');
    return { host: this.options.host, port: info.port };
  }

  /** Starts (or switches the source of) serving `manifest`: a complete file's path, or a download's store. */
  async share(manifest: FileManifest, source: string | PieceStore): Promise<void> {
    assertValidManifest(manifest);
    const next = typeof source === 'string' ? await FileSource.open(manifest, source) : new StoreSource(manifest, source);
    const existing = this.files.get(manifest.sha1);
    if (existing) {
      const previous = existing.source;
      existing.source = next;
      previous.retire();
      return;
    }
    this.files.set(manifest.sha1, { manifest, source: next, connections: new Set(), piecesServed: 0, bytesServed: 0 });
  }

  /** Stops serving a file and closes the connections fetching it. */
  unshare(fileId: string): void {
    const file = this.files.get(fileId);
    if (!file) return;
    this.files.delete(fileId);
    for (const connection of file.connections) connection.close('UNSHARED');
    file.source.retire();
  }

  isSharing(fileId: string): boolean {
    return this.files.has(fileId);
  }

  stats(): PeerServerStats {
    const files = [...this.files.entries()].map(([fileId, file]) => ({
      fileId,
      name: file.manifest.name,
      piecesServed: file.piecesServed,
      bytesServed: file.bytesServed,
      connections: file.connections.size,
    }));
    return {
      connections: this.connections.size,
      piecesServed: files.reduce((sum, f) => sum + f.piecesServed, 0),
      bytesServed: files.reduce((sum, f) => sum + f.bytesServed, 0),
      files,
    };
  }

  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const connection of this.connections) connection.close('SERVER_CLOSED');
    for (const fileId of [...this.files.keys()]) this.unshare(fileId);
    for (const socket of this.sockets) socket.destroy();
    await closed;
  }

  // ------------------------------------------------ used by ServedConnection

  /** @internal */ lookup(fileId: string): SharedFile | undefined {
    return this.files.get(fileId);
  }

  /** @internal */ forget(connection: ServedConnection, code: ServedCloseCode, detail: string): void {
    this.connections.delete(connection);
    this.emit('peer-closed', { code, remote: connection.remote, detail });
  }

  private accept(socket: Socket): void {
    if (this.closing) {
      socket.destroy();
      return;
    }
    this.sockets.add(socket);
    socket.once('close', () => this.sockets.delete(socket));
    const connection = new ServedConnection(this, socket);
    this.connections.add(connection);
    if (this.connections.size > (this.options.maxConnections ?? MAX_CONNECTIONS)) {
      connection.refuse(RejectReason.BUSY, 'TOO_MANY_CONNECTIONS');
    } else if (this.fromAddress(socket.remoteAddress) > (this.options.maxConnectionsPerAddress ?? MAX_CONNECTIONS_PER_ADDRESS)) {
      connection.refuse(RejectReason.BUSY, 'TOO_MANY_CONNECTIONS');
    }
  }

  private fromAddress(address: string | undefined): number {
    let n = 0;
    for (const c of this.connections) if (c.address === address) n++;
    return n;
  }
}

/** One accepted peer: handshake, then a queue of requests served in order. */
class ServedConnection {
  readonly remote: string;
  readonly address: string | undefined;
  private state: 'handshake' | 'serving' | 'closed' = 'handshake';
  private file: SharedFile | null = null;
  private readonly queue: number[] = [];
  private pumping = false;
  private readonly decoder = new FrameDecoder((message) => this.onMessage(message));
  private readonly handshakeTimer: NodeJS.Timeout;
  private subscribed: PieceStore | null = null;
  private readonly onStorePiece = (index: number): void => this.send(encodeHave(index));

  constructor(
    private readonly server: PeerServer,
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
        const frame = allocPieceFrame(index, length);
        try {
          await source.readInto(index, frame.subarray(PIECE_FRAME_HEADER_BYTES));
        } catch (err) {
          if (this.file?.source === source) this.close('SOURCE_FAILED', true, (err as Error).message);
          break;
        }
        if (this.state !== 'serving') break;
        this.socket.write(frame);
        file.piecesServed++;
        file.bytesServed += length;
        if (this.socket.writableLength > SEND_BUFFER_LIMIT) await this.drained();
      }
    } finally {
      this.pumping = false;
    }
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

/** A complete file on disk; one handle shared by all its connections. */
class FileSource implements PieceSource {
  private reads = 0;
  private retired = false;
  private readonly bits: Buffer;

  private constructor(
    private readonly manifest: FileManifest,
    private readonly handle: FileHandle,
  ) {
    this.bits = Bitfield.full(pieceCount(manifest.size, manifest.pieceSize)).bytes;
  }

  static async open(manifest: FileManifest, path: string): Promise<FileSource> {
    const handle = await open(path, 'r');
    const { size } = await handle.stat();
    if (size !== manifest.size) {
      await handle.close();
      throw new PeerServerError('SOURCE_MISMATCH', `${path} is ${size} bytes, manifest says ${manifest.size}`);
    }
    return new FileSource(manifest, handle);
  }

  has(): boolean {
    return true;
  }

  bitfield(): Buffer {
    return this.bits;
  }

  async readInto(index: number, target: Buffer): Promise<void> {
    if (this.retired) throw new Error('source no longer shared');
    this.reads++;
    try {
      const position = index * this.manifest.pieceSize;
      let filled = 0;
      while (filled < target.length) {
        const { bytesRead } = await this.handle.read(target, filled, target.length - filled, position + filled);
        if (bytesRead === 0) throw new Error(`file shorter than its manifest at ${position + filled}`);
        filled += bytesRead;
      }
    } finally {
      this.reads--;
      if (this.retired && this.reads === 0) void this.handle.close().catch(() => undefined);
    }
  }

  retire(): void {
    if (this.retired) return;
    this.retired = true;
    if (this.reads === 0) void this.handle.close().catch(() => undefined);
  }
}

/** The store of a download in progress (owned by the Download, not by us). */
class StoreSource implements PieceSource {
  constructor(
    private readonly manifest: FileManifest,
    readonly store: PieceStore,
  ) {
    if (store.manifest.sha1 !== manifest.sha1) throw new PeerServerError('SOURCE_MISMATCH', 'the store holds another file');
  }

  has(index: number): boolean {
    return this.store.has(index);
  }

  bitfield(): Buffer {
    return this.store.bitfield();
  }

  async readInto(index: number, target: Buffer): Promise<void> {
    await this.store.readPiece(index, target);
  }

  retire(): void {
    // The Download closes its store.
  }
}
