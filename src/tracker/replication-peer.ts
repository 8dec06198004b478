/**
 * One WebSocket between the two trackers, from the first frame to the close. The
 * Replicator (replication-link.ts) owns the peers and picks which one is the link; a
 * peer owns only what is true of its own connection:
 *
 * - the handshake: hello (a fresh random challenge each way), then auth (an HMAC with
 *   the cluster's link key over both challenges and both tracker ids). Until the twin's
 *   proof checks out nothing else is accepted and nothing of the log is sent; a bad
 *   proof is answered with `refused AUTH_FAILED` and a close.
 * - then the two halves of the link: the LogSender (log-sender.ts) streams what the twin
 *   lacks, catch-up then live; the EventInbox (event-inbox.ts) applies what the twin
 *   sends and acknowledges it. The peer routes frames between them and the socket: the
 *   twin's marks, acks and events all tell the sender what the twin holds. A state the
 *   twin sends ahead of its catch-up (twin-state.ts) is put together here and handed to
 *   the ledger, which takes it in place of folding those events; one it cannot take is
 *   reported and the events are folded as usual.
 * - liveness: a ping every HEARTBEAT_INTERVAL_MS; nothing heard for
 *   HEARTBEAT_TIMEOUT_MS (a silent partition) and the socket is dropped.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { RawData, WebSocket } from 'ws';
import type { Envelope } from '../events/envelope.js';
import type { Ledger } from '../events/log/ledger.js';
import {
  authTranscript,
  encodeMessage,
  parseMessage,
  PROTOCOL_VERSION,
  type LinkErrorCode,
  type LinkMessage,
  type Marks,
  type StatePart,
  DEFAULT_TWIN_ACK,
  type TwinAck,
} from '../events/replication/protocol.js';
import { StateAssembly } from '../events/replication/twin-state.js';
import { Silence } from '../wire/silence.js';
import { linkProof, type ClusterKeys } from './cluster-keys.js';
import { EventInbox, type FrameLag } from './event-inbox.js';
import { OFF_THREAD_MIN_EVENTS, type FrameChecker } from './frame-checker.js';
import { LogSender } from './log-sender.js';

/** The handshake must finish within this. */
export const AUTH_TIMEOUT_MS = 2000;
export const HEARTBEAT_INTERVAL_MS = 500;
/**
 * No frame and no pong for this long: the twin is gone (a silent partition). Well longer
 * than a tracker's event loop is ever busy in one go, during which it answers no ping.
 * The longest was the re-fold that ends the catch-up after a long partition (4.0 and
 * 4.7 s for a million events on this project's 2-core test machine; with 5 s, one of 6
 * such catch-ups in a benchmark run had its link come up again right after it). A big
 * re-fold now goes on in the background (BackgroundRefold); the margin stays for a slow
 * host.
 */
export const HEARTBEAT_TIMEOUT_MS = 15_000;
/** Close code for every protocol-level close; the reason is a LinkErrorCode. */
export const LINK_CLOSE_CODE = 4000;

/** What a peer tells its Replicator. */
export interface PeerHost {
  readonly id: number;
  readonly twinId: number;
  readonly ledger: Ledger;
  readonly keys: ClusterKeys;
  /** Checks big frames' hashes on another thread; absent, everything is checked inline. */
  readonly checker?: FrameChecker;
  /** When the twin is to acknowledge this tracker's live events (asked for in the hello). */
  readonly twinAck: TwinAck;
  /** The smallest catch-up that this tracker's state goes ahead of (LogSender). */
  readonly twinStateMin?: number;
  /** The twin proved the secret. False means this connection must close (a duplicate). */
  authenticated(peer: ReplicationPeer): boolean;
  /** The twin's marks arrived: the link is up. */
  synced(peer: ReplicationPeer): void;
  /** Marks moved (an ack, or events applied). */
  progress(peer: ReplicationPeer): void;
  caughtUp(peer: ReplicationPeer, events: number, ms: number): void;
  /** `events` live events arrived `ms` after they became durable on the twin. */
  lag(ms: number, events: number): void;
  /**
   * A state from the twin arrived (`chars` of text, read in `ms`): the ledger now expects
   * its events, or, with a problem, cannot take it and folds them as usual.
   */
  twinStateArrived(peer: ReplicationPeer, problem: string | undefined, chars: number, ms: number): void;
  /** The connection closed; `code` is ours or the twin's reason when there was one. */
  closed(peer: ReplicationPeer, code: string, detail: string): void;
}

export class ReplicationPeer {
  /** Per origin, the highest seq the twin is known to hold durably. */
  readonly peerMarks = new Map<number, number>();
  /** True once the twin's marks arrived (both proofs checked): events flow. */
  up = false;
  /** Was up at some point (stays true after the close). */
  wasUp = false;
  /** How far the twin's wall clock is ahead of this tracker's (ms; negative: behind), by its hello; undefined if it gave none. */
  twinClockAheadMs: number | undefined;
  private readonly challenge = randomBytes(32).toString('base64url');
  private peerChallenge: string | undefined;
  /** What the twin asked for in its hello: when to acknowledge its live events. */
  private ackWhen: TwinAck = DEFAULT_TWIN_ACK;
  /** The twin's hello said it takes `state` frames. */
  private twinTakesStates = false;
  private readonly stateAssembly = new StateAssembly();
  private verified = false;
  private closed = false;
  /** fail() or shutdown() ran: nothing more is read or sent, the close is on its way. */
  private ending = false;
  private readonly sender: LogSender;
  private readonly inbox: EventInbox;
  private readonly silence = new Silence(HEARTBEAT_INTERVAL_MS, () => performance.now());
  private readonly timers: NodeJS.Timeout[] = [];
  private why: { code: string; detail: string } | undefined;

  constructor(
    private readonly ws: WebSocket,
    /** The tracker that opened this connection: decides which of two links is kept. */
    readonly dialledBy: number,
    readonly remote: string,
    private readonly host: PeerHost,
  ) {
    this.sender = new LogSender(host.id, host.ledger, {
      flowing: () => this.up && !this.closed,
      takesStates: () => this.twinTakesStates,
      send: (frame) => this.sendFrame(frame),
    }, host.twinStateMin);
    this.inbox = new EventInbox(host.ledger, {
      receiving: () => !this.closed && !this.ending,
      liveWaitsForDisk: () => this.ackWhen === 'flush',
      applied: (frames, lags) => this.acknowledge(frames, lags),
      caughtUp: (events, ms) => this.host.caughtUp(this, events, ms),
      progressed: () => this.host.progress(this),
      failed: (code, detail) => this.fail(code, detail),
    }, host.checker);
  }

  start(): void {
    this.ws.on('message', (data, isBinary) => this.receive(data, isBinary));
    this.ws.on('pong', () => this.silence.heard());
    this.ws.on('error', () => undefined); // followed by 'close'
    this.ws.on('close', (code, reason) => this.onClose(code, reason.toString()));
    const auth = setTimeout(() => this.verified || this.fail('AUTH_TIMEOUT', `no valid proof within ${AUTH_TIMEOUT_MS} ms`), AUTH_TIMEOUT_MS);
    const beat = setInterval(() => this.heartbeat(), HEARTBEAT_INTERVAL_MS);
    this.timers.push(auth, beat);
    // `ack` only when it is not the default, which a tracker that predates it assumes.
    this.send({ t: 'hello', v: PROTOCOL_VERSION, tracker: this.host.id, challenge: this.challenge, ...(this.host.twinAck !== DEFAULT_TWIN_ACK && { ack: this.host.twinAck }), clock: Date.now(), states: true });
  }

  /**
   * Refuses or drops the link: tells the twin why, then closes. The inbox stops at once,
   * not when the close is done: what the checker's thread stored is taken up before a
   * link that takes over (DUPLICATE_LINK) sends this tracker's marks, or that link would
   * be sent those events again and store them twice.
   */
  fail(code: LinkErrorCode, detail: string): void {
    if (this.closed || this.ending) return;
    this.ending = true;
    this.up = false;
    this.why ??= { code, detail };
    this.send({ t: 'refused', code, message: detail });
    this.ws.close(LINK_CLOSE_CODE, code);
    const force = setTimeout(() => this.ws.terminate(), 1000);
    force.unref();
    this.inbox.stop();
  }

  /** Closes without blame (shutdown). */
  shutdown(): void {
    if (this.closed || this.ending) return;
    this.ending = true;
    this.up = false;
    this.why ??= { code: 'SHUTDOWN', detail: 'tracker shutting down' };
    this.ws.close(1001, 'shutting down');
    setTimeout(() => this.ws.terminate(), 500).unref();
    this.inbox.stop();
  }

  /** Live path: events just made durable here go to the twin. */
  onDurable(envelopes: readonly Envelope[]): void {
    this.sender.onDurable(envelopes);
  }

  private receive(data: RawData, isBinary: boolean): void {
    if (this.closed || this.ending) return;
    this.silence.heard();
    if (isBinary) return this.fail('BAD_FRAME', 'binary frame');
    const text = data.toString();
    const parsed = parseMessage(text);
    if (!parsed.ok) return this.fail('BAD_FRAME', parsed.reason);
    const m = parsed.message;
    switch (m.t) {
      case 'hello':
        return this.onHello(m);
      case 'auth':
        return this.onAuth(m.proof);
      case 'marks':
        return this.onMarks(m.marks);
      case 'events':
        return this.onEvents(m.events, m.at, text);
      case 'ack':
        return this.onAck(m.marks);
      case 'state':
        return this.onState(m);
      case 'refused':
        this.why ??= { code: m.code, detail: `the twin refused the link: ${m.message}` };
        return;
    }
  }

  private onHello(m: Extract<LinkMessage, { t: 'hello' }>): void {
    if (this.peerChallenge !== undefined) return this.fail('BAD_FRAME', 'a second hello');
    if (m.v !== PROTOCOL_VERSION) return this.fail('VERSION_MISMATCH', `protocol version ${m.v}, this tracker speaks ${PROTOCOL_VERSION}`);
    if (m.tracker !== this.host.twinId) return this.fail('UNEXPECTED_PEER', `this is tracker ${this.host.id}, which replicates with tracker ${this.host.twinId}, not ${m.tracker}`);
    this.peerChallenge = m.challenge;
    this.ackWhen = m.ack ?? DEFAULT_TWIN_ACK;
    this.twinTakesStates = m.states === true;
    if (m.clock !== undefined) this.twinClockAheadMs = m.clock - Date.now();
    const proof = linkProof(this.host.keys, authTranscript(this.host.id, this.host.twinId, m.challenge, this.challenge, this.host.twinAck));
    this.send({ t: 'auth', proof });
  }

  private onAuth(proof: string): void {
    if (this.peerChallenge === undefined || this.verified) return this.fail('BAD_FRAME', 'auth out of turn');
    const expected = Buffer.from(linkProof(this.host.keys, authTranscript(this.host.twinId, this.host.id, this.challenge, this.peerChallenge, this.ackWhen)));
    const given = Buffer.from(proof);
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return this.fail('AUTH_FAILED', 'the proof does not match this cluster\'s secret (or its hello was changed on the way)');
    this.verified = true;
    if (!this.host.authenticated(this)) return;
    this.send({ t: 'marks', marks: this.localMarks() });
  }

  private onMarks(marks: Marks): void {
    if (!this.verified || this.up) return this.fail('BAD_FRAME', 'marks out of turn');
    for (const [origin, seq] of marks) {
      this.peerMarks.set(origin, seq);
      this.sender.twinHolds(origin, seq);
    }
    this.up = true;
    this.wasUp = true;
    this.host.synced(this);
    this.inbox.start(marks);
    this.sender.pump();
  }

  private onEvents(events: Envelope[], at: number | undefined, text: string): void {
    if (!this.up) return this.fail('BAD_FRAME', 'events before marks');
    // The twin holds what it sends: never send it back.
    for (const e of events) {
      this.sender.twinHolds(e.origin, e.seq);
      if (e.seq > (this.peerMarks.get(e.origin) ?? 0)) this.peerMarks.set(e.origin, e.seq);
    }
    this.inbox.push(events, at, events.length >= OFF_THREAD_MIN_EVENTS ? text : undefined);
  }

  private onState(part: StatePart): void {
    if (!this.up) return this.fail('BAD_FRAME', 'state before marks');
    const started = performance.now();
    const whole = this.stateAssembly.add(part);
    if (whole === undefined) return;
    const problem = typeof whole === 'string' ? whole : this.host.ledger.expectTwinState(whole);
    this.host.twinStateArrived(this, problem, typeof whole === 'string' ? 0 : whole.text.length, Math.round(performance.now() - started));
  }

  private onAck(marks: Marks): void {
    if (!this.up) return this.fail('BAD_FRAME', 'ack before marks');
    for (const [origin, seq] of marks) if (seq > (this.peerMarks.get(origin) ?? 0)) this.peerMarks.set(origin, seq);
    this.host.progress(this);
    this.sender.acked();
  }

  /** The inbox made `frames` frames durable: one ack each, carrying the durable marks. */
  private acknowledge(frames: number, lags: readonly FrameLag[]): void {
    const marks = this.localMarks();
    for (let i = 0; i < frames; i++) this.send({ t: 'ack', marks });
    for (const lag of lags) this.host.lag(lag.ms, lag.events);
  }

  private heartbeat(): void {
    if (this.closed) return;
    if (this.silence.beat() > HEARTBEAT_TIMEOUT_MS) {
      this.why ??= { code: 'HEARTBEAT_TIMEOUT', detail: `nothing heard for ${HEARTBEAT_TIMEOUT_MS} ms` };
      this.ws.terminate();
      return;
    }
    if (this.ws.readyState === this.ws.OPEN) this.ws.ping();
  }

  private localMarks(): Map<number, number> {
    const marks = new Map<number, number>();
    for (const [origin, mark] of this.host.ledger.originMarks()) marks.set(origin, mark.seq);
    return marks;
  }

  private send(m: LinkMessage): void {
    this.sendFrame(encodeMessage(m));
  }

  private sendFrame(frame: string): void {
    if (this.ws.readyState === this.ws.OPEN) this.ws.send(frame);
  }

  private onClose(code: number, reason: string): void {
    if (this.closed) return;
    this.closed = true;
    this.up = false;
    for (const t of this.timers) clearTimeout(t);
    this.inbox.stop();
    const why = this.why ?? { code: code === LINK_CLOSE_CODE ? reason : 'CLOSED', detail: code === 1006 ? 'connection lost' : `closed (${code}${reason ? ` ${reason}` : ''})` };
    this.host.closed(this, why.code, why.detail);
  }
}
