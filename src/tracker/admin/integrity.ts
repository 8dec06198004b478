/**
 * Integrity of a tracker's log: is every event what its origin wrote, and is every
 * snapshot the fold of the events before it?
 *
 * `verifyLog` is the full check (`tracker verify`): every origin's hash chain (each
 * event's hash recomputed, each prev pointing at the hash of seq - 1, seqs 1, 2, 3, ...
 * with no gaps), every envelope's schema (checkEnvelope), and every snapshot against a
 * replay of the log up to its position. Its cost grows with the log.
 *
 * `checkAtStart` is what a tracker checks before it serves, cheap and decisive for what
 * start-up trusts: each origin's seqs are 1..count (no gaps) and its tip is intact; the
 * newest snapshot's body hashes to its recorded hash and its event count matches the log;
 * and every event after it (the tail the ledger is about to fold) is checked like
 * `verifyLog` does, chained to the event before it. What it does not do is re-read the
 * events under the snapshot: that is `tracker verify`'s job.
 *
 * Both report the first problem found, naming the event (origin:seq and local id) or
 * the snapshot.
 */
import { checkEnvelope, GENESIS_PREV, type Envelope } from '../../events/envelope.js';
import type { EventStore, Position, SnapshotRow } from '../../events/log/event-store.js';
import { foldEvents } from '../../events/log/fold.js';
import { decodeState, STATE_VERSION, stateHash, textHash } from '../../events/state-codec.js';
import { initialState } from '../../events/state.js';
import { readConsistently } from './projection.js';

export type Problem =
  | { readonly kind: 'event'; readonly origin: number; readonly seq: number; readonly id: number; readonly message: string }
  | { readonly kind: 'snapshot'; readonly id: number; readonly at: Position; readonly message: string };

export interface Verdict {
  readonly ok: boolean;
  readonly problem: Problem | undefined;
  /** Events whose envelope and chain link were checked. */
  readonly eventsChecked: number;
  readonly snapshotsChecked: number;
  readonly ms: number;
}

interface EventRow extends Envelope {
  readonly id: number;
}

const EVENT_COLUMNS = 'id, origin, seq, hlc, type, data, prev, hash, idem';
type RawRow = [number, number, number, number, Envelope['type'], string, string, string, string | null];

/** Rows as arrays (cheaper than row objects over millions), each made into one envelope object. */
function* eventRows(rows: IterableIterator<unknown>): Generator<EventRow> {
  for (const r of rows as IterableIterator<RawRow>) yield { id: r[0], origin: r[1], seq: r[2], hlc: r[3], type: r[4], data: r[5], prev: r[6], hash: r[7], idem: r[8] };
}

export function describeProblem(p: Problem): string {
  return p.kind === 'event'
    ? `event ${p.origin}:${p.seq} (local id ${p.id}): ${p.message}`
    : `snapshot #${p.id} at ${p.at.origin}:${p.at.seq} (hlc ${p.at.hlc}): ${p.message}`;
}

/**
 * Follows each origin's chain through events fed to it in that origin's seq order.
 * Where a chain is entered in the middle (the tail after a snapshot), `predecessor`
 * supplies the event before, which is checked too.
 */
class ChainChecker {
  private readonly tips = new Map<number, { seq: number; hash: string }>();
  checked = 0;

  constructor(private readonly predecessor?: (origin: number, seq: number) => EventRow | undefined) {}

  check(e: EventRow): Problem | undefined {
    const bad = (message: string, at: EventRow = e): Problem => eventProblem(at, message);
    this.checked += 1;
    const problem = checkEnvelope(e);
    if (problem) return bad(problem);
    let tip = this.tips.get(e.origin);
    if (!tip && this.predecessor && e.seq > 1) {
      const before = this.predecessor(e.origin, e.seq - 1);
      if (!before) return bad(`seq ${e.seq - 1} before it is missing`);
      const broken = checkEnvelope(before);
      if (broken) return bad(broken, before);
      tip = { seq: before.seq, hash: before.hash };
    }
    tip ??= { seq: 0, hash: GENESIS_PREV };
    if (e.seq !== tip.seq + 1) {
      return bad(tip.seq === 0 ? `the chain of origin ${e.origin} starts at seq ${e.seq}, not 1` : `seq ${e.seq} follows seq ${tip.seq}: ${gap(tip.seq + 1, e.seq - 1)} missing`);
    }
    if (e.prev !== tip.hash) return bad(`prev does not match the hash of ${e.origin}:${tip.seq}: the chain is broken here`);
    this.tips.set(e.origin, { seq: e.seq, hash: e.hash });
    return undefined;
  }
}

/** The full check: every event and every snapshot. */
export function verifyLog(store: EventStore): Verdict {
  const started = performance.now();
  return readConsistently(store, () => {
    const chains = new ChainChecker();
    let problem: Problem | undefined;
    for (const e of eventRows(store.db.prepare(`SELECT ${EVENT_COLUMNS} FROM events ORDER BY origin, seq`).raw(true).iterate())) {
      problem = chains.check(e);
      if (problem) break;
    }
    let snapshotsChecked = 0;
    if (!problem) {
      const snapshots = store.listSnapshots().sort((a, b) => a.hlc - b.hlc || a.origin - b.origin || a.seq - b.seq || a.id - b.id);
      const state = initialState();
      let after: Position | undefined;
      for (const s of snapshots) {
        foldEvents(store, state, { after, upTo: s });
        after = { hlc: s.hlc, origin: s.origin, seq: s.seq };
        snapshotsChecked += 1;
        problem = checkSnapshot(store, s, { eventCount: state.eventCount, hash: stateHash(state) });
        if (problem) break;
      }
    }
    return { ok: !problem, problem, eventsChecked: chains.checked, snapshotsChecked, ms: performance.now() - started };
  });
}

/** The cheap check a tracker runs before it serves. */
export function checkAtStart(store: EventStore): Verdict {
  const started = performance.now();
  return readConsistently(store, () => {
    const byOriginSeq = store.db.prepare(`SELECT ${EVENT_COLUMNS} FROM events WHERE origin = ? AND seq = ?`);
    const eventAt = (origin: number, seq: number) => byOriginSeq.get(origin, seq) as EventRow | undefined;
    const done = (problem: Problem | undefined, eventsChecked: number, snapshotsChecked: number): Verdict => ({
      ok: !problem,
      problem,
      eventsChecked,
      snapshotsChecked,
      ms: performance.now() - started,
    });

    // Every chain starts at seq 1, and since UNIQUE(origin, seq) allows no duplicates, the
    // log has no gap anywhere exactly when it holds sum(last) events: index seeks and one count.
    const origins = store.origins().map((origin) => ({ origin, ...store.seqRange(origin) }));
    const total = store.count();
    for (const o of origins) {
      if (o.first === 1) continue;
      const first = eventAt(o.origin, o.first)!;
      return done(eventProblem(first, `the chain of origin ${o.origin} starts at seq ${o.first}, not 1`), 0, 0);
    }
    if (origins.reduce((sum, o) => sum + o.last, 0) !== total) {
      for (const o of origins) {
        const before = lastSeqBeforeGap(store, o.origin);
        if (before === o.last) continue;
        const next = store.db.prepare(`SELECT ${EVENT_COLUMNS} FROM events WHERE origin = ? AND seq > ? ORDER BY seq LIMIT 1`).get(o.origin, before) as EventRow;
        return done(eventProblem(next, `seq ${next.seq} follows seq ${before}: ${gap(before + 1, next.seq - 1)} missing`), 0, 0);
      }
    }

    // The newest snapshot: what start-up loads instead of re-reading the events under it.
    // Its stored text is the canonical form, so its SHA-256 must be the recorded state hash:
    // one hash over the text, no decoding (see snapshotText).
    const latest = store.latestSnapshotText();
    let snapshotProblem: Problem | undefined;
    if (latest) {
      const at = { hlc: latest.hlc, origin: latest.origin, seq: latest.seq };
      if (textHash(latest.state) !== latest.stateHash || !latest.state.startsWith(`{"v":${STATE_VERSION},"eventCount":${latest.eventCount},`)) {
        snapshotProblem = { kind: 'snapshot', id: latest.id, at, message: 'its stored state does not hash to its recorded state hash: the snapshot is damaged' };
      } else if (!eventAt(latest.origin, latest.seq)) {
        snapshotProblem = { kind: 'snapshot', id: latest.id, at, message: `its position ${latest.origin}:${latest.seq} is not an event in this log` };
      }
      if (snapshotProblem) return done(snapshotProblem, 0, 1);
    }

    // The tail, in fold order (within one origin that is seq order), chained to what is before it.
    const chains = new ChainChecker(eventAt);
    const where = latest ? 'WHERE (hlc, origin, seq) > (?, ?, ?)' : '';
    const tail = store.db.prepare(`SELECT ${EVENT_COLUMNS} FROM events ${where} ORDER BY hlc, origin, seq`).raw(true);
    const rows = eventRows(latest ? tail.iterate(latest.hlc, latest.origin, latest.seq) : tail.iterate());
    let tailCount = 0;
    const tailOrigins = new Set<number>();
    for (const e of rows) {
      tailCount += 1;
      tailOrigins.add(e.origin);
      const problem = chains.check(e);
      if (problem) return done(problem, chains.checked, latest ? 1 : 0);
    }
    if (latest && latest.eventCount !== total - tailCount) {
      const at = { hlc: latest.hlc, origin: latest.origin, seq: latest.seq };
      return done({ kind: 'snapshot', id: latest.id, at, message: `it holds ${latest.eventCount} events but the log has ${total - tailCount} at or before its position` }, chains.checked, 1);
    }

    // Tips not in the tail: the hash the next event of that origin will chain to.
    for (const o of origins) {
      if (tailOrigins.has(o.origin)) continue;
      const tip = eventAt(o.origin, o.last)!;
      const problem = checkEnvelope(tip);
      if (problem) return done(eventProblem(tip, problem), chains.checked + 1, latest ? 1 : 0);
    }
    return done(undefined, chains.checked, latest ? 1 : 0);
  });
}

/** A snapshot agrees with the replay to its position, and its body with its hash. */
function checkSnapshot(store: EventStore, s: SnapshotRow, replayed: { eventCount: number; hash: string }): Problem | undefined {
  const at = { hlc: s.hlc, origin: s.origin, seq: s.seq };
  if (replayed.eventCount !== s.eventCount) return { kind: 'snapshot', id: s.id, at, message: `it holds ${s.eventCount} events but the log has ${replayed.eventCount} up to its position` };
  if (replayed.hash !== s.stateHash) return { kind: 'snapshot', id: s.id, at, message: `its state hash ${short(s.stateHash)} differs from the replay's ${short(replayed.hash)}` };
  if (stateHash(decodeState(store.snapshotState(s.id))) !== s.stateHash) {
    return { kind: 'snapshot', id: s.id, at, message: 'its stored state does not hash to its recorded state hash: the snapshot is damaged' };
  }
  return undefined;
}

/** In a chain that has seq 1 but a gap: the last seq before the first gap. */
function lastSeqBeforeGap(store: EventStore, origin: number): number {
  const row = store.db
    .prepare(
      `SELECT e.seq FROM events e WHERE e.origin = ? AND NOT EXISTS (SELECT 1 FROM events f WHERE f.origin = e.origin AND f.seq = e.seq + 1)
       ORDER BY e.seq LIMIT 1`,
    )
    .get(origin) as { seq: number };
  return row.seq;
}

function eventProblem(e: EventRow, message: string): Problem {
  return { kind: 'event', origin: e.origin, seq: e.seq, id: e.id, message };
}

function gap(from: number, to: number): string {
  return from === to ? `seq ${from} is` : `seqs ${from}..${to} are`;
}

function short(hash: string): string {
  return hash.slice(0, 12);
}
