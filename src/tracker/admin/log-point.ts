/**
 * A point in the log, as `--to` and `--since` take it:
 *
 *   N            local arrival id: the `id` column, the order events reached THIS tracker
 *   ORIGIN:SEQ   one event, named by the tracker that accepted it and its seq there
 *   ISO time     e.g. 2025-06-01T12:00:00Z: by the events' hybrid logical clock
 */
import { InvalidArgumentError } from 'commander';
import { HLC_TICKS_PER_MS } from '../../events/hlc.js';
import type { EventStore, Position } from '../../events/log/event-store.js';

export type LogPoint =
  | { readonly kind: 'id'; readonly id: number }
  | { readonly kind: 'event'; readonly origin: number; readonly seq: number }
  | { readonly kind: 'time'; readonly ms: number };

export const LOG_POINT_FORMS = 'a local id N, ORIGIN:SEQ, or an ISO date/time';

export function parseLogPoint(text: string): LogPoint {
  const t = text.trim();
  if (/^\d+$/.test(t)) return { kind: 'id', id: positive(Number(t)) };
  const event = /^(\d+):(\d+)$/.exec(t);
  if (event) return { kind: 'event', origin: positive(Number(event[1])), seq: positive(Number(event[2])) };
  const ms = /^\d{4}-\d{2}-\d{2}/.test(t) ? Date.parse(t) : NaN;
  if (Number.isFinite(ms)) return { kind: 'time', ms };
  throw new InvalidArgumentError(`expected ${LOG_POINT_FORMS}, got "${text}"`);
}

export function describePoint(p: LogPoint): string {
  if (p.kind === 'id') return `local id ${p.id}`;
  if (p.kind === 'event') return `event ${p.origin}:${p.seq}`;
  return new Date(p.ms).toISOString();
}

/** The smallest hlc stamped at or after this wall time, and the largest at or before it. */
export const firstHlcAt = (ms: number): number => Math.floor(ms) * HLC_TICKS_PER_MS;
export const lastHlcAt = (ms: number): number => (Math.floor(ms) + 1) * HLC_TICKS_PER_MS - 1;

/** A position after every event stamped at or before `ms`, before every later one. */
export function positionAtEndOf(ms: number): Position {
  return { hlc: lastHlcAt(ms), origin: Number.MAX_SAFE_INTEGER, seq: Number.MAX_SAFE_INTEGER };
}

export interface EventRef extends Position {
  readonly id: number;
}

/** The event named ORIGIN:SEQ in this log, or an error that says it is not there. */
export function findEvent(store: EventStore, origin: number, seq: number): EventRef {
  const row = store.db.prepare('SELECT id, hlc, origin, seq FROM events WHERE origin = ? AND seq = ?').get(origin, seq) as EventRef | undefined;
  if (!row) throw new Error(`event ${origin}:${seq} is not in this log`);
  return row;
}

function positive(n: number): number {
  if (!Number.isSafeInteger(n) || n < 1) throw new InvalidArgumentError('ids, origins and seqs start at 1');
  return n;
}
