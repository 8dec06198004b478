/**
 * Client <-> tracker messages: JSON text frames over WebSocket `/client`.
 *
 *   request  { id, op, args, idem? }   idem: idempotency key, on every mutating op (our client sends a UUIDv7: see idempotency-key.ts)
 *   response { id, ok: true, data } | { id, ok: false, error: { code, message } }
 *
 * `parseRequest` is the only door in: it checks the frame is JSON, the op is known and
 * every argument has the right type and a bounded size, before any handler sees it.
 */
import { IDEM_PATTERN } from '../events/envelope.js';

export const MAX_CLIENT_FRAME = 1024 * 1024;
export const MAX_STRING = 1024;
export const MAX_IDEM = 100;
export const MAX_PIECE_HASHES = 32 * 1024;

type Kind = 'string' | 'int' | 'strings' | 'string?';

const OPS = {
  hello: { token: 'string?' },
  ping: {},
  create_user: { user: 'string', password: 'string' },
  login: { user: 'string', password: 'string', peer: 'string' },
  logout: {},
  create_group: { group: 'string' },
  join_group: { group: 'string' },
  leave_group: { group: 'string' },
  list_requests: { group: 'string' },
  accept_request: { group: 'string', user: 'string' },
  reject_request: { group: 'string', user: 'string' },
  list_groups: {},
  list_files: { group: 'string' },
  upload_file: { group: 'string', name: 'string', size: 'int', pieceSize: 'int', pieceHashes: 'strings', sha1: 'string' },
  stop_share: { group: 'string', name: 'string' },
  download_file: { group: 'string', name: 'string' },
  join_swarm: { group: 'string', name: 'string' },
} as const satisfies Record<string, Record<string, Kind>>;

export type Op = keyof typeof OPS;

type ArgType<K extends Kind> = K extends 'string' ? string : K extends 'int' ? number : K extends 'strings' ? string[] : string | undefined;
export type ArgsOf<O extends Op> = { -readonly [F in keyof (typeof OPS)[O]]: (typeof OPS)[O][F] extends Kind ? ArgType<(typeof OPS)[O][F]> : never };

export type Request = { [O in Op]: { readonly id: number; readonly op: O; readonly args: ArgsOf<O>; readonly idem: string | null } }[Op];

/** Ops that change state: they carry an idempotency key and are retried after failover. */
export const MUTATING_OPS: ReadonlySet<Op> = new Set<Op>([
  'create_user',
  'login',
  'logout',
  'create_group',
  'join_group',
  'leave_group',
  'accept_request',
  'reject_request',
  'upload_file',
  'stop_share',
  'join_swarm',
]);

export interface ErrorBody {
  readonly code: string;
  readonly message: string;
  /** With TOO_MANY_ATTEMPTS and BUSY: how long to wait before trying again. */
  readonly retryAfterMs?: number;
}

export type Response = { readonly id: number | null; readonly ok: true; readonly data: unknown } | { readonly id: number | null; readonly ok: false; readonly error: ErrorBody };

export type Parsed = { readonly ok: true; readonly request: Request } | { readonly ok: false; readonly id: number | null; readonly error: ErrorBody; readonly fatal: boolean };

/** Parses one text frame. `fatal` means the frame itself was broken: close the connection. */
export function parseRequest(text: string): Parsed {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return bad(null, 'the message is not valid JSON', true);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return bad(null, 'the message must be a JSON object', true);
  const msg = value as Record<string, unknown>;
  if (!Number.isSafeInteger(msg.id)) return bad(null, 'the message needs an integer id', true);
  const id = msg.id as number;
  if (typeof msg.op !== 'string' || !Object.hasOwn(OPS, msg.op)) return bad(id, `unknown operation ${echo(msg.op)}`, false);
  const op = msg.op as Op;
  const idem = msg.idem ?? null;
  if (idem !== null && (typeof idem !== 'string' || !IDEM_PATTERN.test(idem))) return bad(id, `idem must be 1 to ${MAX_IDEM} letters, digits, '_' or '-'`, false);
  const rawArgs = msg.args ?? {};
  if (typeof rawArgs !== 'object' || rawArgs === null || Array.isArray(rawArgs)) return bad(id, 'args must be an object', false);
  const spec: Record<string, Kind> = OPS[op];
  const args: Record<string, unknown> = {};
  for (const [field, kind] of Object.entries(spec)) {
    const v = (rawArgs as Record<string, unknown>)[field];
    const problem = checkArg(kind, v);
    if (problem) return bad(id, `${op}: ${field} ${problem}`, false);
    args[field] = v;
  }
  return { ok: true, request: { id, op, args, idem } as Request };
}

function checkArg(kind: Kind, v: unknown): string | undefined {
  switch (kind) {
    case 'string?':
      return v === undefined ? undefined : checkArg('string', v);
    case 'string':
      return typeof v === 'string' && v.length <= MAX_STRING ? undefined : `must be a string of at most ${MAX_STRING} characters`;
    case 'int':
      return Number.isSafeInteger(v) && (v as number) >= 0 ? undefined : 'must be a non-negative integer';
    case 'strings':
      return Array.isArray(v) && v.length <= MAX_PIECE_HASHES && v.every((s) => typeof s === 'string' && s.length <= 64)
        ? undefined
        : `must be a list of at most ${MAX_PIECE_HASHES} short strings`;
  }
}

/** At most MAX_ECHO characters of what the client sent, for an error message: a reply never grows with the request. */
export const MAX_ECHO = 40;
function echo(value: unknown): string {
  // Never JSON.stringify what the client sent: deeply nested JSON makes it throw RangeError.
  if (typeof value !== 'string') return `of type ${value === null ? 'null' : Array.isArray(value) ? 'list' : typeof value}`;
  return JSON.stringify(value.length > MAX_ECHO ? `${value.slice(0, MAX_ECHO)}...` : value);
}

function bad(id: number | null, message: string, fatal: boolean): Parsed {
  return { ok: false, id, error: { code: 'BAD_REQUEST', message }, fatal };
}
