/**
 * Downloads one file from its swarm.
 *
 * Who owns what:
 * - One `Download` per file. It owns the PieceStore (the `.part` file, its progress
 *   record, the whole-file SHA-1 worker), the Scheduler (availability, requests in
 *   flight, pieces being checked, held pieces, bad senders per piece), the PeerTable
 *   (known peers: connection, connect failures and back-off, ban), the optional
 *   download rate limiter, and a watchdog timer (rate samples, stalled peers,
 *   reconnects, peer refresh, the overall no-progress deadline).
 * - One `PeerConnection` per connected peer: socket, decoder, the peer's bitfield,
 *   our requests in flight to it, its count of bad pieces.
 * - The Scheduler decides which piece goes to which peer; the Download sends, has each
 *   piece checked off the main thread (piece-verifier.ts: SHA-1 once per piece, before
 *   writing), stores, cancels endgame duplicates, penalises (a bad piece halves the
 *   peer's request window and is never asked of it again; MAX_BAD_PIECES_PER_PEER bad
 *   pieces drop and ban it) and finishes.
 * - Piece bytes live in the shared piece arena (piece-buffers.ts) from the socket to
 *   the disk: whoever drops a piece releases its slot.
 *
 * Promises: the file at the returned path is byte-identical to the manifest's (every
 * piece verified, then the whole-file SHA-1), or `start()` rejects with a
 * DownloadError code. A peer that dies costs only its requests in flight. An
 * interrupted download resumes from `.part`. When no peer supplies any piece for
 * `stallTimeoutMs`, the download fails with DOWNLOAD_STALLED (or NO_PEERS).
 * Memory: at most MAX_PIECES_IN_MEMORY pieces requested, being checked or written,
 * and the whole-file hash's loans (see `fill`), never the file.
 */
import { EventEmitter } from 'node:events';
import { pieceLength, type FileManifest, type SwarmPeer } from '../wire/manifest.js';
import { RejectReason } from '../wire/peer-frames.js';
import { PeerConnection, type PeerCloseCode } from './peer-connection.js';
import type { PeerServer } from './peer-server.js';
import { asDownloadError, DownloadError } from './download-error.js';
import { releasePieceBuffer } from './piece-buffers.js';
import { PeerTable, type KnownPeer } from './peer-table.js';
import { PieceStore } from './piece-store.js';
import { verifyPiece } from './piece-verifier.js';
import { RateLimiter, RateMeter } from './rate-limiter.js';
import { Scheduler } from './scheduler.js';

export { DownloadError, type DownloadErrorCode } from './download-error.js';
export { MAX_CONNECT_ATTEMPTS, MAX_PEERS, RECONNECT_BASE_DELAY_MS } from './peer-table.js';

/** Bad pieces after which a peer is dropped and banned for this download. */
export const MAX_BAD_PIECES_PER_PEER = 3;
/** Default time without any new piece before the download gives up. */
export const DEFAULT_STALL_TIMEOUT_MS = 60_000;
/** A peer with requests in flight that sends nothing for this long is dropped. */
export const PEER_STALL_TIMEOUT_MS = 20_000;
export const WATCHDOG_INTERVAL_MS = 250;
/** Regular peer-list refresh, and the quickest one when starving. */
export const PEER_REFRESH_INTERVAL_MS = 30_000;
export const PEER_REFRESH_MIN_INTERVAL_MS = 2_000;
/**
 * Pieces requested, being checked or being written, over all peers: no new request goes
 * out past this. It bounds memory (16 MiB) and fits in the shared piece arena.
 */
export const MAX_PIECES_IN_MEMORY = 32;
/** Window of the bytesPerSecond figure. */
export const RATE_WINDOW_MS = 3_000;

export interface DownloadOptions {
  readonly manifest: FileManifest;
  readonly peers: readonly SwarmPeer[];
  readonly ticket: string;
  /** A directory (the file keeps its manifest name) or a file path. */
  readonly destination: string;
  /** Our own peer address: never connected to. */
  readonly self?: { readonly host: string; readonly port: number };
  /** Download cap in bytes/s. */
  readonly maxDownloadRate?: number;
  /** Asked for fresh swarm peers periodically and when the known ones run dry. */
  readonly refreshPeers?: () => Promise<SwarmPeer[]>;
  /** If given, pieces are served to others while downloading, and the file after. */
  readonly peerServer?: PeerServer;
  readonly stallTimeoutMs?: number;
}

export interface DownloadProgress {
  readonly piecesDone: number;
  readonly pieceCount: number;
  readonly bytesDone: number;
  readonly bytesPerSecond: number;
  /** Peers connected and past the handshake. */
  readonly peers: number;
}

/**
 * Events: 'piece' (index, fromPeer: SwarmPeer), 'first-piece' (once the store holds
 * any piece, also at start when resuming), 'resumed' (piecesDone), 'peer-dropped'
 * (peer, code, detail), 'bad-piece' (index, peer), 'done' (path), 'error' (DownloadError;
 * only emitted if someone listens, and not for abort()).
 */
export class Download extends EventEmitter {
  private readonly peers: PeerTable;
  private readonly limiter: RateLimiter | null;
  private readonly stallTimeoutMs: number;
  private store: PieceStore | null = null;
  private scheduler: Scheduler | null = null;
  private watchdog: NodeJS.Timeout | null = null;
  private started = false;
  private settled = false;
  private finishing = false;
  private firstPieceSent = false;
  private refreshing = false;
  private lastRefreshAt = 0;
  private lastProgressAt = Date.now();
  private readonly received = new RateMeter(RATE_WINDOW_MS);
  private readonly pendingWrites = new Set<Promise<void>>();
  /** Pieces received and not yet judged by the verifier. */
  private verifying = 0;
  private settle: { resolve: (path: string) => void; reject: (err: DownloadError) => void } | null = null;
  private readonly result: Promise<string>;
  private opened!: () => void;
  /** Resolves once the `.part` file is open and what it already holds is known (progress() counts it), or the download ended. */
  readonly ready = new Promise<void>((resolve) => (this.opened = resolve));

  constructor(readonly options: DownloadOptions) {
    super();
    this.limiter = options.maxDownloadRate ? new RateLimiter(options.maxDownloadRate) : null;
    // A tight rate cap must not look like a stall: allow a few pieces' worth of time.
    const slowest = options.maxDownloadRate ? (4 * options.manifest.pieceSize * 1000) / options.maxDownloadRate : 0;
    this.stallTimeoutMs = options.stallTimeoutMs ?? Math.max(DEFAULT_STALL_TIMEOUT_MS, slowest);
    this.result = new Promise<string>((resolve, reject) => (this.settle = { resolve, reject }));
    this.result.catch(() => undefined); // callers get it from start()
    this.peers = new PeerTable(options.self);
    this.peers.add(options.peers);
  }

  /** Runs the download; resolves with the final path. */
  start(): Promise<string> {
    if (this.started) return Promise.reject(new DownloadError('ALREADY_STARTED', 'start() was already called'));
    this.started = true;
    void this.run();
    return this.result;
  }

  /**
   * Stops; start() rejects with ABORTED once progress is recorded for a later resume.
   * No effect once every piece has arrived and the file is being finished.
   */
  abort(): void {
    if (this.finishing) return;
    void this.fail(new DownloadError('ABORTED', 'download aborted'));
  }

  progress(): DownloadProgress {
    return {
      piecesDone: this.store?.piecesDone ?? 0,
      pieceCount: this.scheduler?.pieceCount ?? this.options.manifest.pieceHashes.length,
      bytesDone: this.store?.bytesDone ?? 0,
      bytesPerSecond: this.received.bytesPerSecond(Date.now()),
      peers: this.peers.ready().length,
    };
  }

  private async run(): Promise<void> {
    const { manifest, peerServer } = this.options;
    try {
      this.store = await PieceStore.open(manifest, this.options.destination);
    } catch (err) {
      this.opened();
      return this.fail(asDownloadError(err));
    }
    this.opened();
    if (this.settled) {
      await this.store.close();
      return;
    }
    const store = this.store;
    store.on('hash-loans', () => this.fill());
    this.scheduler = new Scheduler(store.pieceCount, (i) => store.has(i));
    if (store.piecesDone > 0) {
      this.emit('resumed', store.piecesDone);
      this.noteFirstPiece();
    }
    try {
      if (peerServer) await peerServer.share(manifest, store);
    } catch (err) {
      return this.fail(asDownloadError(err));
    }
    if (store.complete) return this.complete();
    this.lastProgressAt = Date.now();
    this.watchdog = setInterval(() => this.tick(), WATCHDOG_INTERVAL_MS);
    this.connectMore(Date.now());
    if (this.peers.size === 0) this.maybeRefresh(Date.now(), true);
  }

  // ------------------------------------------------------------- peers

  private connectMore(now: number): void {
    if (this.settled || this.finishing) return;
    for (const known of this.peers.toConnect(now)) this.connect(known);
  }

  private connect(known: KnownPeer): void {
    const store = this.store!;
    const connection = new PeerConnection(known.peer, {
      fileId: this.options.manifest.sha1,
      ticket: this.options.ticket,
      pieceCount: store.pieceCount,
      limiter: this.limiter,
    });
    known.connection = connection;
    connection.on('ready', () => {
      known.failures = 0;
      this.scheduler!.addPeer(connection);
      this.fill();
    });
    connection.on('have', (index: number) => {
      this.scheduler!.addHave(index);
      this.fill();
    });
    connection.on('piece', (index: number, data: Buffer) => this.onPiece(connection, index, data));
    connection.on('reject', (index: number, reason: RejectReason) => {
      this.scheduler!.requestEnded(index);
      if (reason === RejectReason.NOT_AVAILABLE) this.scheduler!.removeHave(index);
      else connection.capacity = Math.max(1, connection.capacity - 1);
      this.fill();
    });
    connection.on('closed', (code: PeerCloseCode, detail: string) => this.onClosed(known, connection, code, detail));
    connection.connect();
  }

  private onClosed(known: KnownPeer, connection: PeerConnection, code: PeerCloseCode, detail: string): void {
    const scheduler = this.scheduler!;
    for (const index of connection.inflight) scheduler.requestEnded(index);
    if (connection.bits) scheduler.removePeer(connection);
    this.peers.closed(known, code, Date.now());
    if (code === 'DOWNLOAD_ENDED') return;
    this.emit('peer-dropped', known.peer, code, detail);
    this.fill();
  }

  private maybeRefresh(now: number, starving: boolean): void {
    const refresh = this.options.refreshPeers;
    if (!refresh || this.refreshing || this.settled) return;
    const interval = starving ? PEER_REFRESH_MIN_INTERVAL_MS : PEER_REFRESH_INTERVAL_MS;
    if (now - this.lastRefreshAt < interval) return;
    this.refreshing = true;
    this.lastRefreshAt = now;
    refresh()
      .then((list) => {
        if (this.settled) return;
        this.peers.add(list);
        this.connectMore(Date.now());
      })
      .catch(() => undefined) // a tracker hiccup: keep going with the peers we know
      .finally(() => {
        this.refreshing = false;
      });
  }

  // ------------------------------------------------------------- pieces

  /**
   * Sends new requests, keeping the pieces in memory (asked for, being checked or
   * written) under MAX_PIECES_IN_MEMORY, and within the loans of the whole-file hash
   * (scheduler.ts `assignWithinLoans`).
   */
  private fill(): void {
    if (this.settled || this.finishing) return;
    const ready = this.peers.ready();
    let pending = this.verifying;
    for (const connection of ready) pending += connection.load;
    const scheduler = this.scheduler!;
    const room = { memory: MAX_PIECES_IN_MEMORY - pending - this.pendingWrites.size, pending, loans: this.store!.hashLoans };
    for (const { peer, index } of scheduler.assignWithinLoans(ready, room)) {
      if (!peer.request(index)) scheduler.requestEnded(index);
    }
  }

  /**
   * A piece arrived: checked off the main thread (piece-verifier.ts), then stored. While
   * it is checked, nobody is asked for it (scheduler: checking).
   */
  private onPiece(connection: PeerConnection, index: number, data: Buffer): void {
    const scheduler = this.scheduler!;
    const { manifest } = this.options;
    scheduler.requestEnded(index);
    if (this.settled || scheduler.isHeld(index) || data.length !== pieceLength(manifest, index)) {
      const duplicate = this.settled || scheduler.isHeld(index);
      releasePieceBuffer(data);
      if (!duplicate) this.penalise(connection, index);
      return this.fill();
    }
    this.verifying++;
    scheduler.setChecking(index, true);
    void verifyPiece(data, manifest.pieceHashes[index]!).then((matches) => {
      this.verifying--;
      scheduler.setChecking(index, false);
      if (this.settled || scheduler.isHeld(index)) {
        releasePieceBuffer(data); // an endgame duplicate that was checked meanwhile
      } else if (matches) {
        this.accept(connection, index, data); // the store owns `data` now
      } else {
        releasePieceBuffer(data);
        this.penalise(connection, index);
      }
      this.fill();
    });
  }

  private penalise(connection: PeerConnection, index: number): void {
    connection.badPieces++;
    connection.capacity = Math.max(1, connection.capacity >> 1);
    this.scheduler!.exclude(index, connection.id);
    this.emit('bad-piece', index, connection.peer);
    if (connection.badPieces >= MAX_BAD_PIECES_PER_PEER) {
      connection.close('BAD_PIECES', `${connection.badPieces} pieces failed their SHA-1`);
    }
  }

  private accept(connection: PeerConnection, index: number, data: Buffer): void {
    const scheduler = this.scheduler!;
    const store = this.store!;
    scheduler.markHeld(index);
    this.lastProgressAt = Date.now();
    this.received.add(data.length);
    for (const other of this.peers.ready()) {
      if (other !== connection && other.isRequesting(index)) {
        other.cancel(index);
        scheduler.requestEnded(index);
      }
    }
    const write = store.writePiece(index, data).then(
      () => {
        if (this.settled) return;
        this.noteFirstPiece();
        this.emit('piece', index, connection.peer);
        if (store.complete) void this.complete();
      },
      (err: unknown) => void this.fail(new DownloadError('STORAGE_FAILED', `writing piece ${index}: ${(err as Error).message}`, { cause: err })),
    );
    this.pendingWrites.add(write);
    void write.finally(() => {
      this.pendingWrites.delete(write);
      this.fill();
    });
  }

  private noteFirstPiece(): void {
    if (this.firstPieceSent) return;
    this.firstPieceSent = true;
    this.emit('first-piece');
  }

  // ------------------------------------------------------------- lifecycle

  private tick(): void {
    if (this.settled || this.finishing) return;
    const now = Date.now();
    this.received.sample(now);

    const ready = this.peers.ready();
    for (const connection of ready) {
      if (connection.load > 0 && now - connection.lastDataAt > PEER_STALL_TIMEOUT_MS) {
        connection.close('STALLED', `nothing received for ${PEER_STALL_TIMEOUT_MS} ms`);
      }
    }
    this.connectMore(now);
    const starving = !this.scheduler!.canProgress(this.peers.ready());
    this.maybeRefresh(now, starving);
    this.fill();

    if (this.peers.allBanned() && !this.refreshing) {
      const name = this.options.manifest.name;
      void this.fail(new DownloadError('BAD_PEERS', `every peer that offered ${name} was dropped for sending pieces that fail their SHA-1: their copies differ from the one shared (changed on their disk since?)`));
      return;
    }
    if (this.peers.allRefusedTicket() && !this.refreshing) {
      void this.fail(new DownloadError('TICKET_REJECTED', 'every peer refused our download ticket'));
      return;
    }
    if (this.peers.exhausted() && !this.options.refreshPeers) {
      void this.fail(new DownloadError('NO_PEERS', `no reachable peer; ${this.scheduler!.remaining} piece(s) missing`));
      return;
    }
    if (now - this.lastProgressAt > this.stallTimeoutMs) {
      const missing = this.scheduler!.remaining;
      const code = ready.length === 0 ? 'NO_PEERS' : 'DOWNLOAD_STALLED';
      const why = ready.length === 0 ? 'no reachable peer' : `${ready.length} connected peer(s) cannot supply them`;
      void this.fail(new DownloadError(code, `no piece arrived for ${this.stallTimeoutMs} ms; ${missing} piece(s) missing, ${why}`));
    }
  }

  private async complete(): Promise<void> {
    if (this.finishing || this.settled) return;
    this.finishing = true;
    this.stop();
    const store = this.store!;
    const { manifest, peerServer } = this.options;
    let path: string;
    try {
      await Promise.all(this.pendingWrites);
      path = await store.finish();
    } catch (err) {
      this.finishing = false;
      return this.fail(asDownloadError(err));
    }
    try {
      // Keep serving, now from the finished file.
      if (peerServer) await peerServer.share(manifest, path);
    } catch {
      peerServer?.unshare(manifest.sha1);
    }
    await store.close().catch(() => undefined);
    if (this.settled) return;
    this.settled = true;
    this.emit('done', path);
    this.settle!.resolve(path);
  }

  private async fail(error: DownloadError): Promise<void> {
    if (this.settled) return;
    this.settled = true;
    this.stop();
    if (this.store) {
      this.options.peerServer?.unshare(this.options.manifest.sha1);
      await Promise.allSettled(this.pendingWrites);
      await this.store.close().catch(() => undefined);
    }
    if (error.code !== 'ABORTED' && this.listenerCount('error') > 0) this.emit('error', error);
    this.settle!.reject(error);
  }

  private stop(): void {
    if (this.watchdog) clearInterval(this.watchdog);
    this.watchdog = null;
    for (const connection of this.peers.connections()) connection.close('DOWNLOAD_ENDED');
  }
}
