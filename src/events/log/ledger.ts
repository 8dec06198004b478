/**
 * The ledger owns a tracker's folded state and its log. It promises:
 *
 * - Local commands: `commit` stamps events (origin, next seq, hlc, hash chain), folds
 *   them at once so the next command decides against them, and resolves only when they
 *   are durable. Commits that arrive in the same turn of the event loop share one
 *   SQLite transaction (group commit): one fsync for many acknowledgements.
 * - Remote events (replication): `applyRemote` stores those not yet held, durably, and
 *   folds them in the total order (hlc, origin, seq). One that sorts before events
 *   already folded triggers a re-fold from the newest snapshot before it, so trackers
 *   holding the same events hold the same state whatever the arrival order. During a
 *   catch-up that re-fold waits for the backlog's end (see applyRemote). A re-fold of
 *   BACKGROUND_REFOLD_MIN_EVENTS or more goes on in the background (`refolding`), and
 *   the state before it serves until it is done.
 * - Snapshots every `snapshotEvery` events, taken only when everything folded is
 *   durable, so `open` loads the newest snapshot and replays only the tail. Taken on a
 *   worker thread (Snapshotter), they are stored a part at a time between commands
 *   (SnapshotWriter), and emitted as 'snapshot' once stored.
 * - The twin's state (twin-state.ts): ahead of a big catch-up the twin may send its state
 *   (`stateForTwin` there, `expectTwinState` here); the catch-up's events are then
 *   stored without folding, and once the log holds exactly the events the state is of,
 *   it is stored as a snapshot and the re-fold that ends the catch-up starts from it.
 *
 * 'durable' is emitted with each batch of envelopes once it is on disk, in commit order
 * (a catch-up the twin holds durably: once it is in the log, see applyRemote's waitForDisk).
 * 'refold' (from) when a re-fold has replaced the state; one in the background
 * (BACKGROUND_REFOLD_MIN_EVENTS) is announced by 'refold-start' (from, events to fold).
 */
import { EventEmitter } from 'node:events';
import type { DomainEvent } from '../domain-events.js';
import { compareOrder, GENESIS_PREV, parseEnvelope, parseEventData, seal, type Envelope } from '../envelope.js';
import { nextHlc, observeHlc } from '../hlc.js';
import type { OriginTip, TwinState } from '../replication/twin-state.js';
import { decodeState, snapshotText, textHash } from '../state-codec.js';
import { evolve, initialState, type State } from '../state.js';
import type { EventStore, OriginMark, Position } from './event-store.js';
import { BackgroundRefold } from './background-refold.js';
import { foldEvents, PagedFold, type SnapshotAt } from './fold.js';
import { Snapshotter } from './snapshotter.js';
import { SnapshotWriter, type SnapshotToStore } from './snapshot-writer.js';
import { StateHasher, type StateHashReading } from './state-hasher.js';

/** Events between snapshots. Cheap with background snapshots; bounds the tail a restart replays. */
export const DEFAULT_SNAPSHOT_EVERY = 10_000;
/** Snapshots kept; older ones are pruned (a late event may need one before it). */
export const SNAPSHOTS_KEPT = 3;
/**
 * A re-fold of at least this many events goes on in the background, a slice of the event
 * loop at a time (BackgroundRefold): a million events take about 4 s to fold.
 */
export const BACKGROUND_REFOLD_MIN_EVENTS = 20_000;

export interface LedgerOptions {
  readonly origin: number;
  readonly snapshotEvery?: number;
  /** Take automatic snapshots on a worker thread (where the compiled worker exists). */
  readonly backgroundSnapshots?: boolean;
  /** Wall clock in ms; the only source of time. */
  readonly clock?: () => number;
  /** Re-folds of at least this many events go on in the background (default BACKGROUND_REFOLD_MIN_EVENTS). */
  readonly backgroundRefoldMin?: number;
}

export interface OpenStats {
  readonly snapshotEvents: number;
  readonly replayed: number;
  readonly ms: number;
}

/** Where a fold starts: a snapshot's position and event count, and its state decoded (the fold changes it). */
interface FoldStart {
  readonly at: Position;
  readonly eventCount: number;
  readonly state: State;
}

/** A stored snapshot as a fold's start. */
function startAt(snapshot: (SnapshotAt & { readonly eventCount: number }) | undefined): FoldStart | undefined {
  return snapshot && { at: { hlc: snapshot.hlc, origin: snapshot.origin, seq: snapshot.seq }, eventCount: snapshot.eventCount, state: decodeState(snapshot.state) };
}

interface Batch {
  readonly envelopes: Envelope[];
  readonly waiters: { resolve: () => void; reject: (e: unknown) => void }[];
}

export class Ledger extends EventEmitter {
  readonly origin: number;
  private state: State = initialState();
  private lastFolded: Position | undefined;
  private hlc = 0;
  private readonly marks = new Map<number, OriginMark>();
  private ownSeq = 0;
  private ownHash = GENESIS_PREV;
  private pending: Batch | undefined;
  private sinceSnapshot = 0;
  private readonly snapshotEvery: number;
  private snapshotter: Snapshotter | undefined;
  /** Stores the background snapshots and the twin's state a part at a time. */
  private readonly writer: SnapshotWriter;
  private readonly clock: () => number;
  private readonly backgroundSnapshots: boolean;
  private readonly hasher = new StateHasher(
    () => this.state,
    () => this.hashElsewhere(),
  );
  /**
   * Set while remote events are stored but not folded yet (a catch-up's re-fold waits
   * for its end): the earliest of them. The state then lacks them; no snapshot is taken.
   */
  private unfoldedFrom: Position | undefined;
  /**
   * Appends of remote events that another connection to the log is making (the frame
   * checker's thread, see EventInbox) and that are not applied here yet. The log may
   * then hold events beyond the marks: re-folds stop at the marks, and no snapshot is
   * taken (it would be of a position the log holds events before that the state lacks).
   */
  private appendsElsewhere = 0;
  /**
   * A re-fold going on in the background. The state it will replace goes on serving:
   * commands decide on it, and events that sort after all it holds are folded into it.
   */
  private refold: BackgroundRefold | undefined;
  private readonly backgroundRefoldMin: number;
  /** A state the twin sent ahead of a catch-up (expectTwinState), decoded, until it is taken or given up. */
  private expected: { readonly state: TwinState; readonly decoded: State } | undefined;
  private closed = false;

  constructor(
    readonly store: EventStore,
    options: LedgerOptions,
  ) {
    super();
    this.origin = options.origin;
    this.snapshotEvery = options.snapshotEvery ?? DEFAULT_SNAPSHOT_EVERY;
    this.backgroundSnapshots = options.backgroundSnapshots ?? false;
    this.clock = options.clock ?? Date.now;
    this.backgroundRefoldMin = options.backgroundRefoldMin ?? BACKGROUND_REFOLD_MIN_EVENTS;
    this.writer = new SnapshotWriter(store, this.clock, {
      stored: (snapshot) => this.snapshotStored(snapshot),
      failed: (message) => this.emit('snapshot-failed', message),
    });
  }

  /** Loads the newest snapshot and replays the log after it. */
  open(): OpenStats {
    const started = performance.now();
    this.store.dropUnpublishedSnapshots(); // the last run stopped while writing one
    const snapshotEvents = this.foldFrom(startAt(this.store.latestSnapshot()));
    this.takeMarks(this.store.originMarks());
    if (this.backgroundSnapshots) {
      this.snapshotter = Snapshotter.create(
        this.store.db.name,
        (result) => {
          this.hasher.offer(result.eventCount, result.hash);
          this.writer.write(result);
        },
        (message) => this.emit('snapshot-failed', message),
        (result) => this.hasher.offer(result.eventCount, result.hash),
      );
    }
    return { snapshotEvents, replayed: this.state.eventCount - snapshotEvents, ms: performance.now() - started };
  }

  /** The folded state. Read it; never change it. During a background re-fold, the state before it. */
  get current(): State {
    return this.state;
  }

  /** A re-fold is going on in the background: `current` lacks events that sort before some it holds. */
  get refolding(): boolean {
    return this.refold !== undefined;
  }

  /** A state from the twin waits for the events it is of (expectTwinState): `current` lacks them meanwhile. */
  get awaitingTwinState(): boolean {
    return this.expected !== undefined;
  }

  /** The state hash, recomputed only when events were folded since it was last asked for (StateHasher). */
  hash(): string {
    return this.hasher.hash();
  }

  /** The state hash for a monitor that may poll it in a tight loop (/health; StateHasher.recent). */
  recentHash(): StateHashReading {
    return this.hasher.recent();
  }

  /** Durable high-water mark per origin. */
  originMarks(): ReadonlyMap<number, OriginMark> {
    return this.marks;
  }

  /** Stamps (each with the command's key, if any), folds and durably appends the events of one command. */
  commit(events: readonly DomainEvent[], idem: string | null): Promise<Envelope[]> {
    if (events.length === 0) return Promise.resolve([]);
    const stamped: Envelope[] = [];
    for (const event of events) {
      this.hlc = nextHlc(this.hlc, this.clock());
      const envelope = seal({
        origin: this.origin,
        seq: this.ownSeq + 1,
        hlc: this.hlc,
        type: event.type,
        data: JSON.stringify(event.data),
        prev: this.ownHash,
        idem,
      });
      this.ownSeq = envelope.seq;
      this.ownHash = envelope.hash;
      this.fold(envelope, event);
      stamped.push(envelope);
    }
    if (!this.pending) {
      this.pending = { envelopes: [], waiters: [] };
      setImmediate(() => this.flush());
    }
    this.pending.envelopes.push(...stamped);
    const batch = this.pending;
    return new Promise((resolve, reject) => batch.waiters.push({ resolve: () => resolve(stamped), reject }));
  }

  /** Resolves once everything folded so far is durable (what a read waits for). */
  whenDurable(): Promise<void> {
    const batch = this.pending;
    if (!batch) return Promise.resolve();
    return new Promise((resolve, reject) => batch.waiters.push({ resolve, reject }));
  }

  /** Writes the pending batch now. A failed write leaves memory ahead of disk: fatal. */
  flush(): void {
    const batch = this.pending;
    if (!batch) return;
    this.pending = undefined;
    try {
      this.store.append(batch.envelopes);
    } catch (error) {
      for (const w of batch.waiters) w.reject(error);
      this.emit('fatal', error);
      return;
    }
    this.noteDurable(batch.envelopes);
    for (const w of batch.waiters) w.resolve();
    this.maybeSnapshot();
  }

  /**
   * Stores and folds events from another tracker. Each must be well-formed (hash, schema)
   * and continue its origin's chain (next seq, matching prev); those already held are
   * skipped. Throws ChainError, changing nothing, on the first bad one. Returns the new ones.
   *
   * `catchingUp`: more of a backlog follows at once, and the caller promises a call
   * without it (or foldDeferred) at its end. Snapshots wait for that: the snapshot worker
   * would fold the whole backlog a second time alongside, on a CPU the catch-up needs,
   * for snapshots the next batch makes old. A restart during a catch-up replays the
   * events since the last snapshot (about 3 s per million). So does a re-fold: events
   * that sort before folded ones (the receiver holds later events, say of its own origin
   * after a partition) are stored, and the backlog's events after them only stored too,
   * and folded in one re-fold at the end. A re-fold per batch would fold everything
   * since that snapshot again for every batch: 600,000 events took 95 s that way, and
   * blocked the event loop past the link's heartbeat timeout.
   *
   * `fieldsChecked`: every envelope already passed checkEnvelopeFields (its hash, on a
   * worker thread: frame-checker.ts), so only its data's schema is checked here.
   *
   * `waitForDisk: false`: the commit does not wait for the disk (EventStore.append). For
   * events the twin held durably before the link came up, which no client waits for.
   *
   * `inLog`: another connection already appended exactly these envelopes
   * (EventStore.appendContinuation, announced with appendingElsewhere): they are checked
   * and folded, not stored again.
   */
  applyRemote(envelopes: readonly Envelope[], { catchingUp = false, fieldsChecked = false, waitForDisk = true, inLog = false } = {}): Envelope[] {
    this.flush(); // a re-fold reads the log, so local events must be in it first
    const fresh: Envelope[] = [];
    /** The domain event of each fresh envelope (same index), its data parsed once. */
    const events: DomainEvent[] = [];
    /** Per origin, the last event accepted so far (this batch's tip, else the durable mark). */
    const tips = new Map<number, { seq: number; hash: string }>();
    let inFoldOrder = true;
    for (const e of envelopes) {
      const checked = fieldsChecked ? parseEventData(e) : parseEnvelope(e);
      if (typeof checked === 'string') throw new ChainError(`origin ${String(e.origin)} seq ${String(e.seq)}: ${checked}`);
      const tip = tips.get(e.origin) ?? this.marks.get(e.origin);
      if (tip && e.seq === tip.seq && e.hash !== tip.hash) throw new ChainError(`origin ${e.origin} seq ${e.seq}: differs from the event held here (forked history)`);
      if (tip && e.seq <= tip.seq) continue;
      const expected = (tip?.seq ?? 0) + 1;
      if (e.seq !== expected) throw new ChainError(`origin ${e.origin}: expected seq ${expected}, got ${e.seq}`);
      if (e.prev !== (tip?.hash ?? GENESIS_PREV)) throw new ChainError(`origin ${e.origin} seq ${e.seq}: prev hash does not continue the chain`);
      const mine = tips.get(e.origin);
      if (mine) {
        mine.seq = e.seq;
        mine.hash = e.hash;
      } else {
        tips.set(e.origin, { seq: e.seq, hash: e.hash });
      }
      if (fresh.length > 0 && compareOrder(fresh[fresh.length - 1]!, e) > 0) inFoldOrder = false;
      fresh.push(e);
      events.push(checked);
    }
    if (fresh.length === 0) return fresh;
    if (inLog) this.store.appendedElsewhere(fresh.length);
    else this.store.append(fresh, { waitForDisk });
    this.noteDurable(fresh);
    // A catch-up streams in fold order: then fresh needs no sort.
    const order = inFoldOrder ? undefined : fresh.map((_, i) => i).sort((a, b) => compareOrder(fresh[a]!, fresh[b]!));
    const first = fresh[order ? order[0]! : 0]!;
    const cursor = this.refold?.cursor;
    if (cursor && compareOrder(first, cursor) <= 0) {
      // The background re-fold read past where these go: it starts over (deferred below, with them).
      const { from } = this.refold!;
      this.cancelRefold();
      this.deferRefold(from);
    }
    const late = this.expected !== undefined || this.unfoldedFrom !== undefined || (this.lastFolded !== undefined && compareOrder(first, this.lastFolded) < 0);
    if (late && this.refold && !this.expected) {
      // After the background re-fold's cursor: it folds them; the old state goes without.
    } else if (late) {
      this.deferRefold(first);
      // The twin's state is taken once its events are all here, however many more follow.
      if (this.expected ? this.holdsTips(this.expected.state) : !catchingUp) this.foldDeferred();
    } else if (order) {
      for (const i of order) this.fold(fresh[i]!, events[i]!);
    } else {
      for (let i = 0; i < fresh.length; i++) this.fold(fresh[i]!, events[i]!);
    }
    for (const e of fresh) this.hlc = observeHlc(this.hlc, e.hlc);
    const own = tips.get(this.origin);
    if (own) {
      this.ownSeq = own.seq;
      this.ownHash = own.hash;
    }
    if (!catchingUp) this.maybeSnapshot();
    return fresh;
  }

  /**
   * Folds what a catch-up stored without folding (applyRemote's `catchingUp`), in one
   * re-fold: applyRemote does at the backlog's end, a caller whose backlog ended early
   * (its link dropped) calls it itself. A no-op when nothing waits.
   */
  foldDeferred(): void {
    if (this.closed || this.takeTwinState()) return;
    if (!this.unfoldedFrom) return;
    this.flush(); // the re-fold reads the log: local events must be in it
    this.refoldFrom(this.unfoldedFrom);
  }

  /**
   * The folded state for the twin, ahead of its catch-up (twin-state.ts): undefined
   * unless it is the fold of exactly the events within the marks (nothing waits to be
   * folded or re-folded, and local commits are written first). Writing its text holds
   * the event loop: about 0.3 s for a million events' state.
   */
  stateForTwin(): TwinState | undefined {
    this.flush();
    if (this.closed || this.refold || this.unfoldedFrom || this.expected || this.appendsElsewhere > 0 || !this.lastFolded) return undefined;
    const tips = new Map<number, OriginTip>();
    let count = 0;
    let at: Position | undefined;
    for (const [origin, mark] of this.marks) {
      tips.set(origin, { seq: mark.seq, hash: mark.hash });
      count += mark.seq;
      const tip = { hlc: mark.hlc, origin, seq: mark.seq };
      if (!at || compareOrder(tip, at) > 0) at = tip;
    }
    if (!at || count !== this.state.eventCount || compareOrder(at, this.lastFolded) !== 0) return undefined;
    const text = snapshotText(this.state);
    return { at, count, tips, text, hash: textHash(text) };
  }

  /**
   * A state the twin sent ahead of a catch-up (its stateForTwin). From now on remote
   * events are stored and not folded; once the log holds every event up to the state's
   * tips (the same events: the tips' hashes match) and no other that sorts before its
   * last, it is taken as their fold: stored as a snapshot, and only the events after it
   * are folded here. Should the log hold an event the state lacks (a local commit that
   * sorts among them, say), or should the catch-up end first (foldDeferred), it is
   * dropped and the events are folded here after all. Returns what is wrong with the
   * state, if anything (it is then not expected). Its text's hash was checked on arrival
   * (StateAssembly).
   */
  expectTwinState(twin: TwinState): string | undefined {
    if (this.closed) return 'the log is closed';
    let count = 0;
    for (const tip of twin.tips.values()) count += tip.seq;
    if (count !== twin.count) return `the state says it holds ${twin.count} events, its tips ${count}`;
    let decoded: State;
    try {
      decoded = decodeState(JSON.parse(twin.text));
    } catch (error) {
      return `the state cannot be read: ${error instanceof Error ? error.message : String(error)}`;
    }
    if (decoded.eventCount !== twin.count) return `the state is of ${decoded.eventCount} events, not ${twin.count}`;
    this.expected = { state: twin, decoded };
    return undefined;
  }

  /** The log holds every event up to a twin state's tips. */
  private holdsTips(twin: TwinState): boolean {
    for (const [origin, tip] of twin.tips) if ((this.marks.get(origin)?.seq ?? 0) < tip.seq) return false;
    return true;
  }

  /**
   * Takes the expected twin state if its events are all here and the log holds no other
   * that sorts before its last; gives it up otherwise. Emits 'twin-state' (taken, detail).
   */
  private takeTwinState(): boolean {
    const expected = this.expected;
    if (!expected) return false;
    const started = performance.now();
    this.expected = undefined;
    const twin = expected.state;
    this.flush(); // local commits are in the log, for the check and the re-fold
    const problem = this.holdsTips(twin) ? this.logDiffersFrom(twin) : 'the catch-up ended before its events were all here';
    if (problem) {
      this.emit('twin-state', false, problem);
      return false;
    }
    this.writer.write({ upTo: twin.at, eventCount: twin.count, hash: twin.hash, state: twin.text });
    this.refoldFrom({ hlc: twin.at.hlc, origin: twin.at.origin, seq: twin.at.seq + 1 }, { at: twin.at, eventCount: twin.count, state: expected.decoded });
    this.emit('twin-state', true, `${twin.count} events, taken in ${Math.round(performance.now() - started)} ms`);
    return true;
  }

  /** Why the log's events up to the twin state's last are not exactly those it is the fold of, if they are not. */
  private logDiffersFrom(twin: TwinState): string | undefined {
    for (const [origin, tip] of twin.tips) {
      if (this.store.ofOrigin(origin, tip.seq - 1, 1)[0]?.hash !== tip.hash) return `origin ${origin} seq ${tip.seq} differs from the state's`;
    }
    for (const origin of this.store.origins()) {
      const next = this.store.ofOrigin(origin, twin.tips.get(origin)?.seq ?? 0, 1)[0];
      if (next && compareOrder(next, twin.at) <= 0) return `the log holds origin ${origin} seq ${next.seq}, which the state lacks and which sorts before its last event`;
    }
    return undefined;
  }

  /**
   * Another connection is about to append remote events to the log that this ledger
   * will apply with `inLog` (EventInbox, frame-checker.ts). Until the returned function
   * is called (once they are applied, or known not to be stored), the log may hold
   * events beyond the marks.
   */
  appendingElsewhere(): () => void {
    this.appendsElsewhere += 1;
    this.snapshotter?.abandonJob();
    let done = false;
    return () => {
      if (done) return;
      done = true;
      this.appendsElsewhere -= 1;
    };
  }

  /**
   * Takes up what another connection appended and this ledger was not told of (their
   * answer was lost: the link that brought the events dropped first). The caller has
   * stopped further appends elsewhere; this waits for one in progress, then takes the
   * log's marks and folds the events beyond its own, in one re-fold. Returns how many.
   */
  adoptLogTail(): number {
    if (this.closed) return 0;
    this.flush();
    this.store.waitForOtherWriters();
    const inLog = this.store.originMarks();
    let first: Envelope | undefined;
    let adopted = 0;
    for (const [origin, mark] of inLog) {
      const held = this.marks.get(origin)?.seq ?? 0;
      if (mark.seq <= held) continue;
      const next = this.store.ofOrigin(origin, held, 1)[0]!;
      if (!first || compareOrder(next, first) < 0) first = next;
      adopted += mark.seq - held;
    }
    if (!first) return 0;
    this.takeMarks(inLog);
    this.deferRefold(first);
    this.foldDeferred();
    return adopted;
  }

  /** The log's marks become the ledger's: its own chain's tip and the clock follow them. */
  private takeMarks(inLog: ReadonlyMap<number, OriginMark>): void {
    for (const [origin, mark] of inLog) this.marks.set(origin, mark);
    const own = this.marks.get(this.origin);
    this.ownSeq = own?.seq ?? 0;
    this.ownHash = own?.hash ?? GENESIS_PREV;
    this.hlc = observeHlc(this.hlc, this.store.maxHlc());
  }

  /** Takes a snapshot of the folded state now, if everything folded is durable. */
  snapshot(): boolean {
    this.flush();
    this.foldDeferred();
    this.finishRefold();
    if (!this.lastFolded || this.appendsElsewhere > 0) return false;
    const text = snapshotText(this.state);
    this.store.saveSnapshot(this.lastFolded, this.state.eventCount, textHash(text), text, this.clock());
    this.store.pruneSnapshots(SNAPSHOTS_KEPT);
    this.sinceSnapshot = 0;
    this.emit('snapshot', this.lastFolded, this.state.eventCount);
    return true;
  }

  private fold(e: Envelope, event: DomainEvent): void {
    evolve(this.state, event, e);
    this.lastFolded = e;
    this.sinceSnapshot += 1;
  }

  private noteDurable(envelopes: readonly Envelope[]): void {
    // Each origin's mark is its last envelope here: one mark object per origin, not per event.
    const lastOf = new Map<number, Envelope>();
    for (const e of envelopes) lastOf.set(e.origin, e);
    for (const e of lastOf.values()) this.marks.set(e.origin, { seq: e.seq, hash: e.hash, hlc: e.hlc });
    this.emit('durable', envelopes);
  }

  private maybeSnapshot(): void {
    if (this.sinceSnapshot < this.snapshotEvery || this.pending || this.unfoldedFrom || this.refold || this.appendsElsewhere > 0 || !this.lastFolded) return;
    if (!this.snapshotter) {
      this.snapshot();
    } else if (!this.snapshotter.busy) {
      this.snapshotter.request(this.lastFolded, this.state.eventCount);
      this.sinceSnapshot = 0;
    }
  }

  /**
   * Asks the snapshot worker for the hash of the state as it is (StateHasher.recent), so
   * that /health never spends this thread on a big state's hash while it has an older
   * one to give. True if one is on its way or will be asked for at the next call; false
   * where the worker cannot fold this state (no worker, or the log holds events the state
   * lacks): the state is then hashed here.
   */
  private hashElsewhere(): boolean {
    const snapshotter = this.snapshotter;
    if (!snapshotter) return false;
    if (snapshotter.busy || this.pending) return true; // the job under way answers first; commits in flight are asked for next time
    if (this.unfoldedFrom || this.refold || this.expected || this.appendsElsewhere > 0 || !this.lastFolded) return false;
    snapshotter.requestHash(this.lastFolded, this.state.eventCount);
    return true;
  }

  /** A background snapshot (or the twin's state) is stored: it is consistent with the durable log. */
  private snapshotStored(snapshot: SnapshotToStore): void {
    this.store.pruneSnapshots(SNAPSHOTS_KEPT);
    this.emit('snapshot', snapshot.upTo, snapshot.eventCount);
  }

  /**
   * Stops the snapshot worker (an unfinished background snapshot is dropped). From now
   * on nothing is re-folded or adopted: the log holds it all, and the next open folds it.
   */
  async close(): Promise<void> {
    this.closed = true;
    this.expected = undefined;
    this.cancelRefold();
    this.writer.close();
    await this.snapshotter?.stop();
    this.snapshotter = undefined;
  }

  /**
   * Rebuilds the state from `start`, else the newest snapshot that sorts before `from`, with the
   * events within the marks (not those another connection appended and this ledger has
   * not applied yet: appendingElsewhere).
   */
  private refoldFrom(from: Position, start?: FoldStart): void {
    const running = this.refold;
    if (running) {
      this.cancelRefold();
      // A given start holds everything before `from`, the running re-fold's late events too.
      if (!start && compareOrder(running.from, from) < 0) from = running.from;
    }
    this.dropSnapshotsFrom(from);
    this.unfoldedFrom = undefined;
    const snapshot = start ?? startAt(this.store.latestSnapshot(from));
    const snapshotEvents = snapshot?.eventCount ?? 0;
    if (this.eventsWithinMarks() - snapshotEvents < this.backgroundRefoldMin) {
      this.foldFrom(snapshot, this.marks);
      this.emit('refold', from);
      return;
    }
    const job: BackgroundRefold = new BackgroundRefold(from, new PagedFold(this.store, snapshot?.state ?? initialState(), snapshot?.at), snapshotEvents, {
      marks: this.marks,
      writePending: () => {
        if (!this.pending) return false;
        this.flush();
        return true;
      },
      replace: (state, last) => {
        this.refold = undefined;
        this.state = state;
        this.lastFolded = last;
        this.sinceSnapshot = state.eventCount - job.snapshotEvents;
        this.hasher.forget();
        this.emit('refold', job.from);
        this.maybeSnapshot();
      },
    });
    this.refold = job;
    this.emit('refold-start', from, this.eventsWithinMarks() - snapshotEvents);
  }

  /** Ends a background re-fold now, on this turn of the event loop. */
  finishRefold(): void {
    this.refold?.finish();
  }

  private cancelRefold(): void {
    this.refold?.cancel();
    this.refold = undefined;
  }

  /** How many events the log holds within the marks (each origin's seqs run from 1). */
  private eventsWithinMarks(): number {
    let n = 0;
    for (const mark of this.marks.values()) n += mark.seq;
    return n;
  }

  /**
   * Events from `from` on are stored and will be folded by one re-fold (foldDeferred or
   * the backlog's last applyRemote). Snapshots after `from` go at once: they lack these
   * events, and a restart meanwhile must not load one.
   */
  private deferRefold(from: Position): void {
    if (this.unfoldedFrom && compareOrder(this.unfoldedFrom, from) <= 0) return;
    this.dropSnapshotsFrom(from);
    this.unfoldedFrom = { hlc: from.hlc, origin: from.origin, seq: from.seq };
  }

  private dropSnapshotsFrom(from: Position): void {
    this.snapshotter?.lateEvent(from);
    this.writer.dropFrom(from);
    this.store.dropSnapshotsFrom(from);
  }

  /** Resets to a snapshot (or the empty state) and folds every event after it (within `marks`, if given). */
  private foldFrom(snapshot: FoldStart | undefined, marks?: ReadonlyMap<number, { readonly seq: number }>): number {
    const state = snapshot?.state ?? initialState();
    const last = foldEvents(this.store, state, { within: marks, after: snapshot?.at }).last ?? snapshot?.at;
    this.state = state;
    this.lastFolded = last;
    this.hasher.forget();
    // The replayed tail counts toward the next snapshot, so the tail never exceeds snapshotEvery.
    this.sinceSnapshot = state.eventCount - (snapshot?.eventCount ?? 0);
    return snapshot?.eventCount ?? 0;
  }
}

/** Remote events that do not continue an origin's chain: the sender is out of step. */
export class ChainError extends Error {
  readonly code = 'CHAIN_BROKEN';
}
