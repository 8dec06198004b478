/**
 * Download tickets: a tracker's Ed25519 signature over "this user, of this group,
 * may fetch pieces of this file until then". Peers check a ticket against the
 * trackers' public keys before serving a single byte (Guarantee 6).
 *
 * Format: base64url(JSON claims) "." base64url(64-byte signature over the JSON bytes).
 * Verification is strict: canonical base64url, exact claim fields and types, a
 * length cap, and one stable error code per way of failing.
 */
import { createPrivateKey, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';

/** Longest ticket string accepted anywhere (wire, verifier). */
export const MAX_TICKET_LENGTH = 2048;
/** Longest user or group name a ticket may carry. */
export const MAX_CLAIM_NAME_LENGTH = 256;
const ED25519_SEED_BYTES = 32;
const ED25519_SIGNATURE_BYTES = 64;
/** PKCS#8 DER header of an Ed25519 private key; the 32-byte seed follows it. */
const PKCS8_ED25519_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');
const FILE_ID_PATTERN = /^[0-9a-f]{40}$/;
const CLAIM_KEYS = ['expiresAt', 'fileId', 'group', 'user'] as const;

export interface TicketClaims {
  readonly user: string;
  readonly group: string;
  /** Whole-file SHA-1, lower-case hex. */
  readonly fileId: string;
  /** Milliseconds since the epoch. */
  readonly expiresAt: number;
}

export type TicketErrorCode = 'TICKET_MALFORMED' | 'TICKET_SIGNATURE' | 'TICKET_EXPIRED' | 'TICKET_WRONG_FILE';

export type TicketVerdict =
  | { readonly ok: true; readonly claims: TicketClaims }
  | { readonly ok: false; readonly code: TicketErrorCode };

export function signTicket(privateKey: KeyObject, claims: TicketClaims): string {
  if (!isValidClaims(claims)) throw new TypeError('signTicket: invalid ticket claims');
  const json = Buffer.from(
    JSON.stringify({ user: claims.user, group: claims.group, fileId: claims.fileId, expiresAt: claims.expiresAt }),
    'utf8',
  );
  const signature = sign(null, json, privateKey);
  const ticket = `${json.toString('base64url')}.${signature.toString('base64url')}`;
  if (ticket.length > MAX_TICKET_LENGTH) throw new RangeError('signTicket: ticket would exceed MAX_TICKET_LENGTH');
  return ticket;
}

/** Checks shape, then signature (any of `publicKeys`), then file, then expiry. */
export function verifyTicket(
  publicKeys: readonly KeyObject[],
  ticket: string,
  fileId: string,
  now: number,
): TicketVerdict {
  if (typeof ticket !== 'string' || ticket.length === 0 || ticket.length > MAX_TICKET_LENGTH) return fail('TICKET_MALFORMED');
  const parts = ticket.split('.');
  if (parts.length !== 2) return fail('TICKET_MALFORMED');
  const [payloadText, signatureText] = parts as [string, string];
  const payload = decodeCanonicalBase64url(payloadText);
  const signature = decodeCanonicalBase64url(signatureText);
  if (!payload || !signature || signature.length !== ED25519_SIGNATURE_BYTES) return fail('TICKET_MALFORMED');

  let claims: unknown;
  try {
    claims = JSON.parse(payload.toString('utf8'));
  } catch {
    return fail('TICKET_MALFORMED');
  }
  if (!isValidClaims(claims)) return fail('TICKET_MALFORMED');

  const signedByAny = publicKeys.some((key) => {
    if (key.type !== 'public' || key.asymmetricKeyType !== 'ed25519') return false;
    try {
      return verify(null, payload, key, signature);
    } catch {
      return false;
    }
  });
  if (!signedByAny) return fail('TICKET_SIGNATURE');
  if (claims.fileId !== fileId.toLowerCase()) return fail('TICKET_WRONG_FILE');
  if (!(now < claims.expiresAt)) return fail('TICKET_EXPIRED');
  return { ok: true, claims };
}

/** Base64 of the SPKI DER encoding: how public keys travel in config and messages. */
export function encodePublicKey(key: KeyObject): string {
  if (key.asymmetricKeyType !== 'ed25519') throw new TypeError('encodePublicKey: not an Ed25519 key');
  const publicKey = key.type === 'private' ? createPublicKey(key) : key;
  return publicKey.export({ format: 'der', type: 'spki' }).toString('base64');
}

export function decodePublicKey(encoded: string): KeyObject {
  const key = createPublicKey({ key: Buffer.from(encoded, 'base64'), format: 'der', type: 'spki' });
  if (key.asymmetricKeyType !== 'ed25519') throw new TypeError('decodePublicKey: not an Ed25519 key');
  return key;
}

/** Deterministic Ed25519 key pair from a 32-byte seed (e.g. derived from the cluster secret). */
export function signingKeyFromSeed(seed: Buffer): { privateKey: KeyObject; publicKey: KeyObject } {
  if (!Buffer.isBuffer(seed) || seed.length !== ED25519_SEED_BYTES) {
    throw new RangeError(`signingKeyFromSeed: seed must be ${ED25519_SEED_BYTES} bytes`);
  }
  const privateKey = createPrivateKey({
    key: Buffer.concat([PKCS8_ED25519_PREFIX, seed]),
    format: 'der',
    type: 'pkcs8',
  });
  return { privateKey, publicKey: createPublicKey(privateKey) };
}

function fail(code: TicketErrorCode): TicketVerdict {
  return { ok: false, code };
}

/** Node's base64url decoder skips junk; accept only strings that round-trip exactly. */
function decodeCanonicalBase64url(text: string): Buffer | null {
  if (text.length === 0 || !/^[A-Za-z0-9_-]+$/.test(text)) return null;
  const bytes = Buffer.from(text, 'base64url');
  return bytes.toString('base64url') === text ? bytes : null;
}

function isValidClaims(value: unknown): value is TicketClaims {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const keys = Object.keys(value).sort();
  if (keys.length !== CLAIM_KEYS.length || keys.some((key, i) => key !== CLAIM_KEYS[i])) return false;
  const claims = value as Record<string, unknown>;
  return (
    isName(claims.user) &&
    isName(claims.group) &&
    typeof claims.fileId === 'string' &&
    FILE_ID_PATTERN.test(claims.fileId) &&
    typeof claims.expiresAt === 'number' &&
    Number.isSafeInteger(claims.expiresAt) &&
    claims.expiresAt > 0
  );
}

function isName(value: unknown): value is string {
  return typeof value === 'string' && value.length > 0 && value.length <= MAX_CLAIM_NAME_LENGTH;
}
