/**
 * A tracker process: the ledger on its SQLite log, one HTTP server on its
 * tracker_info.txt address with WebSocket `/client` for clients and `/replicate` for the
 * twin, `GET /health` and `GET /metrics`. It owns the lifecycle: open, serve, stop.
 */
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { join } from 'node:path';
import { WebSocketServer } from 'ws';
import { Ledger, type OpenStats } from '../events/log/ledger.js';
import type { TwinAck } from '../events/replication/protocol.js';
import { MAX_CLIENT_FRAME } from '../wire/client-protocol.js';
import type { TrackerAddress } from '../wire/tracker-info.js';
import { addHealthGauges } from './admin/gauges.js';
import { openTrackerLog } from './admin/startup.js';
import { ClientConnection, SESSION_TTL_MS, TICKET_TTL_MS } from './client-connection.js';
import { loadClusterKeys, type ClusterKeys } from './cluster-keys.js';
import { Executor } from './executor.js';
import { ConnectionGate, CONNECTIONS_CHECK_INTERVAL_MS, DEFAULT_LIMITS, type TrackerLimits } from './limits.js';
import { createLogger, type Logger } from './logger.js';
import { LoginThrottle } from './login-throttle.js';
import { TrackerMetrics } from './metrics.js';
import { Replicator } from './replication-link.js';

export interface TrackerOptions {
  /** This tracker's number: its line in tracker_info.txt, counting from 1. */
  readonly id: number;
  readonly trackers: readonly TrackerAddress[];
  readonly dataDir: string;
  readonly secretFile?: string;
  readonly snapshotEvery?: number;
  readonly log?: Logger;
  /** Where to dial the twin instead of its tracker_info.txt line (a proxy, say). */
  readonly peer?: { readonly host: string; readonly port: number };
  /** Lifetime of download tickets (default TICKET_TTL_MS, flag --ticket-ttl). */
  readonly ticketTtlMs?: number;
  /** Lifetime of sessions from login (default SESSION_TTL_MS, flag --session-ttl). */
  readonly sessionTtlMs?: number;
  /** Connection caps and timeouts (defaults in limits.ts). */
  readonly limits?: Partial<TrackerLimits>;
  /** When the twin acknowledges this tracker's live events (default 'flush', flag --twin-ack). */
  readonly twinAck?: TwinAck;
  /** The twin is lost for good: a log put back by `tracker restore` accepts commands without reaching it (--twin-lost). */
  readonly twinLost?: boolean;
  /** The smallest catch-up of the twin that this tracker's state goes ahead of (default DEFAULT_TWIN_STATE_MIN, flag --twin-state-min). */
  readonly twinStateMin?: number;
}

/** Something that serves WebSocket upgrades on a path, like the replication link. */
export interface UpgradeHandler {
  handleUpgrade(request: IncomingMessage, socket: Duplex, head: Buffer): void;
  status(): unknown;
  /** Why clients are not served now, if they are not (see ClientContext.notServing). */
  notServing(): string | undefined;
  stop(): Promise<void>;
}

export const DB_FILE = 'events.db';

export class Tracker {
  readonly ledger: Ledger;
  readonly executor: Executor;
  readonly keys: ClusterKeys;
  readonly metrics = new TrackerMetrics();
  readonly log: Logger;
  readonly address: TrackerAddress;
  replication: UpgradeHandler | undefined;
  private readonly server: Server;
  private readonly clients = new WebSocketServer({ noServer: true, maxPayload: MAX_CLIENT_FRAME });
  private readonly limits: TrackerLimits;
  private readonly gate: ConnectionGate;
  private readonly throttle = new LoginThrottle();
  private stopping = false;

  private constructor(
    readonly options: TrackerOptions,
    readonly openStats: OpenStats,
    ledger: Ledger,
    keys: ClusterKeys,
    log: Logger,
  ) {
    this.ledger = ledger;
    this.keys = keys;
    this.log = log;
    this.address = options.trackers[options.id - 1]!;
    this.executor = new Executor(ledger);
    ledger.on('durable', (envelopes: { type: string; origin: number }[]) => {
      // Counted per origin and type first: a catch-up batch holds tens of thousands.
      const counts = new Map<number, Map<string, number>>();
      for (const e of envelopes) {
        let types = counts.get(e.origin);
        if (!types) counts.set(e.origin, (types = new Map()));
        types.set(e.type, (types.get(e.type) ?? 0) + 1);
      }
      for (const [origin, types] of counts) for (const [type, n] of types) this.metrics.eventsAppended.inc({ type, origin: String(origin) }, n);
    });
    ledger.on('snapshot', (_at, events: number) => log.info({ events }, 'snapshot taken'));
    let refoldStarted: number | undefined;
    ledger.on('refold-start', (_from, events: number) => {
      refoldStarted ??= performance.now();
      log.info({ events }, `re-folding ${events} events in the background (events arrived that sort before folded ones); commands are served meanwhile`);
    });
    ledger.on('refold', () => {
      if (refoldStarted === undefined) return;
      const ms = Math.round(performance.now() - refoldStarted);
      refoldStarted = undefined;
      log.info({ ms }, `re-fold done in ${ms} ms`);
    });
    ledger.on('twin-state', (taken: boolean, detail: string) => {
      if (taken) log.info({ detail }, `took the twin's state as the fold of the caught-up events (${detail})`);
      else log.warn({ reason: detail }, `did not take the twin's state (${detail}): folding the caught-up events here`);
    });
    ledger.on('snapshot-failed', (message: string) => log.warn({ reason: message }, 'the snapshot worker failed; it starts over with its next job'));
    ledger.on('fatal', (error: unknown) => {
      log.fatal({ err: error }, 'the event log cannot be written; stopping to keep memory and disk in step');
      process.exit(70);
    });
    this.limits = { ...DEFAULT_LIMITS, ...options.limits };
    this.gate = new ConnectionGate(this.limits);
    this.server = createServer({ connectionsCheckingInterval: CONNECTIONS_CHECK_INTERVAL_MS }, (req, res) => this.route(req, res));
    this.gate.attach(this.server);
    this.server.on('upgrade', (req, socket, head) => this.upgrade(req, socket, head));
    this.server.on('clientError', (_error, socket) => socket.destroy());
  }

  /** Opens the log (snapshot + tail) and starts serving. */
  static async start(options: TrackerOptions): Promise<Tracker> {
    const address = options.trackers[options.id - 1];
    if (!address) throw new Error(`tracker ${options.id} is not listed: the tracker list has ${options.trackers.length} tracker(s)`);
    const log = options.log ?? createLogger(`tracker-${options.id}`);
    const newDataDir = !existsSync(options.dataDir);
    mkdirSync(options.dataDir, { recursive: true });
    const keys = loadClusterKeys(options.dataDir, options.secretFile);
    const store = openTrackerLog(options.dataDir, join(options.dataDir, DB_FILE), log); // run lock + start-up check
    store.reserveWal();
    store.checkpointInBackground();
    const ledger = new Ledger(store, { origin: options.id, snapshotEvery: options.snapshotEvery, backgroundSnapshots: true });
    const stats = ledger.open();
    log.info({ dataDir: options.dataDir, events: ledger.current.eventCount, fromSnapshot: stats.snapshotEvents, replayed: stats.replayed, ms: Math.round(stats.ms) }, 'log loaded');
    const tracker = new Tracker(options, stats, ledger, keys, log);
    addHealthGauges(tracker);
    const replicator = replicatorFor(options, ledger, keys, log);
    tracker.replication = replicator;
    tracker.executor.barrier = replicator;
    try {
      await tracker.listen();
    } catch (error) {
      // Nothing was served: a data dir this start made is not left behind.
      await tracker.stop();
      if (newDataDir) rmSync(options.dataDir, { recursive: true, force: true });
      throw error;
    }
    replicator?.start();
    return tracker;
  }

  private listen(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.server.once('error', (error: NodeJS.ErrnoException) => {
        const hint = error.code === 'EADDRINUSE' ? ' (is another tracker already running there?)' : '';
        reject(new Error(`cannot listen on ${this.address.host}:${this.address.port}: ${error.code ?? error.message}${hint}`));
      });
      this.server.listen(this.address.port, this.address.host, () => {
        this.log.info({ host: this.address.host, port: this.address.port, secret: this.keys.source }, `tracker ${this.options.id} listening`);
        resolve();
      });
    });
  }

  health(): Record<string, unknown> {
    const marks: Record<string, number> = {};
    for (const [origin, mark] of this.ledger.originMarks()) marks[origin] = mark.seq;
    const hashed = this.ledger.recentHash();
    return {
      status: 'ok',
      tracker: this.options.id,
      events: this.ledger.current.eventCount,
      originMarks: marks,
      stateHash: hashed.hash,
      // the state hash is of this many events: fewer than `events` when it was reused (see StateHasher.recent)
      stateHashEvents: hashed.eventCount,
      clients: this.clients.clients.size,
      replication: this.replication?.status() ?? null,
    };
  }

  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    for (const ws of this.clients.clients) ws.close(1001, 'tracker shutting down');
    await this.replication?.stop();
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
    await this.ledger.whenDurable();
    await this.ledger.close();
    await this.ledger.store.close();
    this.log.info(`tracker ${this.options.id} stopped`);
  }

  private route(req: IncomingMessage, res: ServerResponse): void {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method === 'GET' && path === '/health') {
      reply(res, 200, 'application/json', JSON.stringify(this.health()));
    } else if (req.method === 'GET' && path === '/metrics') {
      this.metrics.registry.metrics().then(
        (text) => reply(res, 200, this.metrics.registry.contentType, text),
        () => reply(res, 500, 'text/plain', 'metrics unavailable\n'),
      );
    } else {
      reply(res, 404, 'text/plain', 'not found: try /health or /metrics\n');
    }
  }

  private upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    this.gate.started(req.socket);
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/client' && !this.stopping) {
      this.clients.handleUpgrade(req, socket, head, (ws) => {
        new ClientConnection(ws, this.clientContext(), `${req.socket.remoteAddress}:${req.socket.remotePort}`);
      });
    } else if (path === '/replicate' && this.replication && !this.stopping) {
      this.replication.handleUpgrade(req, socket, head);
    } else {
      socket.end('HTTP/1.1 404 Not Found\r\n\r\n');
    }
  }

  private clientContext() {
    return {
      trackerId: this.options.id,
      ledger: this.ledger,
      executor: this.executor,
      keys: this.keys,
      log: this.log,
      metrics: this.metrics,
      clock: Date.now,
      ticketTtlMs: this.options.ticketTtlMs ?? TICKET_TTL_MS,
      sessionTtlMs: this.options.sessionTtlMs ?? SESSION_TTL_MS,
      idleTimeoutMs: this.limits.clientIdleTimeoutMs,
      throttle: this.throttle,
      stopping: () => this.stopping,
      notServing: () => this.replication?.notServing(),
    };
  }
}

/** The replication link to the other tracker of tracker_info.txt, if there is one. */
function replicatorFor(options: TrackerOptions, ledger: Ledger, keys: ClusterKeys, log: Logger): Replicator | undefined {
  const others = options.trackers.filter((t) => t.id !== options.id);
  const twin = others[0];
  if (!twin) return undefined;
  if (others.length > 1) log.warn(`tracker_info.txt lists ${options.trackers.length} trackers; replicating with tracker ${twin.id} only`);
  const dial = options.peer ?? twin;
  return new Replicator({ id: options.id, twin: { id: twin.id, host: dial.host, port: dial.port }, ledger, keys, log, twinAck: options.twinAck, twinLost: options.twinLost, twinStateMin: options.twinStateMin });
}

function reply(res: ServerResponse, status: number, type: string, body: string): void {
  res.writeHead(status, { 'content-type': type }).end(body);
}
