/**
 * `tracker replay`: rebuilds the state from the first event, ignoring snapshots, and
 * prints its hash, the number of events and the time taken.
 *
 *   --to N            the events that had arrived here by local id N, folded in fold
 *                     order: the state this tracker held right after storing event #N
 *   --to ORIGIN:SEQ   the fold order up to and including that event
 *   --to <ISO time>   the fold order up to every event stamped at or before that time
 *   --verify          replays everything and compares: up to the newest snapshot's
 *                     position against that snapshot's hash, and the end against the
 *                     live projection (snapshot + tail, what the tracker serves).
 *                     Exits with EXIT_DAMAGED (2) if either differs.
 *
 * The fold is the one the ledger uses (events/log/fold.ts). A plain replay reads the log
 * on a worker thread while this thread folds (replay-reader.ts), in one read transaction:
 * one consistent point of the log even while the tracker appends. --verify reads all it
 * compares in one read transaction on one connection, so both sides see the same log.
 */
import { Command, Option } from 'commander';
import type { EventStore, Position } from '../../events/log/event-store.js';
import { foldEvents, foldFromSnapshot } from '../../events/log/fold.js';
import { stateHash } from '../../events/state-codec.js';
import { initialState, type State } from '../../events/state.js';
import { dataDirOf, EXIT_DAMAGED, openLogReadOnly, targetOptions, type TargetOptions } from './data-dir.js';
import { describePoint, findEvent, LOG_POINT_FORMS, parseLogPoint, positionAtEndOf, type LogPoint } from './log-point.js';
import { keyValues, printJson } from './output.js';
import { readConsistently } from './projection.js';
import { foldFileInParallel } from './replay-reader.js';

export interface ReplayOptions {
  readonly to?: LogPoint;
  readonly verify?: boolean;
}

export interface Comparison {
  readonly expected: string;
  readonly actual: string;
  readonly ok: boolean;
}

export interface ReplayReport {
  readonly events: number;
  readonly stateHash: string;
  readonly ms: number;
  readonly eventsPerSecond: number;
  readonly to: string | null;
  readonly last: Position | null;
  /** With verify: the replay at the newest snapshot's position against that snapshot (null: none). */
  readonly snapshot?: (Comparison & { readonly id: number; readonly position: string; readonly eventCount: number; readonly replayedCount: number }) | null;
  /** With verify: the whole replay against the live projection (newest snapshot + tail). */
  readonly projection?: Comparison;
  readonly ok: boolean;
}

/**
 * The replay itself: what the command prints and the bench times. A plain replay reads
 * the log on a worker thread while this one folds (replay-reader.ts); with `verify`
 * everything runs on this connection in one read transaction, so the replay and the
 * projection it is compared with see the very same log even while the tracker appends.
 */
export async function replayLog(store: EventStore, options: ReplayOptions = {}): Promise<ReplayReport> {
  if (!options.verify) {
    const started = performance.now();
    const range = rangeOf(store, options.to);
    const fold = await foldFileInParallel(store.db.name, initialState(), range);
    return report(fold.state, fold.last, performance.now() - started, options.to);
  }
  return readConsistently(store, () => replayAndCompare(store));
}

/** Replays everything, stopping at the newest snapshot's position to compare, then compares the end with the projection. */
function replayAndCompare(store: EventStore): ReplayReport {
  const started = performance.now();
  const state = initialState();
  const newest = store.latestSnapshot();
  let snapshot: ReplayReport['snapshot'] = null;
  let last: Position | undefined;
  if (newest) {
    last = foldEvents(store, state, { upTo: newest }).last;
    const actual = stateHash(state);
    snapshot = {
      id: newest.id,
      position: `${newest.origin}:${newest.seq}`,
      eventCount: newest.eventCount,
      replayedCount: state.eventCount,
      expected: newest.stateHash,
      actual,
      ok: actual === newest.stateHash && state.eventCount === newest.eventCount,
    };
  }
  last = foldEvents(store, state, { after: newest && { hlc: newest.hlc, origin: newest.origin, seq: newest.seq } }).last ?? last;
  const base = report(state, last, performance.now() - started, undefined);
  const live = stateHash(foldFromSnapshot(store, newest).state);
  const projection = { expected: live, actual: base.stateHash, ok: live === base.stateHash };
  return { ...base, snapshot, projection, ok: snapshot?.ok !== false && projection.ok };
}

function report(state: State, last: Position | undefined, ms: number, to: LogPoint | undefined): ReplayReport {
  return {
    events: state.eventCount,
    stateHash: stateHash(state),
    ms,
    eventsPerSecond: ms > 0 ? Math.round((state.eventCount * 1000) / ms) : state.eventCount,
    to: to ? describePoint(to) : null,
    last: last ?? null,
    ok: true,
  };
}

function rangeOf(store: EventStore, to: LogPoint | undefined): { upTo?: Position; maxId?: number } {
  if (!to) return {};
  if (to.kind === 'id') return { maxId: to.id };
  if (to.kind === 'event') return { upTo: findEvent(store, to.origin, to.seq) };
  return { upTo: positionAtEndOf(to.ms) };
}

export function replayCommand(): Command {
  return targetOptions(
    new Command('replay')
      .description('rebuild the state from the first event, ignoring snapshots; print its hash, the event count and the time taken')
      .addOption(new Option('--to <point>', `stop there (time travel): ${LOG_POINT_FORMS}`).argParser(parseLogPoint).conflicts('verify'))
      .option('--verify', 'also compare with the newest snapshot and with the live projection; exit 2 if either differs'),
  )
    .addHelpText(
      'after',
      [
        '',
        '--to N: the events that had arrived at this tracker by local id N (the `id` column), folded in fold order (hlc, origin, seq):',
        '        the state this tracker held right after it stored event #N.',
        '--to ORIGIN:SEQ: every event up to and including that one in fold order.',
        '--to 2025-06-01T12:00:00Z: every event stamped (by its hybrid logical clock) at or before that time.',
      ].join('\n'),
    )
    .action(async (options: TargetOptions & ReplayOptions) => {
      const store = openLogReadOnly(dataDirOf(options));
      let result: ReplayReport;
      try {
        result = await replayLog(store, options);
      } finally {
        void store.close();
      }
      if (options.json) printJson(result);
      else console.log(formatReplay(result));
      if (!result.ok) process.exitCode = EXIT_DAMAGED;
    });
}

function formatReplay(r: ReplayReport): string {
  const pairs: [string, string | number][] = [
    ['replayed', `${r.events} events in ${(r.ms / 1000).toFixed(2)} s (${r.eventsPerSecond.toLocaleString('en-US')} events/s), ignoring snapshots`],
    ['up to', r.to ?? 'the end of the log'],
    ['last event', r.last ? `${r.last.origin}:${r.last.seq}` : 'none'],
    ['state hash', r.stateHash],
  ];
  if (r.snapshot !== undefined) {
    const s = r.snapshot;
    pairs.push([
      'snapshot',
      s === null
        ? 'none to compare with'
        : s.ok
          ? `#${s.id} at ${s.position} matches the replay (${s.eventCount} events)`
          : `#${s.id} at ${s.position} DIFFERS: snapshot ${s.expected.slice(0, 12)} (${s.eventCount} events), replay ${s.actual.slice(0, 12)} (${s.replayedCount} events)`,
    ]);
  }
  if (r.projection) {
    pairs.push(['projection', r.projection.ok ? 'matches the replay (newest snapshot + tail)' : `DIFFERS: projection ${r.projection.expected.slice(0, 12)}, replay ${r.projection.actual.slice(0, 12)}`]);
  }
  if (r.snapshot !== undefined || r.projection) pairs.push(['verdict', r.ok ? 'ok' : 'MISMATCH: run `tracker verify` to find the damage']);
  return keyValues(pairs);
}
