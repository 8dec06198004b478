/**
 * Frame generators for the fuzz test, one per listener, all driven by a seeded PRNG so a
 * failure replays from its seed. Each generator starts from well-formed messages of its
 * protocol and mutates them: wrong types, missing and extra fields, unknown ops and ids,
 * truncation, flipped bytes, invalid UTF-8, deeply nested JSON, huge strings and length
 * prefixes, out-of-range piece indexes, payloads of the wrong size.
 */
import { PROTOCOL_VERSION } from '../../src/events/replication/protocol.js';
import { MUTATING_OPS, parseRequest, type Op } from '../../src/wire/client-protocol.js';
import { encodeCancel, encodeHandshake, encodeReject, encodeRequest, KEEP_ALIVE_FRAME, MAX_FRAME, MessageId } from '../../src/wire/peer-frames.js';

export type Rng = () => number;

export class Gen {
  constructor(readonly rng: Rng) {}
  int(max: number): number {
    return Math.floor(this.rng() * max);
  }
  chance(p: number): boolean {
    return this.rng() < p;
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }
  bytes(n: number): Buffer {
    const b = Buffer.allocUnsafe(n);
    for (let i = 0; i < n; i++) b[i] = this.int(256);
    return b;
  }
  /** Strings that stress a parser: unicode, lone surrogates, controls, separators, long runs. */
  string(): string {
    switch (this.int(9)) {
      case 0:
        return '';
      case 1:
        return 'x'.repeat(this.pick([1, 64, 65, 1024, 1025, 5000, 100_000]));
      case 2:
        return '\ud800\udfff\ud800'; // lone surrogates are valid JSON strings
      case 3:
        return '\u0000\n\r\u2028\u001b[31m';
      case 4:
        return '../../etc/passwd';
      case 5:
        return 'ä😀'.repeat(1 + this.int(50));
      case 6:
        return this.pick(['alice', 'g', 'f.bin', 'honest', '__proto__', 'constructor']);
      default:
        return this.bytes(1 + this.int(40)).toString('latin1');
    }
  }
  /** Any JSON value, sometimes nested deeply (up to `maxDepth`). */
  json(depth = 0): unknown {
    const kind = depth > 3 ? this.int(6) : this.int(9);
    switch (kind) {
      case 0:
        return null;
      case 1:
        return this.pick([true, false]);
      case 2:
        return this.pick([0, -1, 1.5, 2 ** 53, -(2 ** 63), 1e308, Number.MAX_SAFE_INTEGER + 2]);
      case 3:
      case 4:
      case 5:
        return this.string();
      case 6:
        return Array.from({ length: this.int(5) }, () => this.json(depth + 1));
      case 7: {
        const o: Record<string, unknown> = {};
        for (let i = this.int(5); i > 0; i--) o[this.string().slice(0, 20)] = this.json(depth + 1);
        return o;
      }
      default:
        return this.deep(this.pick([10, 100, 1000])); // deeper ones are spliced in as text (see clientFrame)
    }
  }
  deep(n: number): unknown {
    let v: unknown = [];
    for (let i = 0; i < n; i++) v = this.chance(0.5) ? [v] : { a: v };
    return v;
  }
}

// ------------------------------------------------------------------ /client

const TEMPLATES: Record<Op, Record<string, unknown>> = {
  hello: { token: '0123456789abcdef0123456789abcdef.AAAA' },
  ping: {},
  create_user: { user: 'alice', password: 'not-the-password' },
  login: { user: 'alice', password: 'not-the-password', peer: '127.0.0.1:9' },
  logout: {},
  create_group: { group: 'g' },
  join_group: { group: 'g' },
  leave_group: { group: 'g' },
  list_requests: { group: 'g' },
  accept_request: { group: 'g', user: 'honest' },
  reject_request: { group: 'g', user: 'honest' },
  list_groups: {},
  list_files: { group: 'g' },
  upload_file: { group: 'g', name: 'f.bin', size: 10, pieceSize: 524288, pieceHashes: ['a'.repeat(40)], sha1: 'b'.repeat(40) },
  stop_share: { group: 'g', name: 'f.bin' },
  download_file: { group: 'g', name: 'f.bin' },
  join_swarm: { group: 'g', name: 'f.bin' },
};
const OPS = Object.keys(TEMPLATES) as Op[];
const READ_OPS: Op[] = ['list_groups', 'list_files', 'list_requests', 'download_file', 'ping'];

export interface ClientFrame {
  readonly data: string | Buffer;
  /** Sent as a binary frame (else text, even when `data` is a Buffer: invalid UTF-8). */
  readonly binary: boolean;
  /** The tracker closes the connection after this frame. */
  readonly fatal: boolean;
}

/**
 * A mutated /client frame. `loggedIn`: the frame goes to a logged-in connection, so it
 * must not be a well-formed mutating request (that would legitimately change the state);
 * anonymous connections may send any, except a well-formed create_user of a new name.
 */
export function clientFrame(g: Gen, loggedIn: boolean, existingUser: string): ClientFrame {
  const roll = g.int(1000);
  if (roll < 15) return { data: g.bytes(1 + g.int(200)), binary: true, fatal: true };
  if (roll < 30) return { data: Buffer.concat([Buffer.from('{"id":1,"op":"'), g.pick([Buffer.from([0xff, 0xfe]), Buffer.from([0xc3]), Buffer.from([0xed, 0xa0, 0x80]), Buffer.from([0x80])]), Buffer.from('"}')]), binary: false, fatal: true };
  if (roll < 31) return { data: `{"id":1,"op":"ping","args":{"x":"${'y'.repeat(1024 * 1024)}"}}`, binary: false, fatal: true };
  const op = g.chance(0.05) ? g.string() : g.pick(OPS);
  const msg: Record<string, unknown> = { id: 1 + g.int(1_000_000), op, args: { ...(TEMPLATES[op as Op] ?? {}) } };
  if (g.chance(0.3)) msg.idem = g.chance(0.7) ? `k${g.int(1e9)}` : g.json();
  for (let n = 1 + g.int(3); n > 0; n--) mutate(g, msg);
  let text = JSON.stringify(msg);
  if (g.chance(0.05)) text = text.slice(0, g.int(text.length)); // truncated
  if (g.chance(0.05)) {
    const chars = [...text];
    for (let i = 1 + g.int(4); i > 0; i--) chars[g.int(chars.length)] = g.pick(['"', '{', '}', '\\', ',', ':', '\u0000', 'é']);
    text = chars.join('');
  }
  if (g.chance(0.01)) text = JSON.stringify(g.json());
  if (g.chance(0.002)) text = `{"id":1,"op":${'['.repeat(100_000)}${']'.repeat(100_000)}}`;
  else if (g.chance(0.002)) text = text.replace('"args":{', `"args":{"group":${'{"a":'.repeat(50_000)}1${'}'.repeat(50_000)},`);
  return classify(text, loggedIn, existingUser);
}

function mutate(g: Gen, msg: Record<string, unknown>): void {
  const isObject = typeof msg.args === 'object' && msg.args !== null && !Array.isArray(msg.args);
  const args = (isObject ? msg.args : {}) as Record<string, unknown>;
  const keys = Object.keys(args);
  switch (g.int(9)) {
    case 0:
    case 1:
      if (keys.length > 0) args[g.pick(keys)] = g.json();
      return;
    case 2:
      if (keys.length > 0) delete args[g.pick(keys)];
      return;
    case 3:
      args[g.string().slice(0, 30)] = g.json();
      return;
    case 4:
      msg.args = g.json();
      return;
    case 5:
      msg.id = g.pick([null, '1', 1.5, -1, 2 ** 60, {}, []]);
      return;
    case 6:
      if (keys.length > 0) args[g.pick(keys)] = g.string();
      return;
    case 7:
      delete msg.op;
      return;
    default:
      return; // left well-formed
  }
}

function classify(text: string, loggedIn: boolean, existingUser: string): ClientFrame {
  const parsed = parseRequest(text);
  if (!parsed.ok) return { data: text, binary: false, fatal: parsed.fatal };
  const { request } = parsed;
  if (loggedIn && MUTATING_OPS.has(request.op)) {
    return classify(JSON.stringify({ id: request.id, op: READ_OPS[request.id % READ_OPS.length], args: request.args }), loggedIn, existingUser);
  }
  if (request.op === 'create_user') {
    return { data: JSON.stringify({ ...request, args: { ...request.args, user: existingUser } }), binary: false, fatal: false };
  }
  return { data: text, binary: false, fatal: false };
}

// ------------------------------------------------------------------ /replicate

/** A mutated replication frame (the sender never holds the cluster secret). */
export function replicationFrame(g: Gen, twinId: number): { data: string | Buffer; binary: boolean } {
  const challenge = 'A'.repeat(43);
  const frames: unknown[] = [
    { t: 'hello', v: PROTOCOL_VERSION, tracker: twinId, challenge },
    { t: 'hello', v: g.pick([0, PROTOCOL_VERSION - 1, PROTOCOL_VERSION + 1, 1.5, String(PROTOCOL_VERSION)]), tracker: g.pick([0, 1, 2, 3, 99, -1]), challenge: g.pick([challenge, '', 'x'.repeat(44), g.string()]) },
    { t: 'auth', proof: g.pick(['', 'x'.repeat(43), 'y'.repeat(500), g.string()]) },
    { t: 'marks', marks: g.pick([{ 1: 5 }, { '-1': 2 }, { 1: -5 }, Object.fromEntries(Array.from({ length: 100 }, (_, i) => [i + 1, i]))]) },
    { t: 'events', events: [[1, 1, 1, 'user_created', '{"user":"evil","passwordHash":"x"}', '', 'h', null]] },
    { t: 'events', events: g.pick([[], 'x', [[1]], Array.from({ length: 20_000 }, () => 0)]) },
    { t: 'ack', marks: g.json() },
    { t: 'refused', code: g.string(), message: g.string() },
    { t: g.json() },
    g.json(),
  ];
  const roll = g.int(100);
  if (roll < 5) return { data: g.bytes(1 + g.int(100)), binary: true };
  if (roll < 10) return { data: Buffer.from([0x7b, 0xff, 0xfe, 0x7d]), binary: false };
  if (roll < 12) return { data: `{"t":${'['.repeat(50_000)}${']'.repeat(50_000)}}`, binary: false };
  let text = JSON.stringify(g.pick(frames));
  if (g.chance(0.1)) text = text.slice(0, g.int(text.length));
  return { data: text, binary: false };
}

// ------------------------------------------------------------------ peer TCP

/** Frames a downloader may legitimately send after its handshake (the server keeps the connection). */
export function peerBenignFrame(g: Gen, pieces: number): Buffer {
  switch (g.int(4)) {
    case 0:
      return KEEP_ALIVE_FRAME;
    case 1:
      return encodeCancel(g.int(2 ** 32));
    default:
      return encodeRequest(pieces - 1); // the small last piece; sometimes BUSY, always bounded
  }
}

/** A frame that breaks the peer protocol somehow: the server must close, and nothing else. */
export function peerHostileFrame(g: Gen, pieces: number, fileId: string, ticket: string): Buffer {
  const header = (length: number, id: number): Buffer => {
    const b = Buffer.alloc(5);
    b.writeUInt32BE(length, 0);
    b[4] = id;
    return b;
  };
  switch (g.int(14)) {
    case 0:
      return encodeRequest(pieces + g.int(1000)); // out of range
    case 1:
      return encodeRequest(0xffffffff);
    case 2:
      return Buffer.concat([header(0xffffffff, MessageId.PIECE), g.bytes(16)]); // huge length prefix
    case 3:
      return Buffer.concat([header(MAX_FRAME + 1, MessageId.BITFIELD)]);
    case 4:
      return Buffer.concat([header(1 + 4 + 1000, MessageId.PIECE), g.bytes(100)]); // truncated: promises more than it sends
    case 5:
      return Buffer.concat([header(1 + g.int(8), MessageId.REQUEST), g.bytes(8)]); // wrong payload size
    case 6:
      return Buffer.concat([header(1 + 4 + 1 + g.int(5000), MessageId.PIECE), g.bytes(5000)]).subarray(0, 5 + 5 + g.int(5000)); // piece data of the wrong size, unrequested
    case 7:
      return Buffer.concat([header(1 + 16, 7 + g.int(249)), g.bytes(16)]); // unknown message id
    case 8:
      return encodeReject(g.int(10), 1);
    case 9:
      return Buffer.concat([header(1 + 5, MessageId.REJECT), Buffer.from([0, 0, 0, 1, 200])]); // bad reject reason
    case 10:
      return encodeHandshake(fileId, ticket); // a second handshake
    case 11:
      return Buffer.concat([header(1 + 4, MessageId.HAVE), g.bytes(4)]);
    case 12:
      return Buffer.concat([header(1 + 3, MessageId.BITFIELD), g.bytes(3)]);
    default:
      return g.bytes(1 + g.int(64));
  }
}

/** A broken or forged handshake (or none at all). */
export function peerBadHandshake(g: Gen, fileId: string, ticket: string): Buffer {
  const good = encodeHandshake(fileId, ticket);
  switch (g.int(7)) {
    case 0: {
      const b = Buffer.from(good);
      b[5 + g.int(4)] ^= 0xff; // magic
      return b;
    }
    case 1: {
      const b = Buffer.from(good);
      b[9] = 2 + g.int(200); // version
      return b;
    }
    case 2:
      return encodeHandshake(fileId, `${ticket.slice(0, -4)}AAAA`); // forged signature
    case 3:
      return encodeHandshake('f'.repeat(40), ticket); // unknown file
    case 4:
      return good.subarray(0, 5 + g.int(good.length - 5)); // truncated
    case 5:
      return encodeRequest(0); // no handshake at all
    default:
      return encodeHandshake(fileId, g.bytes(1 + g.int(300)).toString('latin1'));
  }
}
