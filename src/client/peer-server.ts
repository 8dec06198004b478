/**
 * Serves pieces to other peers over TCP (Guarantee 6: only to ticket holders).
 *
 * Owns: the listening socket, one ServedConnection per accepted peer
 * (served-connection.ts), and the table of shared files. A shared file's source
 * (piece-sources.ts) is either a complete file on disk or the PieceStore of a download
 * in progress (a leecher serves what it has and announces each new piece with HAVE).
 *
 * Promises: every connection opens with a HANDSHAKE whose ticket verifies for that
 * file against `publicKeys()`, or gets REJECT and is closed; pieces are read from
 * disk on demand into the outgoing frame (no whole-file buffers); requests are served
 * in order, a few at a time, with socket backpressure and an optional upload rate
 * shared by all connections; bad data from a peer closes that connection only.
 */
import { EventEmitter } from 'node:events';
import type { KeyObject } from 'node:crypto';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import type { FileManifest } from '../wire/manifest.js';
import { RejectReason } from '../wire/peer-frames.js';
import { FileSource, PeerServerError, StoreSource, type PieceSource } from './piece-sources.js';
import { assertValidManifest, type PieceStore } from './piece-store.js';
import { RateLimiter } from './rate-limiter.js';
import { ServedConnection, type ServedCloseCode, type ServingHost, type SharedFile } from './served-connection.js';

export { PeerServerError } from './piece-sources.js';
export {
  CLOSE_GRACE_MS,
  HANDSHAKE_TIMEOUT_MS,
  IDLE_TIMEOUT_MS,
  MAX_QUEUED_REQUESTS,
  MAX_SEND_BACKLOG,
  SEND_BUFFER_LIMIT,
  type ServedCloseCode,
} from './served-connection.js';

export const MAX_CONNECTIONS = 128;
/** Connections from one IP address; more get REJECT(BUSY), so one host cannot take every slot. */
export const MAX_CONNECTIONS_PER_ADDRESS = 32;

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

/**
 * Events: 'peer-closed' ({ code, remote, detail }); 'source-changed' (manifest, path):
 * a shared file was modified on disk and is no longer served (piece-sources.ts).
 */
export class PeerServer extends EventEmitter implements ServingHost {
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

  /**
   * Starts (or switches the source of) serving `manifest`: a complete file's path (with
   * its modification time when it was hashed, if known), or a download's store.
   */
  async share(manifest: FileManifest, source: string | PieceStore, mtimeMs?: number): Promise<void> {
    assertValidManifest(manifest);
    const onChanged = (): void => {
      if (this.files.get(manifest.sha1)?.source !== next) return;
      this.unshare(manifest.sha1);
      this.emit('source-changed', manifest, source);
    };
    const next: PieceSource = typeof source === 'string' ? await FileSource.open(manifest, source, { mtimeMs, onChanged }) : new StoreSource(manifest, source);
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
