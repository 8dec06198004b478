/**
 * The cluster secret and what is derived from it. Both trackers must hold the same
 * secret: it authenticates the replication link, keys the session tokens (so a client
 * can resume its session on either tracker), derives what both copies of a command
 * retried on the twin must share (so they make one session, one account), and seeds the
 * Ed25519 key both trackers sign download tickets with (so peers accept tickets from
 * either).
 *
 * Where it comes from, first found wins: --cluster-secret-file, env TRACKER_CLUSTER_SECRET,
 * or `cluster.secret` in the parent of the data dir, created on first start. With the
 * default data dirs (./data/tracker-N) both trackers on one machine share that file;
 * on two machines, copy it (see README).
 */
import { createHmac, hkdfSync, randomBytes, type KeyObject } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { signingKeyFromSeed } from '../wire/ticket.js';

export const MIN_SECRET_LENGTH = 16;

export interface ClusterKeys {
  /** Proves knowledge of the secret on the replication link. */
  readonly linkKey: Buffer;
  readonly sessionKey: Buffer;
  /**
   * Keys what the two copies of a command retried on both trackers must share, derived
   * from its idempotency key: a login's session id, a new user's password salt.
   */
  readonly retryKey: Buffer;
  readonly ticketPrivateKey: KeyObject;
  readonly ticketPublicKey: KeyObject;
  /** Where the secret came from, for the start-up log line (never the secret itself). */
  readonly source: string;
}

export function loadClusterKeys(dataDir: string, secretFile?: string, env = process.env): ClusterKeys {
  const { secret, source } = findSecret(dataDir, secretFile, env);
  const derive = (label: string) => Buffer.from(hkdfSync('sha256', secret, 'p2p-groups', label, 32));
  const signing = signingKeyFromSeed(derive('ticket-signing'));
  return {
    linkKey: derive('replication-link'),
    sessionKey: derive('session-tokens'),
    retryKey: derive('command-retries'),
    ticketPrivateKey: signing.privateKey,
    ticketPublicKey: signing.publicKey,
    source,
  };
}

/** What a retried command's copies share (see retryKey): `bytes` of HMAC-SHA256(retryKey, label|idem). */
export function retryDerived(keys: Pick<ClusterKeys, 'retryKey'>, label: string, idem: string, bytes: number): Buffer {
  return createHmac('sha256', keys.retryKey).update(`${label}|${idem}`).digest().subarray(0, bytes);
}

/** HMAC-SHA256 with the link key: how each side proves it holds the secret. */
export function linkProof(keys: ClusterKeys, challenge: string): string {
  return createHmac('sha256', keys.linkKey).update(challenge).digest('base64url');
}

function findSecret(dataDir: string, secretFile: string | undefined, env: NodeJS.ProcessEnv): { secret: string; source: string } {
  if (secretFile) return { secret: checked(readFileSync(secretFile, 'utf8').trim(), secretFile), source: secretFile };
  const fromEnv = env.TRACKER_CLUSTER_SECRET;
  if (fromEnv) return { secret: checked(fromEnv.trim(), 'TRACKER_CLUSTER_SECRET'), source: 'TRACKER_CLUSTER_SECRET' };
  const shared = join(dirname(dataDir), 'cluster.secret');
  if (!existsSync(shared)) {
    mkdirSync(dirname(shared), { recursive: true });
    try {
      writeFileSync(shared, `${randomBytes(32).toString('hex')}\n`, { mode: 0o600, flag: 'wx' });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error; // the twin created it first
    }
  }
  return { secret: checked(readFileSync(shared, 'utf8').trim(), shared), source: shared };
}

function checked(secret: string, source: string): string {
  if (secret.length < MIN_SECRET_LENGTH) throw new Error(`the cluster secret from ${source} is shorter than ${MIN_SECRET_LENGTH} characters`);
  return secret;
}
