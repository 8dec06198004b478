/**
 * One WebSocket between the two trackers, from the first frame to the close. The
 * Replicator (replication-link.ts) owns the peers and picks which one is the link; a
 * peer owns only what is true of its own connection:
 *
 * - the handshake: hello (a fresh random challenge each way), then auth (an HMAC with
 *   the cluster's link key over both challenges and both tracker ids). Until the twin's
 *   proof checks out nothing else is accepted and nothing of the log is sent; a bad
 *   proof is answered with `refused AUTH_FAILED` and a close.
 * - catch-up and live streaming, as the sender: per origin, the highest seq the twin is
 *   known to hold (its marks, then its acks and the events it sends) and the highest seq
 *   sent; whatever the local log holds beyond that is read in fold order (so the twin
 *   folds it without re-folding) and sent in batches of BATCH_EVENTS, one per turn of
 *   the event loop, at most MAX_UNACKED_BATCHES unacknowledged, so
 *   memory on both sides stays bounded however far behind the twin is. Live events
 *   (Ledger 'durable', so only events already on disk here) go out at once when they
 *   continue what was sent, else the next pump reads them back from the log.
 * - as the receiver: `events` frames go to Ledger.applyRemote (validating, idempotent on
 *   (origin, seq), durable on return; several frames in one call during a catch-up) and
 *   each is answered with one `ack` carrying the durable marks. A ChainError means the twin sent something that does not
 *   continue a chain: the link is dropped with CHAIN_BROKEN and re-syncs from marks on
 *   the next connection.
 * - the catch-up target: the twin's marks when the link came up; the first moment the
 *   local marks reach all of them is reported once (events received, ms taken).
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { RawData, WebSocket } from 'ws';
import { compareOrder, type Envelope } from '../events/envelope.js';
import type { Position } from '../events/log/event-store.js';
import { ChainError, type Ledger } from '../events/log/ledger.js';
import {
  authTranscript,
  encodeEventRows,
  encodeMessage,
  envelopeRow,
  parseMessage,
  PROTOCOL_VERSION,
  type EnvelopeRow,
  type LinkErrorCode,
  type LinkMessage,
  type Marks,
} from '../events/replication/protocol.js';
import { linkProof, type ClusterKeys } from './cluster-keys.js';

/** Envelopes per `events` frame during catch-up: large, so a million take a few hundred frames. */
export const BATCH_EVENTS = 8000;
/** A frame is cut short once its event data passes this many bytes (one big event still goes alone). */
export const BATCH_MAX_BYTES = 4 * 1024 * 1024;
/** Frames sent and not yet acknowledged: the flow-control window (memory stays bounded). */
export const MAX_UNACKED_BATCHES = 16;
/**
 * Frames applied in one transaction when several are waiting. Fewer than the window, so
 * the sender keeps producing while the receiver applies.
 */
export const MAX_COALESCED_FRAMES = 8;
/**
 * Coalescing stops short of frames whose apply would take longer than this (by the recent
 * cost per event): the event loop answers no ping while it applies, and the twin drops a
 * link it has not heard from for HEARTBEAT_TIMEOUT_MS.
 */
export const APPLY_BUDGET_MS = 1000;
/** How long a catch-up waits for more frames before it applies what it has. */
export const COALESCE_WAIT_MS = 100;
/** Rows one catch-up read may skip (held by the twin) before it yields to the event loop. */
export const MAX_SCAN_ROWS = 50_000;
/** The handshake must finish within this. */
export const AUTH_TIMEOUT_MS = 2000;
export const HEARTBEAT_INTERVAL_MS = 500;
/** No frame and no pong for this long: the twin is gone (a silent partition). */
export const HEARTBEAT_TIMEOUT_MS = 5000;
/** Close code for every protocol-level close; the reason is a LinkErrorCode. */
export const LINK_CLOSE_CODE = 4000;
const ENVELOPE_OVERHEAD_BYTES = 200;
/** Live batches whose durable time is remembered until they are sent (for the lag figure). */
const MAX_DURABLE_TIMES = 10_000;

/** Wall-clock milliseconds with sub-millisecond precision: comparable across processes on one host. */
export function wallMs(): number {
  return performance.timeOrigin + performance.now();
}

/** What a peer tells its Replicator. */
export interface PeerHost {
  readonly id: number;
  readonly twinId: number;
  readonly ledger: Ledger;
  readonly keys: ClusterKeys;
  /** The twin proved the secret. False means this connection must close (a duplicate). */
  authenticated(peer: ReplicationPeer): boolean;
  /** The twin's marks arrived: the link is up. */
  synced(peer: ReplicationPeer): void;
  /** Marks moved (an ack, or events applied). */
  progress(peer: ReplicationPeer): void;
  caughtUp(peer: ReplicationPeer, events: number, ms: number): void;
  /** `events` live events arrived `ms` after they became durable on the twin. */
  lag(ms: number, events: number): void;
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
  lastCatchUp: { readonly events: number; readonly ms: number } | undefined;
  private readonly challenge = randomBytes(32).toString('base64url');
  private peerChallenge: string | undefined;
  private verified = false;
  private closed = false;
  /** fail() or shutdown() ran: nothing more is read or sent, the close is on its way. */
  private ending = false;
  /** Per origin, the highest seq sent on this connection or held by the twin. */
  private readonly sent = new Map<number, number>();
  private unacked = 0;
  /** A pump() is due on the next turn. */
  private pumpQueued = false;
  /** `events` frames received and not yet applied (applied together, see scheduleApply). */
  private inbox: { events: Envelope[]; at: number | undefined }[] = [];
  /** Per origin, the highest seq received on this connection. */
  private readonly arrived = new Map<number, number>();
  private applyQueued = false;
  private applyTimer: NodeJS.Timeout | undefined;
  /** Recent cost of applying one event, ms (a moving average). */
  private msPerEvent = 0.01;
  /** Fold-order position up to which the log has been streamed or found held by the twin. */
  private cursor: Position | undefined;
  private target: Marks | undefined;
  private syncStarted = 0;
  private received = 0;
  private lastHeard = performance.now();
  private readonly timers: NodeJS.Timeout[] = [];
  private why: { code: string; detail: string } | undefined;
  /** When batches of this tracker's origin became durable, oldest first, until sent. */
  private durableAt: { first: number; last: number; at: number }[] = [];

  constructor(
    private readonly ws: WebSocket,
    /** The tracker that opened this connection: decides which of two links is kept. */
    readonly dialledBy: number,
    readonly remote: string,
    private readonly host: PeerHost,
  ) {}

  start(): void {
    this.ws.on('message', (data, isBinary) => this.receive(data, isBinary));
    this.ws.on('pong', () => (this.lastHeard = performance.now()));
    this.ws.on('error', () => undefined); // followed by 'close'
    this.ws.on('close', (code, reason) => this.onClose(code, reason.toString()));
    const auth = setTimeout(() => this.verified || this.fail('AUTH_TIMEOUT', `no valid proof within ${AUTH_TIMEOUT_MS} ms`), AUTH_TIMEOUT_MS);
    const beat = setInterval(() => this.heartbeat(), HEARTBEAT_INTERVAL_MS);
    this.timers.push(auth, beat);
    this.send({ t: 'hello', v: PROTOCOL_VERSION, tracker: this.host.id, challenge: this.challenge });
  }

  /** Refuses or drops the link: tells the twin why, then closes. */
  fail(code: LinkErrorCode, detail: string): void {
    if (this.closed || this.ending) return;
    this.ending = true;
    this.up = false;
    this.why ??= { code, detail };
    this.send({ t: 'refused', code, message: detail });
    this.ws.close(LINK_CLOSE_CODE, code);
    const force = setTimeout(() => this.ws.terminate(), 1000);
    force.unref();
  }

  /** Closes without blame (shutdown). */
  shutdown(): void {
    if (this.closed || this.ending) return;
    this.ending = true;
    this.up = false;
    this.why ??= { code: 'SHUTDOWN', detail: 'tracker shutting down' };
    this.ws.close(1001, 'shutting down');
    setTimeout(() => this.ws.terminate(), 500).unref();
  }

  /** Live path: events just made durable here. */
  onDurable(envelopes: readonly Envelope[]): void {
    if (!this.up || this.closed || envelopes.length === 0) return;
    const first = envelopes[0]!;
    if (first.origin === this.host.id) {
      this.durableAt.push({ first: first.seq, last: envelopes[envelopes.length - 1]!.seq, at: wallMs() });
      if (this.durableAt.length > MAX_DURABLE_TIMES) this.durableAt.shift();
    }
    let bytes = 0;
    let sameOrigin = true;
    for (const e of envelopes) {
      bytes += e.data.length + ENVELOPE_OVERHEAD_BYTES;
      sameOrigin &&= e.origin === first.origin;
    }
    const fits = envelopes.length <= BATCH_EVENTS && bytes <= BATCH_MAX_BYTES;
    if (sameOrigin && fits && first.seq === (this.sent.get(first.origin) ?? 0) + 1 && this.unacked < MAX_UNACKED_BATCHES) {
      this.sendBatch(envelopes.map(envelopeRow));
      // Nothing else missing: every unsent event to come sorts after this one.
      const last = envelopes[envelopes.length - 1]!;
      if (this.firstMissingOrigin(this.host.ledger.originMarks()) === undefined) this.cursor = { hlc: last.hlc, origin: last.origin, seq: last.seq };
    } else {
      this.pump();
    }
  }

  /**
   * Sends what the twin lacks, while the window allows: one frame per turn of the event
   * loop, so the frames already sent are written to the socket while the next ones are
   * read and encoded (a loop that made the whole window at once would hold them back).
   */
  pump(): void {
    if (this.pumpQueued || !this.up || this.closed || this.unacked >= MAX_UNACKED_BATCHES) return;
    const batch = this.nextBatch();
    if (!batch) return;
    if (batch.length > 0) this.sendBatch(batch);
    this.pumpQueued = true;
    setImmediate(() => {
      this.pumpQueued = false;
      this.pump();
    });
  }

  /**
   * The next batch the twin lacks, in fold order (hlc, origin, seq), so that the twin
   * folds it in order: streaming one origin after the other would make every batch of
   * the second sort before what the first left folded, and re-fold each time. Pages
   * through the log from `cursor`, skipping what the twin holds; falls back to one
   * origin's run (ofOrigin) should the fold-order scan ever not find what is missing.
   * Undefined when there is nothing to send; empty when a scan skipped rows only.
   */
  private nextBatch(): EnvelopeRow[] | undefined {
    const marks = this.host.ledger.originMarks();
    const missing = this.firstMissingOrigin(marks);
    if (missing === undefined) return undefined;
    this.cursor ??= this.scanStart(marks);
    const batch: EnvelopeRow[] = [];
    let bytes = 0;
    let scanned = 0;
    let last: EnvelopeRow | undefined;
    let stuck = false;
    for (const row of this.host.ledger.store.rowsInFoldOrder(this.cursor)) {
      const [origin, seq, , , data] = row;
      const sent = this.sent.get(origin) ?? 0;
      if (seq > sent) {
        if (seq !== sent + 1) {
          stuck = true; // an origin's seq order and fold order disagree: take the slow path
          break;
        }
        if (batch.length > 0 && bytes + data.length > BATCH_MAX_BYTES) break;
        batch.push(row);
        this.sent.set(origin, seq);
        bytes += data.length + ENVELOPE_OVERHEAD_BYTES;
      }
      last = row;
      if (batch.length >= BATCH_EVENTS || ++scanned >= MAX_SCAN_ROWS) break;
    }
    if (last) this.cursor = { hlc: last[2], origin: last[0], seq: last[1] };
    if (batch.length > 0 || (last && !stuck)) return batch;
    // Nothing after the cursor, yet something is missing: send that origin's run as is.
    this.cursor = undefined;
    const after = this.sent.get(missing) ?? 0;
    const rows = this.host.ledger.store.ofOrigin(missing, after, BATCH_EVENTS);
    let n = 0;
    for (bytes = 0; n < rows.length && (n === 0 || bytes + rows[n]!.data.length <= BATCH_MAX_BYTES); n++) bytes += rows[n]!.data.length + ENVELOPE_OVERHEAD_BYTES;
    const run = rows.slice(0, n);
    if (run.length > 0) this.sent.set(missing, run[run.length - 1]!.seq);
    return run.length > 0 ? run.map(envelopeRow) : undefined;
  }

  /** An origin of which the local log holds events not yet sent, if any. */
  private firstMissingOrigin(marks: ReadonlyMap<number, { seq: number }>): number | undefined {
    for (const [origin, mark] of marks) if (mark.seq > (this.sent.get(origin) ?? 0)) return origin;
    return undefined;
  }

  /** Just before the earliest (in fold order) event the twin lacks. */
  private scanStart(marks: ReadonlyMap<number, { seq: number }>): Position | undefined {
    let start: Position | undefined;
    for (const [origin, mark] of marks) {
      const after = this.sent.get(origin) ?? 0;
      if (mark.seq <= after) continue;
      const first = this.host.ledger.store.ofOrigin(origin, after, 1)[0];
      if (first && (!start || compareOrder(first, start) < 0)) start = first;
    }
    // nothing sorts strictly between (hlc, origin, seq - 1) and (hlc, origin, seq)
    return start && { hlc: start.hlc, origin: start.origin, seq: start.seq - 1 };
  }

  private sendBatch(batch: readonly EnvelopeRow[]): void {
    for (const [origin, seq] of batch) if (seq > (this.sent.get(origin) ?? 0)) this.sent.set(origin, seq);
    this.unacked += 1;
    this.ws.send(encodeEventRows(batch, this.durableTime(batch[0]![0], batch[0]![1])));
  }

  /** When event (origin, seq) became durable here, if it was committed while this link was up. */
  private durableTime(origin: number, seq: number): number | undefined {
    if (origin !== this.host.id) return undefined;
    const times = this.durableAt;
    while (times.length > 0 && times[0]!.last < seq) times.shift();
    const batch = times[0];
    return batch && batch.first <= seq ? batch.at : undefined;
  }

  private receive(data: RawData, isBinary: boolean): void {
    if (this.closed || this.ending) return;
    this.lastHeard = performance.now();
    const parsed = isBinary ? undefined : parseMessage(data.toString());
    if (!parsed || !parsed.ok) return this.fail('BAD_FRAME', parsed?.reason ?? 'binary frame');
    const m = parsed.message;
    switch (m.t) {
      case 'hello':
        return this.onHello(m);
      case 'auth':
        return this.onAuth(m.proof);
      case 'marks':
        return this.onMarks(m.marks);
      case 'events':
        return this.onEvents(m.events, m.at);
      case 'ack':
        return this.onAck(m.marks);
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
    const proof = linkProof(this.host.keys, authTranscript(this.host.id, this.host.twinId, m.challenge, this.challenge));
    this.send({ t: 'auth', proof });
  }

  private onAuth(proof: string): void {
    if (this.peerChallenge === undefined || this.verified) return this.fail('BAD_FRAME', 'auth out of turn');
    const expected = Buffer.from(linkProof(this.host.keys, authTranscript(this.host.twinId, this.host.id, this.challenge, this.peerChallenge)));
    const given = Buffer.from(proof);
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return this.fail('AUTH_FAILED', 'the proof does not match this cluster\'s secret');
    this.verified = true;
    if (!this.host.authenticated(this)) return;
    this.send({ t: 'marks', marks: this.localMarks() });
  }

  private onMarks(marks: Marks): void {
    if (!this.verified || this.up) return this.fail('BAD_FRAME', 'marks out of turn');
    for (const [origin, seq] of marks) {
      this.peerMarks.set(origin, seq);
      this.sent.set(origin, seq);
    }
    this.target = marks;
    this.syncStarted = performance.now();
    this.up = true;
    this.wasUp = true;
    this.host.synced(this);
    this.checkCaughtUp();
    this.pump();
  }

  private onEvents(events: Envelope[], at: number | undefined): void {
    if (!this.up) return this.fail('BAD_FRAME', 'events before marks');
    // The twin holds what it sends: never send it back.
    for (const e of events) {
      if (e.seq > (this.sent.get(e.origin) ?? 0)) this.sent.set(e.origin, e.seq);
      if (e.seq > (this.peerMarks.get(e.origin) ?? 0)) this.peerMarks.set(e.origin, e.seq);
      if (e.seq > (this.arrived.get(e.origin) ?? 0)) this.arrived.set(e.origin, e.seq);
    }
    this.inbox.push({ events, at });
    this.scheduleApply();
  }

  /**
   * Frames are applied together, in one transaction (one commit, one fsync), up to
   * MAX_COALESCED_FRAMES. Live frames are applied on the next turn. During a catch-up,
   * while the twin certainly has more to send (the frames so far fall short of its marks
   * when the link came up), the receiver waits for a full set of frames, at most
   * COALESCE_WAIT_MS: frames of megabytes arrive over several reads, so "what arrived
   * together" would otherwise be one frame, and a big log would be stored in many small
   * transactions that rewrite the same index pages each time.
   */
  private scheduleApply(): void {
    if (this.applyQueued || this.inbox.length === 0) return;
    if (this.inbox.length < this.framesPerApply() && this.moreComing()) {
      // Waits while frames keep coming, at most COALESCE_WAIT_MS after the last one.
      clearTimeout(this.applyTimer);
      this.applyTimer = setTimeout(() => {
        this.applyTimer = undefined;
        this.applySoon();
      }, COALESCE_WAIT_MS);
      return;
    }
    this.applySoon();
  }

  private applySoon(): void {
    clearTimeout(this.applyTimer);
    this.applyTimer = undefined;
    if (this.applyQueued) return;
    this.applyQueued = true;
    setImmediate(() => {
      this.applyQueued = false;
      this.applyInbox();
    });
  }

  /** Catching up, and the frames received so far do not reach the twin's marks yet. */
  private moreComing(): boolean {
    if (!this.target) return false;
    const local = this.host.ledger.originMarks();
    for (const [origin, seq] of this.target) if (Math.max(this.arrived.get(origin) ?? 0, local.get(origin)?.seq ?? 0) < seq) return true;
    return false;
  }

  /** Frames to apply in one go: MAX_COALESCED_FRAMES, or fewer when recent applies were slow (a loaded host). */
  private framesPerApply(): number {
    const events = this.inbox[0]?.events.length ?? 1;
    const fit = Math.floor(APPLY_BUDGET_MS / (this.msPerEvent * events));
    return Math.max(1, Math.min(MAX_COALESCED_FRAMES, fit));
  }

  private applyInbox(): void {
    const frames = this.inbox.splice(0, this.framesPerApply());
    this.scheduleApply();
    if (this.closed || this.ending || frames.length === 0) return;
    let fresh: Envelope[];
    const t0 = performance.now();
    try {
      const events = frames.length === 1 ? frames[0]!.events : frames.flatMap((f) => f.events);
      fresh = this.host.ledger.applyRemote(events, { catchingUp: this.inbox.length > 0 || this.moreComing() });
    } catch (error) {
      if (error instanceof ChainError) return this.fail('CHAIN_BROKEN', error.message);
      return this.fail('LOCAL_ERROR', `could not store the twin's events: ${error instanceof Error ? error.message : String(error)}`);
    }
    this.received += fresh.length;
    const took = performance.now() - t0;
    if (fresh.length >= 1000) this.msPerEvent = 0.7 * this.msPerEvent + (0.3 * took) / fresh.length;
    const marks = this.localMarks();
    for (let i = 0; i < frames.length; i++) this.send({ t: 'ack', marks });
    const now = wallMs();
    for (const f of frames) if (f.at !== undefined) this.host.lag(now - f.at, f.events.length);
    this.checkCaughtUp();
    this.host.progress(this);
  }

  private onAck(marks: Marks): void {
    if (!this.up) return this.fail('BAD_FRAME', 'ack before marks');
    this.unacked = Math.max(0, this.unacked - 1);
    for (const [origin, seq] of marks) if (seq > (this.peerMarks.get(origin) ?? 0)) this.peerMarks.set(origin, seq);
    this.host.progress(this);
    this.pump();
  }

  private checkCaughtUp(): void {
    if (!this.target) return;
    const local = this.host.ledger.originMarks();
    for (const [origin, seq] of this.target) if ((local.get(origin)?.seq ?? 0) < seq) return;
    this.target = undefined;
    this.lastCatchUp = { events: this.received, ms: Math.round(performance.now() - this.syncStarted) };
    this.host.caughtUp(this, this.lastCatchUp.events, this.lastCatchUp.ms);
  }

  private heartbeat(): void {
    if (this.closed) return;
    if (performance.now() - this.lastHeard > HEARTBEAT_TIMEOUT_MS) {
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
    if (this.ws.readyState === this.ws.OPEN) this.ws.send(encodeMessage(m));
  }

  private onClose(code: number, reason: string): void {
    if (this.closed) return;
    this.closed = true;
    this.up = false;
    for (const t of this.timers) clearTimeout(t);
    clearTimeout(this.applyTimer);
    const why = this.why ?? { code: code === LINK_CLOSE_CODE ? reason : 'CLOSED', detail: code === 1006 ? 'connection lost' : `closed (${code}${reason ? ` ${reason}` : ''})` };
    this.host.closed(this, why.code, why.detail);
  }
}
