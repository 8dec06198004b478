/**
 * The envelope every event travels in, and the per-origin hash chain.
 *
 * origin  the tracker that accepted it (1, 2, ...)
 * seq     1, 2, 3, ... per origin, no gaps
 * hlc     hybrid logical clock at acceptance; the total order is (hlc, origin, seq)
 * prev    hash of the previous event of the same origin ('' for seq 1)
 * hash    SHA-256 over all of the above and the data's exact JSON text
 * idem    the client's idempotency key for the command that produced it, if any:
 *         1 to 100 of [A-Za-z0-9_-], so it cannot contain the '|' that separates fields in the hash
 */
import { hash } from 'node:crypto';
import { EVENT_TYPES, type DomainEvent, type EventType } from './domain-events.js';

export interface Envelope {
  readonly origin: number;
  readonly seq: number;
  readonly hlc: number;
  readonly type: EventType;
  /** The event data as JSON text, hashed and stored exactly as written. */
  readonly data: string;
  readonly prev: string;
  readonly hash: string;
  readonly idem: string | null;
}

export const GENESIS_PREV = '';

export function eventHash(e: Omit<Envelope, 'hash'>): string {
  // One-shot hash of the fields and the data (UTF-8, as createHash().update() would feed
  // them): about twice as fast as a Hash object for event-sized input.
  return hash('sha256', `${e.origin}|${e.seq}|${e.hlc}|${e.type}|${e.prev}|${e.idem ?? ''}|${e.data}`, 'hex');
}

export function seal(e: Omit<Envelope, 'hash'>): Envelope {
  return { ...e, hash: eventHash(e) };
}

/** The domain event inside an envelope whose data has already been checked. */
export function openEnvelope(e: Envelope): DomainEvent {
  return { type: e.type, data: JSON.parse(e.data) } as DomainEvent;
}

/** Total order of the fold. Negative when a sorts before b. */
export function compareOrder(a: Pick<Envelope, 'hlc' | 'origin' | 'seq'>, b: Pick<Envelope, 'hlc' | 'origin' | 'seq'>): number {
  return a.hlc - b.hlc || a.origin - b.origin || a.seq - b.seq;
}

const EVENT_TYPE_SET = new Set<string>(EVENT_TYPES);
/** What an idempotency key may look like (a UUID fits). */
export const IDEM_PATTERN = /^[A-Za-z0-9_-]{1,100}$/;
const HEX64 = /^[0-9a-f]{64}$/;
const MAX_DATA_LENGTH = 1024 * 1024;

/**
 * Checks an envelope that came from disk or from another tracker before anything folds
 * it: field types, hash, and the data's shape for its type. Returns a problem or undefined.
 */
export function checkEnvelope(e: unknown): string | undefined {
  const checked = parseEnvelope(e);
  return typeof checked === 'string' ? checked : undefined;
}

/**
 * checkEnvelope, returning on success the domain event the envelope carries, its data
 * parsed (once: the fold takes it from here), or else the problem.
 */
export function parseEnvelope(e: unknown): DomainEvent | string {
  return checkEnvelopeFields(e) ?? parseEventData(e as Envelope);
}

/**
 * The half of the checks that needs nothing but the envelope's own fields: types,
 * patterns and the hash (the costly part, which is why it may run on another thread:
 * see frame-checker.ts). Returns the problem, or undefined.
 */
export function checkEnvelopeFields(e: unknown): string | undefined {
  if (typeof e !== 'object' || e === null) return 'not an object';
  const x = e as Record<string, unknown>;
  if (!isPositiveInt(x.origin)) return 'origin must be a positive integer';
  if (!isPositiveInt(x.seq)) return 'seq must be a positive integer';
  if (!isPositiveInt(x.hlc)) return 'hlc must be a positive integer';
  if (typeof x.type !== 'string' || !EVENT_TYPE_SET.has(x.type)) return `unknown event type ${String(x.type)}`;
  if (typeof x.data !== 'string' || x.data.length > MAX_DATA_LENGTH) return 'data must be JSON text';
  if (typeof x.prev !== 'string' || (x.seq === 1 ? x.prev !== GENESIS_PREV : !HEX64.test(x.prev))) return 'bad prev hash';
  // The hash's hex pattern is tested only when it does not equal the digest (which is
  // 64 hex digits): the same answers as testing it first, without a regex per event.
  if (typeof x.hash !== 'string' || x.hash.length !== 64) return 'bad hash';
  if (x.idem !== null && (typeof x.idem !== 'string' || !IDEM_PATTERN.test(x.idem))) return HEX64.test(x.hash) ? 'bad idempotency key' : 'bad hash';
  const env = x as unknown as Envelope;
  if (eventHash(env) !== env.hash) return HEX64.test(env.hash) ? 'hash does not match the content' : 'bad hash';
  return undefined;
}

/**
 * The other half, for an envelope whose fields passed checkEnvelopeFields: the data is
 * JSON of its type's shape. Returns the domain event, or the problem.
 */
export function parseEventData(e: Envelope): DomainEvent | string {
  let data: unknown;
  try {
    data = JSON.parse(e.data);
  } catch {
    return 'data is not valid JSON';
  }
  const problem = hasSchema(e.type, data) ? undefined : checkEventData(e.type, data);
  return problem ?? ({ type: e.type, data } as DomainEvent);
}

/** A field's kind; a trailing '?' means it may be absent. */
type FieldKind = 'string' | 'int' | 'strings' | 'string?';
/** Who did it, on the events a logged-in user's command makes (absent in logs from before accounts). */
const ACCOUNT = { account: 'string?' } as const;
const SCHEMAS: Record<EventType, Record<string, FieldKind>> = {
  user_created: { user: 'string', passwordHash: 'string' },
  session_started: { session: 'string', user: 'string', peer: 'string', ...ACCOUNT },
  session_resumed: { session: 'string', epoch: 'int' },
  session_lost: { session: 'string', epoch: 'int' },
  session_ended: { session: 'string' },
  group_created: { group: 'string', owner: 'string', ...ACCOUNT },
  join_requested: { group: 'string', user: 'string', ...ACCOUNT },
  join_request_accepted: { group: 'string', user: 'string', by: 'string', ...ACCOUNT },
  join_request_rejected: { group: 'string', user: 'string', by: 'string', ...ACCOUNT },
  member_left: { group: 'string', user: 'string', ...ACCOUNT },
  file_shared: { group: 'string', name: 'string', size: 'int', pieceSize: 'int', pieceHashes: 'strings', sha1: 'string', user: 'string', peer: 'string', ...ACCOUNT },
  share_stopped: { group: 'string', name: 'string', user: 'string', peer: 'string', ...ACCOUNT },
  swarm_joined: { group: 'string', name: 'string', user: 'string', peer: 'string', ...ACCOUNT },
};

const SCHEMA_FIELDS = Object.fromEntries(Object.entries(SCHEMAS).map(([type, fields]) => [type, Object.entries(fields)])) as Record<EventType, [string, FieldKind][]>;

/**
 * checkEventData's fast path for data fresh from JSON.parse (all own keys enumerable):
 * every field of the type present (or optional) and of its kind, and no other key.
 */
function hasSchema(type: EventType, data: unknown): boolean {
  if (typeof data !== 'object' || data === null || Array.isArray(data)) return false;
  const fields = SCHEMA_FIELDS[type];
  const d = data as Record<string, unknown>;
  let present = 0;
  for (let i = 0; i < fields.length; i++) {
    const [key, kind] = fields[i]!;
    if (!Object.hasOwn(d, key)) {
      if (kind === 'string?') continue;
      return false;
    }
    if (!isKind(d[key], kind)) return false;
    present += 1;
  }
  return Object.keys(d).length === present;
}

function isKind(v: unknown, kind: FieldKind): boolean {
  if (kind === 'string' || kind === 'string?') return typeof v === 'string';
  if (kind === 'int') return Number.isSafeInteger(v) && (v as number) >= 0;
  if (!Array.isArray(v)) return false;
  for (let i = 0; i < v.length; i++) if (typeof v[i] !== 'string') return false;
  return true;
}

export function checkEventData(type: EventType, data: unknown): string | undefined {
  if (typeof data !== 'object' || data === null || Array.isArray(data)) return `${type}: data must be an object`;
  const fields = SCHEMAS[type];
  const d = data as Record<string, unknown>;
  for (const key of Object.keys(d)) if (!Object.hasOwn(fields, key)) return `${type}: unexpected field ${key}`;
  for (const [key, kind] of Object.entries(fields)) {
    if (kind === 'string?' && !Object.hasOwn(d, key)) continue;
    if (!isKind(d[key], kind)) return `${type}: field ${key} must be ${kind === 'strings' ? 'a list of strings' : kind === 'int' ? 'an integer' : 'a string'}`;
  }
  return undefined;
}

function isPositiveInt(v: unknown): v is number {
  return Number.isSafeInteger(v) && (v as number) > 0;
}
