/**
 * The tracker-to-tracker replication protocol: JSON text frames over WebSocket
 * `/replicate`. Pure: message types, encoding and one strict parser; no sockets, no clock,
 * no randomness (the link brings its own challenges).
 *
 *   hello   { t: 'hello', v, tracker, challenge, ack?, clock?, states? }
 *                                                  first frame from each side; challenge is fresh and random;
 *                                                  ack: when the sender wants its live events acked (TwinAck, default flush);
 *                                                  clock: the sender's wall clock (ms since the epoch), to compare clocks;
 *                                                  states: true if the sender takes `state` frames in a catch-up
 *   auth    { t: 'auth', proof }                   HMAC(link key, authTranscript(me, peer, theirs, mine, my ack))
 *   marks   { t: 'marks', marks }                  after the peer's proof checked out: per-origin high-water seq
 *   events  { t: 'events', events, at? }          a batch of envelopes, each origin's in seq order, no gaps;
 *                                                  at: the sender's wall clock (ms) when the first became durable there
 *   ack     { t: 'ack', marks }                    one per `events` frame: the receiver's durable marks after it
 *   state   { t: 'state', at, count, hash, tips, part, parts, text }
 *                                                  before a big catch-up's events, to a twin that takes them: the sender's
 *                                                  state (its canonical text, in `parts` pieces) as the fold of the `count`
 *                                                  events up to `tips` ([origin, seq, hash] of each origin's last), the last
 *                                                  of which in fold order is `at`; the receiver takes it in place of folding
 *                                                  those events (twin-state.ts)
 *   refused { t: 'refused', code, message }        why the sender is about to close the link
 *
 * An envelope travels as a fixed array [origin, seq, hlc, type, data, prev, hash, idem]:
 * a million of them parse much faster than a million objects with the same keys.
 * The parser checks shapes and bounds only; the ledger checks each envelope's hash,
 * schema and chain before it stores anything (Ledger.applyRemote).
 */
import type { EventType } from '../domain-events.js';
import type { Envelope } from '../envelope.js';

/**
 * 2: the proof covers the prover's ack mode (1 left it out, so it could be changed on the way).
 * 3: events name their account, and the fold applies a retried command once: two trackers
 * must fold alike, so one of version 2 cannot be a twin.
 */
export const PROTOCOL_VERSION = 3;
/** Largest frame either side accepts (ws maxPayload). One event's data may be 1 MiB. */
export const MAX_FRAME_BYTES = 16 * 1024 * 1024;
/** Most envelopes in one `events` frame. */
export const MAX_BATCH_EVENTS = 16_384;
/** Most origins a marks map may name. */
export const MAX_ORIGINS = 64;
/** A `state` frame's piece of the state's text is at most this many characters. */
export const STATE_PART_CHARS = 1024 * 1024;
/** A state sent in more pieces than this is refused (a state of 1 GiB of text). */
export const MAX_STATE_PARTS = 1024;
/** Challenges are 32 random bytes, base64url: 43 characters. */
export const CHALLENGE_LENGTH = 43;
const MAX_PROOF_LENGTH = 128;
const HEX64 = /^[0-9a-f]{64}$/;
const MAX_REFUSAL_TEXT = 500;

/** Stable codes for why a link was refused or dropped; both logs and tests match them. */
export type LinkErrorCode =
  | 'BAD_FRAME' // not a message of this protocol, or one out of turn
  | 'VERSION_MISMATCH'
  | 'UNEXPECTED_PEER' // the hello names a tracker that is not our twin
  | 'AUTH_FAILED' // the proof does not show the cluster secret
  | 'AUTH_TIMEOUT'
  | 'CHAIN_BROKEN' // events that do not continue an origin's chain
  | 'DUPLICATE_LINK' // the pair already has a link; this one is closed
  | 'HEARTBEAT_TIMEOUT'
  | 'LOCAL_ERROR'; // the receiver could not store the events (its disk, not the sender)

/** Per origin, the highest seq held durably. */
export type Marks = ReadonlyMap<number, number>;

/**
 * When the receiver acknowledges a live `events` frame, as its sender asked in its hello:
 * - `flush`: once the events are on the receiver's disk (its commit's fsync), the default;
 * - `write`: once they are written to the receiver's log, before the fsync. They survive a
 *   crash of either tracker; only a power cut of the receiver within about a second,
 *   together with the loss of the sender's disk, could lose them (the sender fsynced them
 *   before it sent them, and sends them again when the receiver comes back without them).
 *   Like PostgreSQL's synchronous_commit = remote_write.
 */
export type TwinAck = 'flush' | 'write';
export const TWIN_ACKS: readonly TwinAck[] = ['flush', 'write'];
/** What a hello without `ack` asks for, as a tracker that predates the field does. */
export const DEFAULT_TWIN_ACK: TwinAck = 'flush';

export type LinkMessage =
  | { readonly t: 'hello'; readonly v: number; readonly tracker: number; readonly challenge: string; readonly ack?: TwinAck; readonly clock?: number; readonly states?: true }
  | { readonly t: 'auth'; readonly proof: string }
  | { readonly t: 'marks'; readonly marks: Marks }
  | { readonly t: 'events'; readonly events: Envelope[]; readonly at?: number }
  | { readonly t: 'ack'; readonly marks: Marks }
  | StatePart
  | { readonly t: 'refused'; readonly code: string; readonly message: string };

/** An origin's last event: [origin, seq, hash]. */
export type Tip = readonly [origin: number, seq: number, hash: string];

/** One piece of a `state` frame's text, with what the whole is (the same in every piece). */
export interface StatePart {
  readonly t: 'state';
  readonly at: Pick<Envelope, 'hlc' | 'origin' | 'seq'>;
  readonly count: number;
  readonly hash: string;
  readonly tips: readonly Tip[];
  readonly part: number;
  readonly parts: number;
  readonly text: string;
}

export type ParsedMessage = { readonly ok: true; readonly message: LinkMessage } | { readonly ok: false; readonly code: 'BAD_FRAME'; readonly reason: string };

/**
 * What each side's proof covers: who proves to whom, the verifier's fresh challenge (so
 * an old proof cannot be replayed), the prover's own (so the verifier's proof cannot be
 * reflected back at it), and what the prover's hello asked for (so nobody on the way
 * can make a tracker ack on write what its twin wants on disk).
 */
export function authTranscript(prover: number, verifier: number, verifierChallenge: string, proverChallenge: string, proverAck: TwinAck): string {
  return `p2p-groups/replicate/v${PROTOCOL_VERSION}|prover=${prover}|verifier=${verifier}|ack=${proverAck}|${verifierChallenge}|${proverChallenge}`;
}

export function encodeMessage(m: LinkMessage): string {
  switch (m.t) {
    case 'marks':
    case 'ack':
      return JSON.stringify({ t: m.t, marks: Object.fromEntries(m.marks) });
    case 'events':
      return encodeEvents(m.events, m.at);
    default:
      return JSON.stringify(m);
  }
}

/** An envelope as it travels: [origin, seq, hlc, type, data, prev, hash, idem]. */
export type EnvelopeRow = [origin: number, seq: number, hlc: number, type: EventType, data: string, prev: string, hash: string, idem: string | null];

export function envelopeRow(e: Envelope): EnvelopeRow {
  return [e.origin, e.seq, e.hlc, e.type, e.data, e.prev, e.hash, e.idem];
}

/** An `events` frame, written directly: this is the hot path of catch-up. */
export function encodeEvents(events: readonly Envelope[], at?: number): string {
  return encodeEventRows(events.map(envelopeRow), at);
}

/** An `events` frame of rows: no envelope objects. */
export function encodeEventRows(rows: readonly EnvelopeRow[], at?: number): string {
  return `{"t":"events",${at === undefined ? '' : `"at":${at},`}"events":${JSON.stringify(rows)}}`;
}

/**
 * An envelope as the log hands it to a sender (EventStore.rowsInFoldOrder): its place,
 * and its EnvelopeRow as JSON text, which SQLite writes (json_array) so that no strings
 * of the row are made in JavaScript only to be written out again.
 */
export type EncodedRow = readonly [origin: number, seq: number, hlc: number, json: string];

export function encodedRow(e: Envelope): EncodedRow {
  return [e.origin, e.seq, e.hlc, JSON.stringify(envelopeRow(e))];
}

/** An `events` frame of encoded rows: the same text as encodeEventRows of the rows they encode. */
export function encodeEncodedRows(rows: readonly EncodedRow[], at?: number): string {
  let list = '';
  for (let i = 0; i < rows.length; i++) list += i === 0 ? rows[i]![3] : `,${rows[i]![3]}`;
  return `{"t":"events",${at === undefined ? '' : `"at":${at},`}"events":[${list}]}`;
}

/** Parses one frame; anything unexpected is BAD_FRAME with a reason for the log. */
export function parseMessage(text: string): ParsedMessage {
  if (text.length > MAX_FRAME_BYTES) return bad('frame too large');
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return bad('not JSON');
  }
  if (!isObject(value)) return bad('not a JSON object');
  switch (value.t) {
    case 'hello': {
      const { v, tracker, challenge, ack, clock } = value;
      if (!isPositiveInt(v)) return bad('hello: v must be a positive integer');
      if (!isPositiveInt(tracker)) return bad('hello: tracker must be a positive integer');
      if (typeof challenge !== 'string' || challenge.length !== CHALLENGE_LENGTH || !/^[A-Za-z0-9_-]+$/.test(challenge)) return bad('hello: bad challenge');
      if (ack !== undefined && !TWIN_ACKS.includes(ack as TwinAck)) return bad(`hello: ack must be one of ${TWIN_ACKS.join(', ')}`);
      if (clock !== undefined && !isPositiveInt(clock)) return bad('hello: clock must be a positive integer (ms since the epoch)');
      if (value.states !== undefined && value.states !== true) return bad('hello: states must be true if given');
      return good({
        t: 'hello',
        v,
        tracker,
        challenge,
        ...(ack !== undefined && { ack: ack as TwinAck }),
        ...(clock !== undefined && { clock: clock as number }),
        ...(value.states === true && { states: true as const }),
      });
    }
    case 'auth': {
      const { proof } = value;
      if (typeof proof !== 'string' || proof.length === 0 || proof.length > MAX_PROOF_LENGTH) return bad('auth: bad proof');
      return good({ t: 'auth', proof });
    }
    case 'marks':
    case 'ack': {
      const marks = parseMarks(value.marks);
      return typeof marks === 'string' ? bad(`${value.t}: ${marks}`) : good({ t: value.t, marks });
    }
    case 'events': {
      const events = parseEvents(value.events);
      if (typeof events === 'string') return bad(`events: ${events}`);
      const { at } = value;
      if (at === undefined) return good({ t: 'events', events });
      return typeof at === 'number' && Number.isFinite(at) && at > 0 ? good({ t: 'events', events, at }) : bad('events: at must be a positive number');
    }
    case 'state':
      return parseStatePart(value);
    case 'refused': {
      const { code, message } = value;
      if (typeof code !== 'string' || code.length > 40 || typeof message !== 'string') return bad('refused: bad code or message');
      return good({ t: 'refused', code, message: message.slice(0, MAX_REFUSAL_TEXT) });
    }
    default:
      // Not JSON.stringify(value.t): a deeply nested value makes it throw RangeError (a crash).
      return bad(`unknown message type ${typeof value.t === 'string' ? JSON.stringify(value.t.slice(0, 40)) : typeof value.t}`);
  }
}

function parseMarks(raw: unknown): Map<number, number> | string {
  if (!isObject(raw)) return 'marks must be an object';
  const entries = Object.entries(raw);
  if (entries.length > MAX_ORIGINS) return `more than ${MAX_ORIGINS} origins`;
  const marks = new Map<number, number>();
  for (const [key, seq] of entries) {
    const origin = Number(key);
    if (!isPositiveInt(origin) || String(origin) !== key) return `bad origin ${key.slice(0, 20)}`;
    if (!Number.isSafeInteger(seq) || (seq as number) < 0) return `bad seq for origin ${origin}`;
    marks.set(origin, seq as number);
  }
  return marks;
}

function parseStatePart(value: Record<string, unknown>): ParsedMessage {
  const { at, count, hash, part, parts, text } = value;
  if (!isObject(at) || !isPositiveInt(at.hlc) || !isPositiveInt(at.origin) || !isPositiveInt(at.seq)) return bad('state: at must be { hlc, origin, seq } of positive integers');
  if (!isPositiveInt(count)) return bad('state: count must be a positive integer');
  if (typeof hash !== 'string' || !HEX64.test(hash)) return bad('state: hash must be 64 hex digits');
  const tips = parseTips(value.tips);
  if (typeof tips === 'string') return bad(`state: ${tips}`);
  if (!tips.some(([origin, seq]) => origin === at.origin && seq === at.seq)) return bad('state: at must be one of the tips');
  if (!isPositiveInt(parts) || parts > MAX_STATE_PARTS) return bad(`state: parts must be 1 to ${MAX_STATE_PARTS}`);
  if (!Number.isSafeInteger(part) || (part as number) < 0 || (part as number) >= parts) return bad('state: part must be 0 to parts - 1');
  if (typeof text !== 'string' || text.length > STATE_PART_CHARS) return bad(`state: text must be a string of at most ${STATE_PART_CHARS} characters`);
  return good({ t: 'state', at: { hlc: at.hlc, origin: at.origin, seq: at.seq }, count, hash, tips, part: part as number, parts, text });
}

function parseTips(raw: unknown): Tip[] | string {
  if (!Array.isArray(raw) || raw.length === 0 || raw.length > MAX_ORIGINS) return `tips must be a list of 1 to ${MAX_ORIGINS}`;
  const tips: Tip[] = [];
  for (const tip of raw as unknown[]) {
    if (!Array.isArray(tip) || tip.length !== 3) return 'each tip must be [origin, seq, hash]';
    const origin: unknown = tip[0], seq: unknown = tip[1], hash: unknown = tip[2];
    if (!isPositiveInt(origin) || !isPositiveInt(seq) || typeof hash !== 'string' || !HEX64.test(hash)) return 'each tip must be [origin, seq, hash] of two positive integers and 64 hex digits';
    if (tips.some(([o]) => o === origin)) return `origin ${origin} has two tips`;
    tips.push([origin, seq, hash]);
  }
  return tips;
}

function parseEvents(raw: unknown): Envelope[] | string {
  if (!Array.isArray(raw)) return 'must be a list';
  if (raw.length === 0 || raw.length > MAX_BATCH_EVENTS) return `must hold 1 to ${MAX_BATCH_EVENTS} envelopes`;
  const events: Envelope[] = new Array<Envelope>(raw.length);
  const last = new Map<number, number>();
  for (let i = 0; i < raw.length; i++) {
    const row: unknown = raw[i];
    if (!Array.isArray(row) || row.length !== 8) return `envelope ${i} must be an array of 8 fields`;
    // Indexed, not destructured: destructuring walks the array's iterator, and made
    // parsing a catch-up frame four times as slow as the JSON.parse before it.
    const origin: unknown = row[0], seq: unknown = row[1], hlc: unknown = row[2], type: unknown = row[3];
    const data: unknown = row[4], prev: unknown = row[5], hash: unknown = row[6], idem: unknown = row[7];
    if (!isPositiveInt(origin) || !isPositiveInt(seq) || !isPositiveInt(hlc)) return `envelope ${i}: origin, seq and hlc must be positive integers`;
    if (typeof type !== 'string' || typeof data !== 'string' || typeof prev !== 'string' || typeof hash !== 'string') return `envelope ${i}: type, data, prev and hash must be strings`;
    if (idem !== null && typeof idem !== 'string') return `envelope ${i}: idem must be a string or null`;
    const before = last.get(origin);
    if (before !== undefined && seq !== before + 1) return `envelope ${i}: origin ${origin} seq ${seq} does not follow ${before}`;
    last.set(origin, seq);
    if (last.size > MAX_ORIGINS) return `more than ${MAX_ORIGINS} origins`;
    // The type is checked against the known event types by checkEnvelope in the ledger.
    events[i] = { origin, seq, hlc, type: type as EventType, data, prev, hash, idem };
  }
  return events;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isPositiveInt(v: unknown): v is number {
  return Number.isSafeInteger(v) && (v as number) > 0;
}

function good(message: LinkMessage): ParsedMessage {
  return { ok: true, message };
}

function bad(reason: string): ParsedMessage {
  return { ok: false, code: 'BAD_FRAME', reason };
}
