/**
 * `tracker events`: the log one event per line, in local arrival order (the `id`
 * column), as `ID  TIME  ORIGIN:SEQ  TYPE  DATA` or JSON lines. Filters by type and
 * origin, starts at a point (--since), stops after a count (--limit), and with --follow
 * keeps printing new events as the running tracker appends them, by polling the `id`
 * column every FOLLOW_POLL_MS until SIGINT/SIGTERM.
 *
 * Password hashes are replaced by "[redacted]"; in the text form a file's piece hashes
 * are shown as their count.
 */
import { Command, InvalidArgumentError, Option } from 'commander';
import { EVENT_TYPES } from '../../events/domain-events.js';
import type { EventStore } from '../../events/log/event-store.js';
import { dataDirOf, openLogReadOnly, targetOptions, type TargetOptions } from './data-dir.js';
import { findEvent, firstHlcAt, LOG_POINT_FORMS, parseLogPoint, type LogPoint } from './log-point.js';
import { isoOfHlc, LineWriter } from './output.js';

/** How often --follow looks for new events. */
export const FOLLOW_POLL_MS = 200;
/** Events read per query: listing a million events never holds them all. */
export const PAGE_EVENTS = 1000;
/** With --follow and neither --since nor --limit, how many recent events come first (like tail -f). */
export const FOLLOW_BACKLOG = 10;

export const REDACTED = '[redacted]';
const SECRET_FIELDS = new Set(['passwordHash']);

export interface EventsOptions extends TargetOptions {
  readonly follow?: boolean;
  readonly type?: string[];
  readonly origin?: number;
  readonly since?: LogPoint;
  readonly limit?: number;
}

interface LoggedEvent {
  readonly id: number;
  readonly origin: number;
  readonly seq: number;
  readonly hlc: number;
  readonly type: string;
  readonly data: string;
}

export function eventsCommand(): Command {
  return targetOptions(
    new Command('events')
      .description('print the event log, one event per line, in the order events arrived here')
      .option('-f, --follow', 'keep printing new events as they are appended (Ctrl-C to stop)')
      .addOption(new Option('-t, --type <types>', `only these event types, comma-separated (${EVENT_TYPES.join(', ')})`).argParser(parseTypes))
      .addOption(new Option('-o, --origin <n>', 'only events accepted by tracker n').argParser(parseCount))
      .addOption(new Option('-s, --since <point>', `start here: ${LOG_POINT_FORMS}`).argParser(parseLogPoint))
      .addOption(new Option('-l, --limit <n>', 'at most n events: the first n from --since, or the newest n without it (with --follow: before following)').argParser(parseCount)),
  )
    .addHelpText(
      'after',
      [
        '',
        'Line: ID TIME ORIGIN:SEQ TYPE DATA. ID is the local arrival id; TIME comes from the event\'s hybrid logical clock.',
        '--since N starts at local id N; --since ORIGIN:SEQ at that event; --since <ISO time> at events stamped then or later.',
        '--json prints one JSON object per line. Password hashes are always redacted.',
      ].join('\n'),
    )
    .action(async (options: EventsOptions) => {
      const store = openLogReadOnly(dataDirOf(options));
      try {
        await printEvents(store, options);
      } finally {
        void store.close();
      }
    });
}

export async function printEvents(store: EventStore, options: EventsOptions): Promise<void> {
  const out = new LineWriter();
  const print = (e: LoggedEvent) => out.line(options.json ? JSON.stringify(jsonOf(e)) : lineOf(e));
  const filter = filterOf(options);
  let cursor = 0;
  let left = options.limit ?? Infinity;

  const newest = options.since === undefined && (options.limit !== undefined || options.follow) ? (options.limit ?? FOLLOW_BACKLOG) : undefined;
  if (newest !== undefined) {
    const recent = store.db
      .prepare(`SELECT id, origin, seq, hlc, type, data FROM events WHERE ${filter.sql} ORDER BY id DESC LIMIT ?`)
      .all(...filter.params, newest) as LoggedEvent[];
    for (const e of recent.reverse()) await print(e);
    cursor = recent.at(-1)?.id ?? maxId(store);
    left = options.follow ? Infinity : 0;
  } else if (options.since?.kind === 'id') {
    cursor = options.since.id - 1;
  } else if (options.since?.kind === 'event') {
    cursor = findEvent(store, options.since.origin, options.since.seq).id - 1;
  }

  const page = store.db.prepare(`SELECT id, origin, seq, hlc, type, data FROM events WHERE id > ? AND ${filter.sql} ORDER BY id LIMIT ?`);
  const drain = async (): Promise<void> => {
    while (left > 0) {
      const batch = page.all(cursor, ...filter.params, Math.min(PAGE_EVENTS, left)) as LoggedEvent[];
      for (const e of batch) {
        await print(e);
        cursor = e.id;
      }
      left -= batch.length;
      if (batch.length < PAGE_EVENTS) return;
    }
  };
  await drain();
  await out.flush();
  if (!options.follow) return;

  // Follow: poll for events past the cursor until a signal asks to stop.
  let stopping = false;
  let wake: (() => void) | undefined;
  const stop = () => {
    stopping = true;
    wake?.();
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    left = Infinity;
    while (!stopping) {
      await drain();
      await out.flush();
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, FOLLOW_POLL_MS);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  }
  await out.flush();
}

/** "  42  2025-06-01T12:00:00.123Z  1:17  user_created  {"user":"alice","passwordHash":"[redacted]"}" */
export function lineOf(e: LoggedEvent): string {
  return `${String(e.id).padStart(7)}  ${isoOfHlc(e.hlc)}  ${`${e.origin}:${e.seq}`.padEnd(9)}  ${e.type.padEnd(21)}  ${compactData(e.data)}`;
}

export function jsonOf(e: LoggedEvent): Record<string, unknown> {
  return { id: e.id, origin: e.origin, seq: e.seq, hlc: e.hlc, time: isoOfHlc(e.hlc), type: e.type, data: redacted(parse(e.data)) };
}

function compactData(text: string): string {
  const data = redacted(parse(text));
  if (typeof data === 'object' && data !== null && Array.isArray((data as { pieceHashes?: unknown }).pieceHashes)) {
    const n = (data as { pieceHashes: unknown[] }).pieceHashes.length;
    return JSON.stringify({ ...data, pieceHashes: `[${n} hash${n === 1 ? '' : 'es'}]` });
  }
  return typeof data === 'string' ? data : JSON.stringify(data);
}

/** The data with every secret field replaced; what cannot be parsed is shown as its length. */
export function redacted(data: unknown): unknown {
  if (typeof data !== 'object' || data === null || Array.isArray(data)) return data;
  const copy: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(data)) copy[k] = SECRET_FIELDS.has(k) ? REDACTED : v;
  return copy;
}

function parse(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return `<${text.length} characters that are not JSON>`;
  }
}

function filterOf(options: EventsOptions): { sql: string; params: (string | number)[] } {
  const where: string[] = ['1 = 1'];
  const params: (string | number)[] = [];
  if (options.type) {
    where.push(`type IN (${options.type.map(() => '?').join(', ')})`);
    params.push(...options.type);
  }
  if (options.origin !== undefined) {
    where.push('origin = ?');
    params.push(options.origin);
  }
  if (options.since?.kind === 'time') {
    where.push('hlc >= ?');
    params.push(firstHlcAt(options.since.ms));
  }
  return { sql: where.join(' AND '), params };
}

function maxId(store: EventStore): number {
  return (store.db.prepare('SELECT coalesce(max(id), 0) AS id FROM events').get() as { id: number }).id;
}

function parseTypes(value: string): string[] {
  const types = value.split(',').map((t) => t.trim()).filter((t) => t !== '');
  const unknown = types.filter((t) => !(EVENT_TYPES as readonly string[]).includes(t));
  if (types.length === 0 || unknown.length > 0) throw new InvalidArgumentError(`unknown event type ${unknown.join(', ') || '(none given)'}; known: ${EVENT_TYPES.join(', ')}`);
  return types;
}

function parseCount(value: string): number {
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 1) throw new InvalidArgumentError('expected a positive whole number');
  return n;
}
