/**
 * The replication link between the two trackers. Who owns what:
 *
 * - One Replicator per tracker. It owns the dialling (ws://twin/replicate, retried with
 *   backoff while the twin is down), the inbound `/replicate` upgrades, the choice of the
 *   one link per pair, the semi-synchronous barrier the executor waits on, the gate that
 *   holds local commits while this tracker is behind on its own origin, and what
 *   /health says about all of it.
 * - One ReplicationPeer per WebSocket (replication-peer.ts): the handshake, liveness and
 *   the per-origin marks of that connection. Its LogSender (log-sender.ts) streams the
 *   log out, catch-up then live; its EventInbox (event-inbox.ts) applies what comes in.
 *
 * What it promises:
 * - Both trackers dial (while they have no link); when two connections authenticate,
 *   each side keeps the one dialled by the lower tracker id and closes the other
 *   (DUPLICATE_LINK), so both sides make the same choice; between two dialled by the
 *   same tracker, the newer wins (that tracker gave the older up). One log line when
 *   the link drops, one when it is back.
 * - Only holders of the cluster secret get a link; refusals are logged (at most one line
 *   per REFUSAL_LOG_INTERVAL_MS, with a count of those not logged).
 * - Semi-synchronous acknowledgement: `awaitReplicated` resolves once the twin has acked
 *   the events, on its disk or only written to its log as `twinAck` asks (TwinAck in
 *   protocol.ts); at once while no link is up; and after ACK_WAIT_MS (1000 ms)
 *   without an ack, after which the link counts as lagging and the local commit
 *   suffices until the twin has acked everything of this origin again (TwinAcks,
 *   twin-acks.ts).
 * - Catch-up before ready: until the first attempt to reach the twin has settled (a link
 *   up, or a failed dial), and whenever the twin is known to hold events of THIS
 *   tracker's origin beyond its own log, local commits are held (CommitGate,
 *   commit-gate.ts): a new event would reuse a seq and fork the chain. Catching up on
 *   the twin's origin never blocks commits. A log put back by `tracker restore` holds
 *   them until the twin has been reached (restored-log.ts).
 * - A link that fails for a reason retrying cannot cure at once (a refusal, a broken
 *   chain) is dialled again ever more slowly, its up and down lines are logged at most
 *   once a minute, and /health names the problem until a link has stayed up a while
 *   (LinkFaults, link-faults.ts).
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import WebSocket, { WebSocketServer } from 'ws';
import type { Envelope } from '../events/envelope.js';
import type { Ledger } from '../events/log/ledger.js';
import { DEFAULT_TWIN_ACK, MAX_FRAME_BYTES, type TwinAck } from '../events/replication/protocol.js';
import type { ClusterKeys } from './cluster-keys.js';
import type { ReplicationBarrier } from './executor.js';
import { ApplyLag, type LagSummary } from './apply-lag.js';
import { CommitGate } from './commit-gate.js';
import { FrameChecker } from './frame-checker.js';
import { isDrop, isRefusal, LinkFaults, type LinkProblem } from './link-faults.js';
import { clearRestored, restoredMark, type RestoredMark } from './restored-log.js';
import type { Logger } from './logger.js';
import { BATCH_EVENTS } from './log-sender.js';
import { ReplicationPeer, type PeerHost } from './replication-peer.js';
import type { UpgradeHandler } from './tracker.js';
import { TwinAcks } from './twin-acks.js';
import { clockSkewWarning, clocksApart } from './twin-clock.js';

/** Waits between dial attempts while the twin is unreachable (the last one repeats). */
export const DIAL_BACKOFF_MS = [100, 200, 400, 800, 1000, 2000] as const;
export const DIAL_TIMEOUT_MS = 1000;
/** Connections still in their handshake, beyond which new ones are turned away. */
export const MAX_PENDING_PEERS = 4;
/** At most one log line per this interval about refused links and repeated failures. */
export const REFUSAL_LOG_INTERVAL_MS = 60_000;

/**
 * The masking key of the frames the dialling tracker sends: all zero, which ws skips on
 * both ends. RFC 6455 has clients mask so that a browser script cannot put chosen bytes
 * before a confused proxy; between two trackers on an authenticated link the XOR over
 * every byte only costs time (about a second each way per million events of catch-up).
 */
function zeroMask(mask: Buffer): void {
  mask.fill(0);
}

export interface TwinAddress {
  /** The twin's tracker number, which its hello must name. */
  readonly id: number;
  /** Where to dial it (its tracker_info.txt line, or --peer). */
  readonly host: string;
  readonly port: number;
}

export interface ReplicatorOptions {
  readonly id: number;
  readonly twin: TwinAddress;
  readonly ledger: Ledger;
  readonly keys: ClusterKeys;
  readonly log: Logger;
  /** When the twin acknowledges this tracker's live events (default 'flush'). */
  readonly twinAck?: TwinAck;
  /** The twin is lost for good: a restored log accepts commands without reaching it (--twin-lost). */
  readonly twinLost?: boolean;
  /** The smallest catch-up that this tracker's state goes ahead of (--twin-state-min; LogSender). */
  readonly twinStateMin?: number;
}

export interface ReplicationStatus {
  readonly link: 'up' | 'down' | 'connecting';
  readonly peer: { readonly id: number; readonly address: string };
  /** When the twin acknowledges this tracker's live events (--twin-ack). */
  readonly twinAck: TwinAck;
  readonly inSync: boolean;
  /** Events one side holds and the other lacks, by the marks last known; null before the first link (nothing is known of the twin). */
  readonly lagEvents: number | null;
  readonly localMarks: Record<string, number>;
  readonly peerMarks: Record<string, number>;
  readonly caughtUp: { readonly events: number; readonly ms: number } | null;
  /** Acks from the twin are late: commands are acknowledged on the local commit alone. */
  readonly lagging: boolean;
  /** Local commits are held (catching up on this tracker's own origin, or at start). */
  readonly holdingCommits: boolean;
  /** A re-fold goes on in the background (Ledger.refolding): not in sync until it is done. */
  readonly refolding: boolean;
  /** Over the last LAG_SAMPLES live events from the twin: ms from durable there to applied here. */
  readonly applyLagMs: LagSummary | null;
  /** Why the link to the twin last failed (a refusal, a broken chain), until a link stays up a while (LinkFaults). */
  readonly problem: LinkProblem | null;
  /** The log was put back by `tracker restore` and has not reached the twin since: commands wait. */
  readonly restoredFrom: RestoredMark | null;
  /** How far the twin's wall clock was ahead of this tracker's (ms; negative: behind) when the link last came up (twin-clock.ts). */
  readonly twinClockAheadMs: number | null;
}

export class Replicator implements UpgradeHandler, ReplicationBarrier, PeerHost {
  readonly id: number;
  readonly twinId: number;
  readonly ledger: Ledger;
  readonly keys: ClusterKeys;
  readonly checker: FrameChecker | undefined;
  readonly twinAck: TwinAck;
  readonly twinStateMin: number | undefined;
  private readonly log: Logger;
  private readonly url: string;
  private readonly address: string;
  private readonly server = new WebSocketServer({ noServer: true, maxPayload: MAX_FRAME_BYTES, perMessageDeflate: false });
  private readonly pending = new Set<ReplicationPeer>();
  /** The authenticated connection in use, if any (up once the twin's marks arrived). */
  private link: ReplicationPeer | undefined;
  private dialing: WebSocket | undefined;
  private dialTimer: NodeJS.Timeout | undefined;
  private attempt = 0;
  /** The twin's marks as last known: they outlive the link (the gate needs them). */
  private peerMarks: ReadonlyMap<number, number> = new Map();
  private lastCatchUp: { events: number; ms: number } | undefined;
  private readonly acks: TwinAcks;
  private readonly gate: CommitGate;
  private everUp = false;
  private announcedUnreachable = false;
  /** The link is announced up: a duplicate link taking over is no news; a drop resets it. */
  private announcedUp = false;
  /** See ReplicationStatus.twinClockAheadMs. */
  private twinClockAheadMs: number | null = null;
  /** Its catch-up is announced (a duplicate link that takes over catches up again, with nothing new). */
  private announcedCaughtUp = false;
  private stopped = false;
  private readonly quiet = new Map<string, { at: number; suppressed: number }>();
  private readonly applyLag = new ApplyLag();
  private readonly faults = new LinkFaults();
  /** Set while this log, put back by `tracker restore`, has not reached the twin (restored-log.ts). */
  private restored: RestoredMark | undefined;

  constructor(options: ReplicatorOptions) {
    this.id = options.id;
    this.twinId = options.twin.id;
    this.ledger = options.ledger;
    this.keys = options.keys;
    this.log = options.log;
    this.twinAck = options.twinAck ?? DEFAULT_TWIN_ACK;
    this.twinStateMin = options.twinStateMin;
    // The checker's thread stores catch-up frames into the log file (not an in-memory log).
    const { db } = options.ledger.store;
    this.checker = FrameChecker.create(db.memory ? undefined : db.name);
    this.address = `${options.twin.host}:${options.twin.port}`;
    this.url = `ws://${this.address}/replicate`;
    this.ledger.on('durable', (envelopes: Envelope[]) => this.link?.onDurable(envelopes));
    this.acks = new TwinAcks({
      lagging: (ms) => this.quietly('warn', 'lagging', { twin: this.twinId, waitedMs: ms }, `tracker ${this.twinId} did not acknowledge within ${ms} ms: the link is lagging, acknowledging on the local commit until it catches up`),
      lagOver: () => this.quietly('info', 'lag-over', { twin: this.twinId }, `tracker ${this.twinId} has caught up: commands wait for its ack again`),
    });
    this.restored = restoredMark(this.ledger.store);
    if (this.restored && options.twinLost) {
      this.log.warn({ twin: this.twinId, restoredFrom: this.restored }, `--twin-lost: this log, restored from ${this.restored.file}, accepts commands without reaching tracker ${this.twinId}; should tracker ${this.twinId} come back with newer events of this tracker, the two histories will differ`);
      clearRestored(this.ledger.store);
      this.restored = undefined;
    }
    this.gate = new CommitGate({
      behind: () => this.restored !== undefined || this.twinHoldsOwn() > this.ownMark(),
      refusal: `tracker ${this.id} is catching up with tracker ${this.twinId}; try again in a moment`,
    });
  }

  /** Starts dialling the twin. */
  start(): void {
    if (this.restored) {
      this.log.warn(
        { twin: this.twinId, restoredFrom: this.restored },
        `this log was restored from ${this.restored.file}: it accepts no command until tracker ${this.twinId} is reached and the events of this tracker newer than the backup are caught up (a command before would fork this tracker's history); if tracker ${this.twinId} is lost for good, restart with --twin-lost`,
      );
    }
    this.dial();
  }

  handleUpgrade(request: IncomingMessage, socket: Duplex, head: Buffer): void {
    const remote = `${request.socket.remoteAddress}:${request.socket.remotePort}`;
    if (this.stopped || this.pending.size >= MAX_PENDING_PEERS) {
      socket.end('HTTP/1.1 503 Service Unavailable\r\n\r\n');
      return;
    }
    this.server.handleUpgrade(request, socket, head, (ws) => this.adopt(ws, this.twinId, remote));
  }

  // ---- the barrier (executor) ----

  awaitReplicated(envelopes: readonly Envelope[]): Promise<void> {
    const link = this.link;
    if (!link?.up || this.acks.lagging || this.stopped) return Promise.resolve();
    let seq = 0;
    for (const e of envelopes) if (e.origin === this.id && e.seq > seq) seq = e.seq;
    if ((link.peerMarks.get(this.id) ?? 0) >= seq) return Promise.resolve();
    return this.acks.wait(seq);
  }

  holdCommits(): Promise<void> | undefined {
    return this.gate.hold();
  }

  /** Why clients are not served (a restored log that has not reached the twin), or undefined. */
  notServing(): string | undefined {
    if (!this.restored) return undefined;
    return `tracker ${this.id} was restored from a backup and serves nobody until it has reached tracker ${this.twinId}; use tracker ${this.twinId}`;
  }

  status(): ReplicationStatus {
    const local = new Map<number, number>();
    for (const [origin, mark] of this.ledger.originMarks()) local.set(origin, mark.seq);
    const peer = this.link?.up ? this.link.peerMarks : this.peerMarks;
    let lagEvents = 0;
    for (const origin of new Set([...local.keys(), ...peer.keys()])) lagEvents += Math.abs((local.get(origin) ?? 0) - (peer.get(origin) ?? 0));
    const link = this.link?.up ? 'up' : this.link || this.dialing || this.pending.size > 0 || !this.gate.settled ? 'connecting' : 'down';
    return {
      link,
      peer: { id: this.twinId, address: this.address },
      twinAck: this.twinAck,
      inSync: link === 'up' && lagEvents === 0 && !this.ledger.refolding && !this.ledger.awaitingTwinState,
      lagEvents: this.everUp ? lagEvents : null,
      localMarks: Object.fromEntries(local),
      peerMarks: Object.fromEntries(peer),
      caughtUp: this.lastCatchUp ?? null,
      lagging: this.acks.lagging,
      holdingCommits: !this.gate.open,
      refolding: this.ledger.refolding,
      applyLagMs: this.applyLag.summary(),
      problem: this.faults.current ?? null,
      restoredFrom: this.restored ?? null,
      twinClockAheadMs: this.twinClockAheadMs,
    };
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    clearTimeout(this.dialTimer);
    this.faults.linkDown();
    this.dialing?.terminate();
    for (const peer of [...this.pending, ...(this.link ? [this.link] : [])]) peer.shutdown();
    this.acks.releaseAll();
    this.gate.stop();
    this.server.close();
    await this.checker?.close();
  }

  // ---- PeerHost: what the peers report ----

  authenticated(peer: ReplicationPeer): boolean {
    this.pending.delete(peer);
    if (this.stopped) {
      peer.shutdown();
      return false;
    }
    const current = this.link;
    if (current && current !== peer) {
      // The same dialler again means it gave the old connection up: the new one wins.
      if (current.dialledBy < peer.dialledBy) {
        peer.fail('DUPLICATE_LINK', `the link dialled by tracker ${current.dialledBy} is already up`);
        return false;
      }
      this.link = peer; // set first, so closing `current` is not taken for the link dropping
      current.fail('DUPLICATE_LINK', `keeping the link dialled by tracker ${peer.dialledBy}`);
      this.acks.releaseAll();
    }
    this.link = peer;
    return true;
  }

  synced(peer: ReplicationPeer): void {
    if (peer !== this.link) return;
    this.attempt = 0;
    this.peerMarks = peer.peerMarks;
    this.announcedUnreachable = false;
    if (!this.announcedUp) {
      this.announce('info', 'up', { twin: this.twinId, remote: peer.remote, dialledBy: peer.dialledBy }, `replication link to tracker ${this.twinId} is ${this.everUp ? 'back' : 'up'}`);
      this.announcedUp = true;
    }
    this.everUp = true;
    const clockWasApart = this.twinClockAheadMs !== null && clocksApart(this.twinClockAheadMs);
    this.twinClockAheadMs = peer.twinClockAheadMs ?? null;
    if (this.twinClockAheadMs !== null && clocksApart(this.twinClockAheadMs) && !clockWasApart) {
      this.log.warn({ twin: this.twinId, twinClockAheadMs: this.twinClockAheadMs }, clockSkewWarning(this.twinId, this.twinClockAheadMs));
    }
    const own = this.ownMark();
    const theirs = peer.peerMarks.get(this.id) ?? 0;
    if (theirs > own) {
      this.announce('warn', 'behind', { twin: this.twinId, ownSeq: own, twinHolds: theirs }, `tracker ${this.twinId} holds events of this tracker's origin up to seq ${theirs} but the local log ends at ${own}: catching up before accepting commands`);
    }
    this.acks.linked(theirs, own, BATCH_EVENTS);
    this.faults.linkUp();
    this.leaveRestored();
    this.settle();
  }

  progress(peer: ReplicationPeer): void {
    if (peer !== this.link) return;
    this.acks.acked(peer.peerMarks.get(this.id) ?? 0, this.ownMark());
    this.leaveRestored();
    this.gate.recheck();
  }

  caughtUp(peer: ReplicationPeer, events: number, ms: number): void {
    if (peer !== this.link) return;
    this.lastCatchUp = { events, ms };
    if (!this.announcedCaughtUp || events > 0) this.announce('info', 'caught-up', { twin: this.twinId, events, ms }, `caught up with tracker ${this.twinId}: ${events} events in ${ms} ms`);
    this.announcedCaughtUp = true;
    this.leaveRestored();
    this.gate.recheck();
  }

  twinStateArrived(peer: ReplicationPeer, problem: string | undefined, chars: number, ms: number): void {
    if (peer !== this.link) return;
    if (problem) this.log.warn({ twin: this.twinId, problem }, `the state tracker ${this.twinId} sent ahead of the catch-up cannot be taken (${problem}): its events are folded here instead`);
    else this.log.info({ twin: this.twinId, chars, ms }, `tracker ${this.twinId} sent its state ahead of the catch-up (${chars} characters, read in ${ms} ms)`);
  }

  lag(ms: number, events: number): void {
    this.applyLag.add(ms, events);
  }

  closed(peer: ReplicationPeer, code: string, detail: string): void {
    this.pending.delete(peer);
    if (isRefusal(code)) {
      const inbound = peer.dialledBy !== this.id;
      this.quietly('warn', `refused:${code}:${inbound}`, { code, remote: peer.remote, detail }, inbound ? `refused a replication link from ${peer.remote}: ${code}` : `the replication link to tracker ${this.twinId} at ${peer.remote} was refused: ${code}`);
    } else if (isDrop(code)) {
      this.quietly('error', `dropped:${code}`, { code, detail }, `dropping the replication link: ${code}`);
    }
    // A stranger refused on an inbound connection says nothing about the link to the twin.
    if (peer === this.link || peer.dialledBy === this.id) this.faults.ended(code, detail);
    if (peer !== this.link) return;
    this.link = undefined;
    this.faults.linkDown();
    if (peer.wasUp) this.peerMarks = new Map(peer.peerMarks);
    this.acks.releaseAll();
    if (!this.stopped) {
      // Announced up, now down: also when a connection that took the link over (a
      // duplicate link) drops before the twin's marks came on it.
      if (this.announcedUp) this.announce('warn', 'down', { twin: this.twinId, code, detail }, `replication link to tracker ${this.twinId} is down; retrying in the background`);
      this.announcedUp = false;
      this.announcedCaughtUp = false;
      this.scheduleDial(this.faults.redialMs() ?? DIAL_BACKOFF_MS[0]);
    }
  }

  // ---- internals ----

  private adopt(ws: WebSocket, dialledBy: number, remote: string): ReplicationPeer {
    const peer = new ReplicationPeer(ws, dialledBy, remote, this);
    this.pending.add(peer);
    peer.start();
    return peer;
  }

  private dial(): void {
    if (this.stopped || this.link || this.dialing) return;
    const ws = new WebSocket(this.url, { handshakeTimeout: DIAL_TIMEOUT_MS, maxPayload: MAX_FRAME_BYTES, perMessageDeflate: false, generateMask: zeroMask });
    this.dialing = ws;
    let peer: ReplicationPeer | undefined;
    ws.once('open', () => (peer = this.adopt(ws, this.id, this.address)));
    ws.on('error', (error) => this.log.debug({ twin: this.twinId, err: error.message }, 'replication dial failed'));
    ws.once('close', () => {
      this.dialing = undefined;
      if (this.stopped || (this.link && this.link !== peer)) return; // another connection is the link
      if (!peer?.wasUp && !this.link) {
        this.settle();
        if (!this.everUp && !this.announcedUnreachable) {
          this.announcedUnreachable = true;
          this.log.info({ twin: this.twinId, address: this.address }, `tracker ${this.twinId} is not reachable yet; retrying in the background`);
        }
      }
      this.scheduleDial(this.faults.redialMs() ?? DIAL_BACKOFF_MS[Math.min(this.attempt++, DIAL_BACKOFF_MS.length - 1)]!);
    });
  }

  /** The link's up, down and behind lines: each time while the link is healthy, at most once a minute while it keeps failing. */
  private announce(level: 'info' | 'warn', key: string, fields: Record<string, unknown>, message: string): void {
    if (this.faults.current) this.quietly(level, `link-${key}`, fields, message);
    else this.log[level](fields, message);
  }

  /**
   * A restored log that has reached the twin, which holds no more of this origin than
   * the log now: its own history continues from here, and commands may go ahead.
   */
  private leaveRestored(): void {
    if (!this.restored || !this.link?.up || this.twinHoldsOwn() > this.ownMark()) return;
    clearRestored(this.ledger.store);
    this.log.info({ twin: this.twinId, restoredFrom: this.restored }, `reached tracker ${this.twinId} and caught up the events of this tracker newer than the backup: accepting commands`);
    this.restored = undefined;
  }

  private scheduleDial(ms: number): void {
    if (this.stopped || this.dialTimer) return;
    this.dialTimer = setTimeout(() => {
      this.dialTimer = undefined;
      this.dial();
    }, ms);
    this.dialTimer.unref();
  }

  private ownMark(): number {
    return this.ledger.originMarks().get(this.id)?.seq ?? 0;
  }

  /** How far the twin holds this tracker's origin, as last known (the marks outlive the link). */
  private twinHoldsOwn(): number {
    const known = this.link?.up ? this.link.peerMarks : this.peerMarks;
    return known.get(this.id) ?? 0;
  }

  /** The first attempt to reach the twin has settled: a link up, or a failed dial. */
  private settle(): void {
    this.gate.settle();
  }

  /** Logs a line at most once per REFUSAL_LOG_INTERVAL_MS per key, counting the rest. */
  private quietly(level: 'info' | 'warn' | 'error', key: string, fields: Record<string, unknown>, message: string): void {
    const now = performance.now();
    const seen = this.quiet.get(key);
    if (seen && now - seen.at < REFUSAL_LOG_INTERVAL_MS) {
      seen.suppressed += 1;
      return;
    }
    this.quiet.set(key, { at: now, suppressed: 0 });
    this.log[level]({ ...fields, notLoggedSinceLast: seen?.suppressed ?? 0 }, message);
  }
}
