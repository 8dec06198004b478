/**
 * The client's link to the trackers. It owns one WebSocket at a time and the requests in
 * flight on it, and promises:
 *
 * - It connects to the first tracker that answers, in tracker_info.txt order.
 * - A dead or silent tracker is noticed within HEARTBEAT_TIMEOUT_MS (WebSocket pings);
 *   the link then moves to the next tracker, resumes the session with its token (no
 *   re-login), and re-sends every request in flight with its original idempotency key,
 *   so a mutating request never applies twice; for RETRY_SPAN_MS after its first
 *   sending, then it fails with NOT_CONFIRMED.
 * - With no tracker reachable, requests fail at once with NO_TRACKER, which says why for
 *   each tracker (no answer, or its refusal: one restored from a backup serves nobody
 *   until it has reached its twin), while it keeps retrying in the background with
 *   backoff; events 'switched', 'down' (with the same reasons), 'up' say so.
 * - A tracker that refuses a request because it is catching up with its twin
 *   (TRACKER_CATCHING_UP) is left for the next one, which holds the same acknowledged
 *   state; the request is retried there ('switched' with reason 'catching-up').
 */
import { EventEmitter } from 'node:events';
import WebSocket from 'ws';
import { MUTATING_OPS, type ArgsOf, type ErrorBody, type Op, type Response } from '../wire/client-protocol.js';
import { idempotencyKey } from '../wire/idempotency-key.js';
import { Silence } from '../wire/silence.js';
import type { TrackerAddress } from '../wire/tracker-info.js';

export const HEARTBEAT_INTERVAL_MS = 250;
export const HEARTBEAT_TIMEOUT_MS = 800;
export const CONNECT_TIMEOUT_MS = 1000;
/** How long a request in flight waits for a tracker to come back before failing. */
export const IN_FLIGHT_GRACE_MS = 10_000;
const BACKOFF_MS = [100, 200, 400, 800, 1600, 2000];
/** A tracker catching up with its twin refuses commands for a moment: retried this often, this far apart. */
export const CATCHING_UP_RETRIES = 10;
export const CATCHING_UP_RETRY_MS = 300;
/**
 * A request is sent again (to the next tracker after a failover, or to one catching up)
 * only within this long of its first sending; later it fails as unconfirmed. So the two
 * trackers' copies of a command sent to both are stamped well within the fold's memory
 * of command keys (COMMAND_MEMORY_MS, 2 minutes), and it applies once.
 */
export const RETRY_SPAN_MS = 45_000;

export class TrackerError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

interface InFlight {
  readonly frame: string;
  readonly resolve: (data: unknown) => void;
  readonly reject: (error: TrackerError) => void;
  readonly op: Op;
  sentAt: number;
  retries: number;
}

export interface Hello {
  readonly tracker: number;
  readonly publicKeys: string[];
  readonly session: { user: string; peer: string } | null;
}

export class TrackerConnection extends EventEmitter {
  private ws: WebSocket | undefined;
  private current = -1;
  private nextId = 1;
  private readonly inFlight = new Map<number, InFlight>();
  private heartbeat: NodeJS.Timeout | undefined;
  private silence: Silence | undefined;
  private closing = false;
  private reconnecting: Promise<void> | undefined;
  private hello: Hello | undefined;
  /** up: hello done; connecting: finding a tracker (requests wait); down: none answered (requests fail fast). */
  private link: 'connecting' | 'up' | 'down' = 'connecting';
  /** Why the link is moving to the next tracker, if not because the current one is gone. */
  private leaving: 'catching-up' | undefined;
  /** Why each tracker (by index) was not taken at its last try. */
  private readonly refusals = new Map<number, string>();
  /** The session token after login; survives tracker switches, cleared by logout. */
  token: string | undefined;

  private readonly retrySpanMs: number;

  constructor(
    private readonly trackers: readonly TrackerAddress[],
    options: { readonly retrySpanMs?: number } = {},
  ) {
    super();
    this.retrySpanMs = options.retrySpanMs ?? RETRY_SPAN_MS;
  }

  /** The tracker in use now, if any. */
  get tracker(): TrackerAddress | undefined {
    return this.link === 'up' ? this.trackers[this.current] : undefined;
  }

  get info(): Hello | undefined {
    return this.hello;
  }

  /** Connects to the first tracker that answers. Rejects with NO_TRACKER if none does. */
  async connect(): Promise<void> {
    const connected = await this.tryAll(0);
    if (this.closing) throw new TrackerError('CLOSED', 'the connection was closed');
    if (!connected) {
      this.link = 'down';
      this.scheduleReconnect();
      throw new TrackerError('NO_TRACKER', this.unreachable());
    }
  }

  /** Sends one request and resolves with its data, or rejects with a TrackerError. */
  request<O extends Op>(op: O, args: ArgsOf<O>): Promise<unknown> {
    const id = this.nextId++;
    const idem = MUTATING_OPS.has(op) ? idempotencyKey() : undefined;
    const frame = JSON.stringify({ id, op, args, idem });
    return new Promise((resolve, reject) => {
      if (this.link === 'down' || this.closing) {
        reject(new TrackerError('NO_TRACKER', this.unreachable()));
        return;
      }
      this.inFlight.set(id, { frame, resolve, reject, op, sentAt: Date.now(), retries: 0 });
      if (this.link === 'up') this.ws!.send(frame);
    }).then((data) => {
      if (op === 'login') this.token = (data as { token: string }).token;
      if (op === 'logout') this.token = undefined;
      return data;
    });
  }

  close(): void {
    this.closing = true;
    this.stopHeartbeat();
    this.ws?.terminate();
    for (const [id, req] of this.inFlight) {
      this.inFlight.delete(id);
      req.reject(new TrackerError('CLOSED', 'the connection was closed'));
    }
  }

  /** "no tracker reachable (host:port: why; ...)": what the last try of each tracker met. */
  private unreachable(): string {
    const why = this.trackers.map((t, i) => `${t.host}:${t.port}: ${this.refusals.get(i) ?? 'not tried yet'}`);
    return `no tracker reachable (${why.join('; ')})`;
  }

  /** Tries every tracker once, starting at index `from`. */
  private async tryAll(from: number): Promise<boolean> {
    for (let i = 0; i < this.trackers.length; i++) {
      const index = (from + i) % this.trackers.length;
      if (this.closing) return false;
      if (await this.open(index)) return true;
    }
    return false;
  }

  private async open(index: number): Promise<boolean> {
    const t = this.trackers[index]!;
    const ws = new WebSocket(`ws://${t.host}:${t.port}/client`, { handshakeTimeout: CONNECT_TIMEOUT_MS, maxPayload: 4 * 1024 * 1024 });
    const failure = await new Promise<string | undefined>((resolve) => {
      ws.once('open', () => resolve(undefined));
      ws.once('error', (error: NodeJS.ErrnoException) => resolve(connectFailure(error)));
      ws.once('close', () => resolve('it closed the connection'));
    });
    if (failure !== undefined || this.closing) {
      if (failure !== undefined) this.refusals.set(index, failure);
      ws.terminate();
      return false;
    }
    const previous = this.current;
    this.ws = ws;
    this.current = index;
    ws.on('message', (data) => this.receive(data.toString()));
    ws.on('pong', () => this.silence?.heard());
    ws.on('close', () => this.lost(ws));
    ws.on('error', () => ws.terminate());
    this.startHeartbeat(ws);
    // This tracker's answer only: one that refuses hello (it does not serve now) is not taken
    // for the tracker before it, whose hello is still in this.hello.
    let hello: Hello | undefined;
    let refusal: unknown;
    try {
      hello = (await this.handshake(ws)) as Hello;
    } catch (error) {
      refusal = error;
      if (error instanceof TrackerError && error.code === 'SESSION_EXPIRED') {
        this.token = undefined;
        this.emit('session-expired');
        hello = (await this.handshake(ws).catch((again: unknown) => {
          refusal = again;
          return undefined;
        })) as Hello | undefined;
      }
    }
    if (!hello || this.closing) {
      if (!hello) this.refusals.set(index, refusal instanceof Error ? refusal.message : 'it did not answer hello');
      ws.terminate();
      return false;
    }
    this.refusals.delete(index);
    this.hello = hello;
    this.link = 'up';
    for (const [id, req] of this.inFlight) {
      if (this.withinRetrySpan(req)) ws.send(req.frame);
      else this.notConfirmed(id, req);
    }
    if (previous !== -1 && previous !== index) this.emit('switched', this.trackers[previous], t, this.leaving ?? 'gone');
    this.leaving = undefined;
    this.emit('up', t);
    return true;
  }

  /** hello on a fresh socket, with the session token if there is one. */
  private handshake(ws: WebSocket): Promise<unknown> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.inFlight.delete(id);
        reject(new TrackerError('TIMEOUT', 'the tracker did not answer hello'));
      }, CONNECT_TIMEOUT_MS * 2);
      const frame = JSON.stringify({ id, op: 'hello', args: this.token ? { token: this.token } : {} });
      this.inFlight.set(id, {
        frame,
        op: 'hello',
        sentAt: Date.now(),
        retries: 0,
        resolve: (data) => (clearTimeout(timer), resolve(data)),
        reject: (e) => (clearTimeout(timer), reject(e)),
      });
      ws.send(frame);
    }).finally(() => this.inFlight.delete(id));
  }

  private receive(text: string): void {
    let response: Response;
    try {
      response = JSON.parse(text) as Response;
    } catch {
      return;
    }
    if (response.id === null) return;
    const id = response.id;
    const req = this.inFlight.get(id);
    if (!req) return;
    // (A hello refused so is that tracker not serving: open() moves on to the next one.)
    if (!response.ok && response.error.code === 'TRACKER_CATCHING_UP' && req.op !== 'hello' && req.retries < CATCHING_UP_RETRIES && this.withinRetrySpan(req)) {
      req.retries += 1; // same frame, same idempotency key: safe to send again
      if (this.trackers.length > 1 && this.ws) {
        // Its twin holds the same acknowledged state: go there, where every request in flight is sent again.
        this.leaving = 'catching-up';
        this.ws.terminate();
        return;
      }
      setTimeout(() => this.inFlight.has(id) && this.link === 'up' && this.ws?.send(req.frame), CATCHING_UP_RETRY_MS).unref();
      return;
    }
    this.inFlight.delete(id);
    if (response.ok) req.resolve(response.data);
    else req.reject(new TrackerError(response.error.code, response.error.message));
  }

  private startHeartbeat(ws: WebSocket): void {
    this.stopHeartbeat();
    const silence = new Silence(HEARTBEAT_INTERVAL_MS, Date.now);
    this.silence = silence;
    this.heartbeat = setInterval(() => {
      if (silence.beat() > HEARTBEAT_TIMEOUT_MS) {
        ws.terminate(); // silent tracker: treat as dead
        return;
      }
      ws.ping();
    }, HEARTBEAT_INTERVAL_MS);
    this.heartbeat.unref();
  }

  private stopHeartbeat(): void {
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.heartbeat = undefined;
  }

  private lost(ws: WebSocket): void {
    if (ws !== this.ws || this.closing) return;
    this.stopHeartbeat();
    this.ws = undefined;
    this.link = 'connecting';
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    if (this.reconnecting || this.closing) return;
    this.reconnecting = (async () => {
      let attempt = 0;
      let announced = false;
      while (!this.closing) {
        if (await this.tryAll(this.current + 1)) break;
        this.link = 'down';
        if (!announced) {
          announced = true;
          this.emit('down', this.unreachable());
        }
        this.failStale();
        await new Promise((r) => setTimeout(r, BACKOFF_MS[Math.min(attempt++, BACKOFF_MS.length - 1)]).unref());
      }
      this.reconnecting = undefined;
    })();
  }

  /** Whether a request may still be sent again (see RETRY_SPAN_MS). */
  private withinRetrySpan(req: InFlight): boolean {
    return Date.now() - req.sentAt <= this.retrySpanMs;
  }

  /** Fails a request the last tracker may have run but never confirmed, and that is past its retry span. */
  private notConfirmed(id: number, req: InFlight): void {
    this.inFlight.delete(id);
    const seconds = Math.round(this.retrySpanMs / 1000);
    req.reject(new TrackerError('NOT_CONFIRMED', `no tracker confirmed the request within ${seconds} s; it may have applied: check before sending it again`));
  }

  /** Requests that waited too long for any tracker give up with NO_TRACKER. */
  private failStale(): void {
    const now = Date.now();
    for (const [id, req] of this.inFlight) {
      if (now - req.sentAt < IN_FLIGHT_GRACE_MS) continue;
      this.inFlight.delete(id);
      req.reject(new TrackerError('NO_TRACKER', `${this.unreachable()}; the request was not confirmed (it may still apply once a tracker is back)`));
    }
  }
}

export type { ErrorBody };

/** Why a connection to a tracker did not open, in words. */
function connectFailure(error: NodeJS.ErrnoException): string {
  if (error.code === 'ECONNREFUSED') return 'connection refused (nothing listens there)';
  if (error.code === 'ETIMEDOUT' || /timed out/i.test(error.message)) return `no answer within ${CONNECT_TIMEOUT_MS} ms`;
  return error.code ?? error.message;
}
