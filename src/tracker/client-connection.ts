/**
 * One client's WebSocket on a tracker. It owns the connection's session binding and
 * turns each parsed request into a command (through the executor) or a query (on the
 * folded state), answering every request with exactly one response. Bad input gets a
 * clear error; a frame that is not even a request closes the connection.
 */
import type { WebSocket } from 'ws';
import {
  checkId,
  downloadInfo,
  listFiles,
  listGroups,
  listRequests,
  sessionExpired,
  unknownUser,
  type Command,
  type Envelope,
  type QueryResult,
  type Rejection,
} from '../events/index.js';
import { parseHostPort } from '../wire/tracker-info.js';
import { MUTATING_OPS, parseRequest, type ArgsOf, type ErrorBody, type Request, type Response } from '../wire/client-protocol.js';
import { encodePublicKey, signTicket } from '../wire/ticket.js';
import { retryDerived, type ClusterKeys } from './cluster-keys.js';
import type { Executor, Outcome, Submission } from './executor.js';
import type { Ledger } from '../events/log/ledger.js';
import { MAX_PENDING_REQUESTS, MAX_QUEUED_REQUESTS, MAX_SEND_BACKLOG_BYTES } from './limits.js';
import type { Logger } from './logger.js';
import type { LoginThrottle } from './login-throttle.js';
import type { TrackerMetrics } from './metrics.js';
import { hashPassword, SALT_BYTES, verifyPassword } from './passwords.js';
import { sessionIdFor, sessionOf, tokenFor } from './session-tokens.js';

/** How long a download ticket lets its holder open new connections to peers (flag --ticket-ttl). */
export const TICKET_TTL_MS = 15 * 60 * 1000;
/** How long a session lives after its login (flag --session-ttl); then resume and use are refused. */
export const SESSION_TTL_MS = 7 * 24 * 60 * 60 * 1000;

export interface ClientContext {
  readonly trackerId: number;
  readonly ledger: Ledger;
  readonly executor: Executor;
  readonly keys: ClusterKeys;
  readonly log: Logger;
  readonly metrics: TrackerMetrics;
  readonly clock: () => number;
  readonly ticketTtlMs: number;
  readonly sessionTtlMs: number;
  /** A connection that sends nothing for this long is closed. */
  readonly idleTimeoutMs: number;
  readonly throttle: LoginThrottle;
  /** True while the tracker shuts down: dropped connections are moving, not lost. */
  readonly stopping: () => boolean;
  /**
   * Why this tracker serves no client now, if it does not: a log put back by `tracker
   * restore` that has not reached its twin knows neither the users, groups and sessions
   * made since the backup nor whether they exist, so it answers nothing from that state.
   */
  readonly notServing: () => string | undefined;
}

interface Bound {
  readonly id: string;
  readonly user: string;
  /** The account the session acts as: if another takes the name (a partition healing), the session is void. */
  readonly account: string | undefined;
  readonly peer: string;
  epoch: number;
}

/** A refusal on its way to the client as one error response. */
class Refusal extends Error {
  constructor(readonly body: ErrorBody) {
    super(body.message);
  }
}

const refuse = (code: string, message: string): never => {
  throw new Refusal({ code, message });
};
const refused = (r: Rejection): never => refuse(r.code, r.message);

export class ClientConnection {
  private session: Bound | undefined;
  /** Requests being handled now (bounded by MAX_PENDING_REQUESTS), and those read while paused. */
  private pending = 0;
  private readonly queued: Request[] = [];
  private lastHeard = Date.now();
  private idleTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly ws: WebSocket,
    private readonly ctx: ClientContext,
    private readonly remote: string,
  ) {
    ctx.metrics.clientsConnected.inc();
    ws.on('message', (data, isBinary) => this.receive(isBinary ? undefined : data.toString()));
    ws.on('ping', () => (this.lastHeard = Date.now()));
    ws.on('pong', () => (this.lastHeard = Date.now()));
    ws.on('error', (error) => ctx.log.debug({ remote, err: error.message }, 'client connection error'));
    ws.on('close', () => this.closed());
    this.armIdleTimer(ctx.idleTimeoutMs);
  }

  /** The client's IP address, without the port: what login throttling counts by. */
  private get address(): string {
    return this.remote.slice(0, Math.max(0, this.remote.lastIndexOf(':')));
  }

  private armIdleTimer(ms: number): void {
    this.idleTimer = setTimeout(() => {
      const quiet = Date.now() - this.lastHeard;
      if (quiet < this.ctx.idleTimeoutMs) return this.armIdleTimer(this.ctx.idleTimeoutMs - quiet);
      this.ctx.log.info({ remote: this.remote, idleMs: quiet }, 'closing an idle client connection');
      this.ws.close(1001, 'idle');
      setTimeout(() => this.ws.terminate(), 1_000).unref();
    }, ms);
    this.idleTimer.unref();
  }

  private receive(text: string | undefined): void {
    this.lastHeard = Date.now();
    const parsed = text === undefined ? undefined : parseRequest(text);
    if (!parsed || !parsed.ok) {
      const error = parsed?.error ?? { code: 'BAD_REQUEST', message: 'messages must be JSON text frames' };
      this.send({ id: parsed?.id ?? null, ok: false, error });
      if (!parsed || parsed.fatal) {
        this.ctx.log.warn({ remote: this.remote, reason: error.message }, 'closing client connection after a broken frame');
        this.ws.close(1008, 'broken frame');
      }
      return;
    }
    // Backpressure: past MAX_PENDING_REQUESTS the socket is not read until replies go out.
    // Frames of a chunk already read still arrive after pause(): they wait in `queued`
    // (bounded by one socket read); should that overflow anyway, they are answered BUSY.
    if (this.pending >= MAX_PENDING_REQUESTS) {
      if (this.queued.length >= MAX_QUEUED_REQUESTS) {
        const error = { code: 'BUSY', message: `too many requests at once on one connection; wait for replies`, retryAfterMs: 100 };
        this.send({ id: parsed.request.id, ok: false, error });
        return;
      }
      this.queued.push(parsed.request);
      this.ws.pause();
      return;
    }
    this.start(parsed.request);
  }

  private start(request: Request): void {
    this.pending += 1;
    if (this.pending >= MAX_PENDING_REQUESTS) this.ws.pause();
    void this.handle(request).finally(() => {
      this.pending -= 1;
      const next = this.queued.shift();
      if (next) this.start(next);
      else if (this.pending < MAX_PENDING_REQUESTS && this.ws.isPaused) this.ws.resume();
    });
  }

  private async handle(request: Request): Promise<void> {
    if (MUTATING_OPS.has(request.op) && (await this.abandoned())) {
      this.ctx.log.info({ remote: this.remote, op: request.op }, 'not running a command from a connection its client had closed (it sends it again to the twin)');
      return;
    }
    const started = performance.now();
    let response: Response;
    try {
      response = { id: request.id, ok: true, data: await this.dispatch(request, { idem: request.idem, readAt: started }) };
    } catch (error) {
      if (!(error instanceof Refusal)) this.ctx.log.error({ op: request.op, err: error }, 'request failed');
      const body = error instanceof Refusal ? error.body : { code: 'INTERNAL', message: 'the tracker failed to handle this request; try again' };
      response = { id: request.id, ok: false, error: body };
    }
    this.ctx.metrics.commands.inc({ op: request.op, outcome: response.ok ? 'ok' : response.error.code });
    this.ctx.metrics.commandSeconds.observe({ op: request.op }, (performance.now() - started) / 1000);
    this.send(response);
  }

  /**
   * The client closed this connection before this tracker read the request on it: it
   * gave the tracker up (silent past its heartbeat, e.g. stalled) and sends the request
   * again to the twin, which runs it. Running this copy too would apply it twice (the
   * twin's copy is not here yet to be found by its idempotency key). A socket's close
   * is read with the bytes before it, so one turn of the event loop shows it.
   */
  private async abandoned(): Promise<boolean> {
    await new Promise<void>((resolve) => setImmediate(resolve));
    return this.ws.readyState !== this.ws.OPEN;
  }

  private send(response: Response): void {
    if (this.ws.readyState !== this.ws.OPEN) return;
    this.ws.send(JSON.stringify(response));
    if (this.ws.bufferedAmount > MAX_SEND_BACKLOG_BYTES) {
      this.ctx.log.warn({ remote: this.remote, unread: this.ws.bufferedAmount }, 'dropping a client that does not read its replies');
      this.ws.terminate();
    }
  }

  private dispatch(request: Request, sent: Submission): Promise<unknown> | unknown {
    const { args } = request;
    const notServing = this.ctx.notServing();
    if (notServing !== undefined && request.op !== 'ping') refuse('TRACKER_CATCHING_UP', notServing);
    switch (request.op) {
      case 'hello':
        return this.hello(request.args);
      case 'ping':
        return {};
      case 'create_user':
        return this.createUser(request.args, sent);
      case 'login':
        return this.login(request.args, sent);
      case 'logout':
        return this.logout(sent);
      case 'create_group':
      case 'join_group':
      case 'leave_group': {
        const { group } = request.args;
        return this.run({ type: request.op, data: { actor: this.actor().user, group } }, sent);
      }
      case 'accept_request':
      case 'reject_request': {
        const { group, user } = request.args;
        return this.run({ type: request.op, data: { actor: this.actor().user, group, user } }, sent);
      }
      case 'upload_file': {
        const { user, peer } = this.actor();
        return this.run({ type: 'upload_file', data: { ...request.args, actor: user, peer } }, sent);
      }
      case 'stop_share':
      case 'join_swarm': {
        const { user, peer } = this.actor();
        const { group, name } = request.args;
        return this.run({ type: request.op, data: { actor: user, peer, group, name } }, sent);
      }
      case 'list_groups':
        return this.read(() => ({ ok: true, value: listGroups(this.ctx.ledger.current, this.actor().user) }));
      case 'list_requests':
        return this.read(() => listRequests(this.ctx.ledger.current, this.actor().user, request.args.group));
      case 'list_files':
        return this.read(() => listFiles(this.ctx.ledger.current, this.actor().user, request.args.group));
      case 'download_file':
        return this.download(request.args);
      default: {
        const unknown: never = request;
        return refuse('BAD_REQUEST', `unknown operation ${(unknown as { op: string }).op}; args ${JSON.stringify(args)}`);
      }
    }
  }

  private async hello({ token }: ArgsOf<'hello'>): Promise<unknown> {
    const info = { tracker: this.ctx.trackerId, publicKeys: [encodePublicKey(this.ctx.keys.ticketPublicKey)] };
    if (token === undefined) return { ...info, session: null };
    const id = sessionOf(this.ctx.keys.sessionKey, token);
    const known = id === undefined ? undefined : this.ctx.ledger.current.sessions.get(id);
    if (id === undefined || !known) return refuse('SESSION_EXPIRED', 'your session has ended; login again');
    const now = this.ctx.clock();
    if (sessionExpired(known, now, this.ctx.sessionTtlMs)) return this.expire(id, now);
    const outcome = await this.ctx.executor.execute({ type: 'resume_session', data: { session: id, now, maxAgeMs: this.ctx.sessionTtlMs } });
    const event = this.outcomeEvents(outcome)[0];
    const epoch = event?.type === 'session_resumed' ? (JSON.parse(event.data) as { epoch: number }).epoch : known.epoch;
    this.session = { id, user: known.user, account: this.ctx.ledger.current.users.get(known.user)?.account, peer: known.peer, epoch };
    return { ...info, session: { user: known.user, peer: known.peer } };
  }

  private async createUser({ user, password }: ArgsOf<'create_user'>, sent: Submission): Promise<unknown> {
    if (await this.ctx.executor.previous(sent.idem)) return { user };
    const bad = checkId('user id', user);
    if (bad) refuse('INVALID_ARGUMENT', bad);
    if (this.ctx.ledger.current.users.has(user)) refuse('USER_EXISTS', `user ${user} already exists; pick another name, or login`);
    if (password.length === 0) refuse('INVALID_ARGUMENT', 'the password must not be empty');
    // Both trackers running this command (a retry) must make one account: one salt.
    const passwordHash = await hashPassword(password, sent.idem === null ? undefined : retryDerived(this.ctx.keys, 'salt', sent.idem, SALT_BYTES));
    this.outcomeEvents(await this.ctx.executor.execute({ type: 'create_user', data: { user, passwordHash } }, sent));
    return { user };
  }

  private async login({ user, password, peer }: ArgsOf<'login'>, sent: Submission): Promise<unknown> {
    if (this.session) refuse('ALREADY_LOGGED_IN', `you are already logged in as ${this.session.user}; logout first`);
    if (!parseHostPort(peer)) refuse('INVALID_ARGUMENT', `peer address must be IP:PORT, got "${peer}"`);
    const wait = this.ctx.throttle.attempt(user, this.address);
    if (wait > 0) {
      const seconds = Math.ceil(wait / 1000);
      throw new Refusal({ code: 'TOO_MANY_ATTEMPTS', message: `too many failed logins for ${user} or from your address; try again in ${seconds} s`, retryAfterMs: wait });
    }
    const known = this.ctx.ledger.current.users.get(user);
    if (!known) {
      this.ctx.throttle.failed(user, this.address);
      return refused(unknownUser(user));
    }
    if (!(await verifyPassword(password, known.passwordHash))) {
      this.ctx.throttle.failed(user, this.address);
      refuse('WRONG_PASSWORD', `wrong password for ${user}; try again`);
    }
    this.ctx.throttle.succeeded(user, this.address);
    const session = sessionIdFor(this.ctx.keys, sent.idem);
    const [started] = this.outcomeEvents(await this.ctx.executor.execute({ type: 'login', data: { user, session, peer, account: known.account } }, sent));
    const ran = started?.type === 'session_started' ? (JSON.parse(started.data) as { session: string; user: string }) : undefined;
    if (ran?.session !== session || ran.user !== user) refuse('INVALID_ARGUMENT', 'this idempotency key was used for another command; send the login with a new one');
    this.session = { id: session, user, account: known.account, peer, epoch: 0 };
    return { user, token: tokenFor(this.ctx.keys.sessionKey, session) };
  }

  private async logout(sent: Submission): Promise<unknown> {
    if (await this.ctx.executor.previous(sent.idem)) {
      this.session = undefined;
      return {};
    }
    const { id } = this.actor();
    this.outcomeEvents(await this.ctx.executor.execute({ type: 'logout', data: { session: id } }, sent));
    this.session = undefined;
    return {};
  }

  private async run(command: Command, sent: Submission): Promise<unknown> {
    this.outcomeEvents(await this.ctx.executor.execute(command, sent));
    return {};
  }

  private async read<T>(query: () => QueryResult<T>): Promise<T> {
    this.actor();
    await this.ctx.executor.settled();
    const result = query();
    return result.ok ? result.value : refused(result.rejection);
  }

  private async download({ group, name }: ArgsOf<'download_file'>): Promise<unknown> {
    const { user, peer } = this.actor();
    const info = await this.read(() => downloadInfo(this.ctx.ledger.current, user, peer, group, name));
    const ticket = signTicket(this.ctx.keys.ticketPrivateKey, { user, group, fileId: info.manifest.sha1, expiresAt: this.ctx.clock() + this.ctx.ticketTtlMs });
    return { ...info, ticket, publicKeys: [encodePublicKey(this.ctx.keys.ticketPublicKey)] };
  }

  /** The logged-in user of this connection, whose session must still exist. */
  private actor(): Bound {
    const s = this.session;
    if (!s) return refuse('NOT_LOGGED_IN', 'you are not logged in; login with: login <user_id> <password>');
    const known = this.ctx.ledger.current.sessions.get(s.id);
    if (!known) {
      this.session = undefined;
      if (this.ctx.ledger.current.users.get(s.user)?.account !== s.account) {
        return refuse(
          'SESSION_EXPIRED',
          `your session has ended: while the trackers were cut off from each other, another user ${s.user} was created first and the name is theirs; create a user with another name`,
        );
      }
      return refuse('SESSION_EXPIRED', 'your session has ended; login again');
    }
    const now = this.ctx.clock();
    if (sessionExpired(known, now, this.ctx.sessionTtlMs)) {
      this.session = undefined;
      void this.expire(s.id, now).catch(() => undefined);
      return refuse('SESSION_EXPIRED', 'your session is too old and has expired; login again');
    }
    return s;
  }

  /** Ends a session past its lifetime (an event, so both trackers forget it) and refuses. */
  private async expire(session: string, now: number): Promise<never> {
    await this.ctx.executor.execute({ type: 'expire_session', data: { session, now, maxAgeMs: this.ctx.sessionTtlMs } }).catch((error: unknown) => {
      this.ctx.log.warn({ err: error }, 'could not record an expired session');
    });
    return refuse('SESSION_EXPIRED', 'your session is too old and has expired; login again');
  }

  private outcomeEvents(outcome: Outcome): readonly Envelope[] {
    return outcome.ok ? outcome.events : refused(outcome.rejection);
  }

  private closed(): void {
    clearTimeout(this.idleTimer);
    this.ctx.metrics.clientsConnected.dec();
    const s = this.session;
    if (!s || this.ctx.stopping()) return;
    this.ctx.executor.execute({ type: 'lose_session', data: { session: s.id, epoch: s.epoch } }).catch((error: unknown) => {
      this.ctx.log.warn({ err: error }, 'could not record a lost session');
    });
  }
}
