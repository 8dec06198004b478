/**
 * Session tokens: "<session id>.<HMAC(session key, session id)>". The id is 128 bits,
 * random or derived from the login's idempotency key with the cluster secret (so a login
 * retried on both trackers starts one session), and is what the log records; the MAC
 * needs the cluster secret, so the log alone does not let anyone act as a user. Either
 * tracker can check a token and, after a failover, recompute the one it handed out.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { retryDerived, type ClusterKeys } from './cluster-keys.js';

/** The session a login starts: the same on both trackers for one login command (its key). */
export function sessionIdFor(keys: Pick<ClusterKeys, 'retryKey'>, idem: string | null): string {
  return (idem === null ? randomBytes(16) : retryDerived(keys, 'session', idem, 16)).toString('hex');
}

export function tokenFor(sessionKey: Buffer, session: string): string {
  return `${session}.${mac(sessionKey, session)}`;
}

/** The session id inside a genuine token, or undefined. */
export function sessionOf(sessionKey: Buffer, token: string): string | undefined {
  const parts = token.split('.');
  if (parts.length !== 2) return undefined; // strict: no trailing parts riding on a genuine token
  const [session, given] = parts as [string, string];
  if (!/^[0-9a-f]{32}$/.test(session) || !/^[A-Za-z0-9_-]{43}$/.test(given)) return undefined;
  const expected = Buffer.from(mac(sessionKey, session));
  const actual = Buffer.from(given);
  return actual.length === expected.length && timingSafeEqual(actual, expected) ? session : undefined;
}

function mac(key: Buffer, session: string): string {
  return createHmac('sha256', key).update(session).digest('base64url');
}
