/**
 * The tracker's resource limits against hostile or broken clients, in one place. Every
 * limit is a named default here; the ones an operator may need to change are flags of
 * `tracker start` (see docs/security.md for the table).
 *
 * ConnectionGate owns the TCP connections of the tracker's HTTP server before they are
 * anything else: it turns away connections past the per-address and total caps, and
 * cuts off a connection that has not sent a complete request (a /client or /replicate
 * upgrade, or a GET) within the handshake timeout: a slowloris that opens connections
 * and sends nothing holds them for at most that long. Partial headers are cut off by
 * Node's own headersTimeout, which the tracker sets to the same value.
 */
import type { Server } from 'node:http';
import type { Socket } from 'node:net';

/** Open TCP connections from one IP address (clients, health probes, the twin). */
export const MAX_CONNECTIONS_PER_ADDRESS = 64;
/** Open TCP connections in total. */
export const MAX_CONNECTIONS = 1024;
/** From TCP accept to a complete HTTP request (the WebSocket upgrade, or a GET). */
export const HANDSHAKE_TIMEOUT_MS = 10_000;
/** A client WebSocket that sends nothing (no request, no ping) for this long is closed. */
export const CLIENT_IDLE_TIMEOUT_MS = 120_000;
/** Requests of one client connection handled at once; past it the socket is not read (backpressure). */
export const MAX_PENDING_REQUESTS = 64;
/** Requests read after the socket was paused (the rest of one read), kept in order; beyond, BUSY. */
export const MAX_QUEUED_REQUESTS = 4096;
/** Reply bytes a client may leave unread before its connection is dropped. */
export const MAX_SEND_BACKLOG_BYTES = 8 * 1024 * 1024;
/** How often Node checks headersTimeout (its default, 30 s, would let slow headers linger). */
export const CONNECTIONS_CHECK_INTERVAL_MS = 1_000;

export interface TrackerLimits {
  readonly maxConnectionsPerAddress: number;
  readonly maxConnections: number;
  readonly handshakeTimeoutMs: number;
  readonly clientIdleTimeoutMs: number;
}

export const DEFAULT_LIMITS: TrackerLimits = {
  maxConnectionsPerAddress: MAX_CONNECTIONS_PER_ADDRESS,
  maxConnections: MAX_CONNECTIONS,
  handshakeTimeoutMs: HANDSHAKE_TIMEOUT_MS,
  clientIdleTimeoutMs: CLIENT_IDLE_TIMEOUT_MS,
};

const BUSY_RESPONSE = 'HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: 0\r\n\r\n';

export class ConnectionGate {
  private readonly perAddress = new Map<string, number>();
  private total = 0;
  /** Sockets that have not yet sent a complete request, with their cut-off timers. */
  private readonly waiting = new Map<Socket, NodeJS.Timeout>();
  refused = 0;
  timedOut = 0;

  constructor(private readonly limits: TrackerLimits) {}

  /** Hooks the gate into the server: counts, refuses and times out its connections. */
  attach(server: Server): void {
    server.headersTimeout = this.limits.handshakeTimeoutMs;
    server.requestTimeout = Math.max(this.limits.handshakeTimeoutMs, 1_000);
    server.on('connection', (socket: Socket) => this.admit(socket));
    server.on('request', (req: { socket: Socket }) => this.started(req.socket));
  }

  /** The socket sent a complete request (a GET, or an upgrade about to be handled). */
  started(socket: Socket): void {
    const timer = this.waiting.get(socket);
    if (timer === undefined) return;
    clearTimeout(timer);
    this.waiting.delete(socket);
  }

  private admit(socket: Socket): void {
    const address = socket.remoteAddress ?? 'unknown';
    const mine = this.perAddress.get(address) ?? 0;
    if (mine >= this.limits.maxConnectionsPerAddress || this.total >= this.limits.maxConnections) {
      this.refused += 1;
      socket.on('error', () => undefined);
      socket.end(BUSY_RESPONSE);
      setTimeout(() => socket.destroy(), 1_000).unref();
      return;
    }
    this.perAddress.set(address, mine + 1);
    this.total += 1;
    const timer = setTimeout(() => {
      this.waiting.delete(socket);
      this.timedOut += 1;
      socket.destroy();
    }, this.limits.handshakeTimeoutMs);
    timer.unref();
    this.waiting.set(socket, timer);
    socket.once('close', () => {
      this.started(socket);
      this.total -= 1;
      const left = (this.perAddress.get(address) ?? 1) - 1;
      if (left <= 0) this.perAddress.delete(address);
      else this.perAddress.set(address, left);
    });
  }

  status(): { connections: number; addresses: number; refused: number; timedOut: number } {
    return { connections: this.total, addresses: this.perAddress.size, refused: this.refused, timedOut: this.timedOut };
  }
}
