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
 * The fold is the one the ledger uses (events/log/fold.ts), fast enough for millions of
 * events. Everything is read in one read transaction, so a running tracker's appends
 * during the replay do not skew the comparison.
 */
import { Command, Option } from 'commander';
import type { EventStore, Position } from '../../events/log/event-store.js';
import { foldEvents, foldFromSnapshot } from '../../events/log/fold.js';
import { stateHash } from '../../events/state-codec.js';
import { initialState } from '../../events/state.js';
import { dataDirOf, EXIT_DAMAGED, openLogReadOnly, targetOptions, type TargetOptions } from './data-dir.js';
import { describePoint, findEvent, LOG_POINT_FORMS, parseLogPoint, positionAtEndOf, type LogPoint } from './log-point.js';
import { keyValues, printJson } from './output.js';
import { readConsistently } from './projection.js';

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

/** The replay itself: what the command prints and the bench times. */
export function replayLog(store: EventStore, options: ReplayOptions = {}): ReplayReport {
  return readConsistently(store, () => {
    const started = performance.now();
    const state = initialState();
    const to = options.verify ? undefined : options.to;
    let last: Position | undefined;
    let snapshot: ReplayReport['snapshot'];
    if (options.verify) {
      const newest = store.latestSnapshot();
      const at = newest && { hlc: newest.hlc, origin: newest.origin, seq: newest.seq };
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
      } else {
        snapshot = null;
      }
      last = foldEvents(store, state, { after: at }).last ?? last;
    } else {
      last = foldEvents(store, state, rangeOf(store, to)).last;
    }
    const ms = performance.now() - started;
    const hash = stateHash(state);
    let projection: Comparison | undefined;
    if (options.verify) {
      const live = stateHash(foldFromSnapshot(store, store.latestSnapshot()).state);
      projection = { expected: live, actual: hash, ok: live === hash };
    }
    return {
      events: state.eventCount,
      stateHash: hash,
      ms,
      eventsPerSecond: ms > 0 ? Math.round((state.eventCount * 1000) / ms) : state.eventCount,
      to: to ? describePoint(to) : null,
      last: last ?? null,
      ...(options.verify ? { snapshot, projection } : {}),
      ok: (snapshot?.ok ?? true) && (projection?.ok ?? true),
    };
  });
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
    .action((options: TargetOptions & ReplayOptions) => {
      const store = openLogReadOnly(dataDirOf(options));
      let report: ReplayReport;
      try {
        report = replayLog(store, options);
      } finally {
        void store.close();
      }
      if (options.json) printJson(report);
      else console.log(formatReplay(report));
      if (!report.ok) process.exitCode = EXIT_DAMAGED;
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
