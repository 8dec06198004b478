/**
 * Sessions and passwords against a real two-tracker cluster:
 * - tokens are "<128 bits as hex>.<HMAC-SHA256 base64url>": unguessable, different on
 *   every login (but one login retried on the twin gets the same), and a forged or
 *   tampered one is refused on either tracker; nobody gets another user's session by
 *   sending their login's idempotency key;
 * - a session ends on logout and EXPIRES after --session-ttl (here 3 s), on both trackers;
 * - repeated failed logins are slowed down per user and per address (TOO_MANY_ATTEMPTS
 *   with retryAfterMs), and the right password works again once the wait is over;
 * - a distinctive password never appears in the trackers' output (at debug level), their
 *   SQLite files, or the client's output, after a session with wrong and right passwords.
 */
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LOGIN_BACKOFF_BASE_MS, MAX_FAILED_LOGINS_PER_ADDRESS, MAX_FAILED_LOGINS_PER_USER } from '../../src/tracker/login-throttle.js';
import { tokenFor } from '../../src/tracker/session-tokens.js';
import { commandResults, runClient } from '../helpers/client-process.js';
import { Cluster } from '../helpers/cluster.js';
import { loginTo, outcome, RawClient, type TrackerConnection } from './kit.js';

const SESSION_TTL_S = 3;
let cluster: Cluster;
const port = (id: number): number => cluster.trackers[id - 1]!.port;
const opened: { close(): void }[] = [];

beforeAll(async () => {
  process.env.LOG_LEVEL = 'debug'; // the password check below reads the most verbose output
  cluster = await Cluster.create(2);
  const flags = ['--session-ttl', String(SESSION_TTL_S)];
  await Promise.all([cluster.start(1, flags), cluster.start(2, flags)]);
}, 30_000);
afterAll(async () => {
  for (const c of opened) c.close();
  await cluster?.destroy();
});

async function raw(id: number, localAddress?: string): Promise<RawClient> {
  const c = await RawClient.open(port(id), localAddress);
  opened.push(c);
  return c;
}

describe('session tokens', () => {
  it('are 128 random bits plus an HMAC, new on every login, and cannot be forged', async () => {
    const c = await raw(1);
    expect((await c.request('create_user', { user: 'tok', password: 'pw' })).ok).toBe(true);
    const tokens: string[] = [];
    for (let i = 0; i < 3; i++) {
      const r = await c.request('login', { user: 'tok', password: 'pw', peer: `127.0.0.1:${4000 + i}` });
      tokens.push((r.data as { token: string }).token);
      await c.request('logout');
    }
    for (const token of tokens) expect(token).toMatch(/^[0-9a-f]{32}\.[A-Za-z0-9_-]{43}$/);
    expect(new Set(tokens.map((t) => t.split('.')[0])).size).toBe(3);

    const live = (await c.request('login', { user: 'tok', password: 'pw', peer: '127.0.0.1:4009' })).data as { token: string };
    const [id, mac] = live.token.split('.') as [string, string];
    const forgeries = [
      `${id}.${mac.slice(0, -1)}${mac.endsWith('A') ? 'B' : 'A'}`, // tampered MAC
      tokenFor(randomBytes(32), id), // MAC under another secret
      `${randomBytes(16).toString('hex')}.${mac}`, // someone else's id
      id, // no MAC
      `${id}.${mac}.extra`,
    ];
    for (const tracker of [1, 2]) {
      for (const token of forgeries) {
        const r = await (await raw(tracker)).request('hello', { token });
        expect(r.error?.code, token).toBe('SESSION_EXPIRED');
      }
      // The genuine token resumes the session on either tracker.
      const r = await (await raw(tracker)).request('hello', { token: live.token });
      expect(r.data).toMatchObject({ session: { user: 'tok' } });
    }
  });

  it("are not handed out for another user's login idempotency key", async () => {
    const [c1, c2] = [await raw(1), await raw(2)];
    expect((await c1.request('create_user', { user: 'kay', password: 'pw-k' })).ok).toBe(true);
    expect((await c1.request('create_user', { user: 'lee', password: 'pw-l' })).ok).toBe(true);
    const kay = await c1.request('login', { user: 'kay', password: 'pw-k', peer: '127.0.0.1:4100' }, 'kays-login');
    expect(kay.ok).toBe(true);
    // the same login sent again to the twin (a failover retry) is the same session
    const retried = await c2.request('login', { user: 'kay', password: 'pw-k', peer: '127.0.0.1:4100' }, 'kays-login');
    expect((retried.data as { token: string }).token).toBe((kay.data as { token: string }).token);
    // lee, knowing that key, gets no session of kay's
    const lee = await (await raw(2)).request('login', { user: 'lee', password: 'pw-l', peer: '127.0.0.1:4101' }, 'kays-login');
    expect(lee).toMatchObject({ ok: false, error: { code: 'INVALID_ARGUMENT', message: expect.stringContaining('idempotency key') } });
  });

  it('end on logout, on both trackers', async () => {
    const c = await raw(1);
    const { token } = (await c.request('login', { user: 'tok', password: 'pw', peer: '127.0.0.1:4010' })).data as { token: string };
    expect((await c.request('logout')).ok).toBe(true);
    for (const tracker of [1, 2]) expect((await (await raw(tracker)).request('hello', { token })).error?.code).toBe('SESSION_EXPIRED');
  });

  it(`expire ${SESSION_TTL_S} s after login (--session-ttl), on both trackers, in use and at resume`, async () => {
    const conn: TrackerConnection = await loginTo(cluster, 1, 'old', 'pw', '127.0.0.1:4011', true);
    opened.push(conn);
    const loggedInAt = Date.now();
    const token = conn.token!;
    expect(await outcome(conn, 'list_groups', {})).toBe('ok');
    expect((await (await raw(2)).request('hello', { token })).ok).toBe(true);

    await new Promise((r) => setTimeout(r, SESSION_TTL_S * 1000 - (Date.now() - loggedInAt) + 200));
    expect(await outcome(conn, 'list_groups', {})).toBe('SESSION_EXPIRED');
    for (const tracker of [1, 2]) {
      const r = await (await raw(tracker)).request('hello', { token });
      expect(r.error?.code).toBe('SESSION_EXPIRED');
    }
    // Logging in again starts a fresh session.
    expect(await outcome(conn, 'login', { user: 'old', password: 'pw', peer: '127.0.0.1:4011' })).toBe('ok');
    expect(await outcome(conn, 'list_groups', {})).toBe('ok');
  }, 15_000);
});

describe('failed logins', () => {
  it(`are slowed down after ${MAX_FAILED_LOGINS_PER_USER} failures for one user, with a retry-after that doubles`, async () => {
    const c = await raw(1);
    await c.request('create_user', { user: 'victim', password: 'right' });
    for (let i = 0; i < MAX_FAILED_LOGINS_PER_USER; i++) {
      expect((await c.request('login', { user: 'victim', password: `guess${i}`, peer: '127.0.0.1:5000' })).error?.code).toBe('WRONG_PASSWORD');
    }
    // Even the right password is refused while the user is locked; nothing is checked.
    const locked = await c.request('login', { user: 'victim', password: 'right', peer: '127.0.0.1:5000' });
    expect(locked.error?.code).toBe('TOO_MANY_ATTEMPTS');
    expect(locked.error?.message).toMatch(/too many failed logins for victim.*try again in \d+ s/);
    expect(locked.error?.retryAfterMs).toBeGreaterThan(0);
    expect(locked.error?.retryAfterMs).toBeLessThanOrEqual(LOGIN_BACKOFF_BASE_MS);

    // After the wait, one more wrong guess doubles the next wait.
    await new Promise((r) => setTimeout(r, locked.error!.retryAfterMs! + 50));
    expect((await c.request('login', { user: 'victim', password: 'again', peer: '127.0.0.1:5000' })).error?.code).toBe('WRONG_PASSWORD');
    const longer = await c.request('login', { user: 'victim', password: 'right', peer: '127.0.0.1:5000' });
    expect(longer.error?.code).toBe('TOO_MANY_ATTEMPTS');
    expect(longer.error!.retryAfterMs!).toBeGreaterThan(LOGIN_BACKOFF_BASE_MS);

    // Parallel guesses cannot slip past the count either.
    const burst = await Promise.all(Array.from({ length: 20 }, (_, i) => c.request('login', { user: 'victim', password: `b${i}`, peer: '127.0.0.1:5000' })));
    expect(burst.every((r) => r.error?.code === 'TOO_MANY_ATTEMPTS')).toBe(true);

    await new Promise((r) => setTimeout(r, longer.error!.retryAfterMs! + 50));
    expect((await c.request('login', { user: 'victim', password: 'right', peer: '127.0.0.1:5000' })).ok).toBe(true);
  }, 15_000);

  it(`are slowed down after ${MAX_FAILED_LOGINS_PER_ADDRESS} failures from one address, whatever the user names`, async () => {
    const attacker = await raw(2, '127.0.0.3');
    for (let i = 0; i < MAX_FAILED_LOGINS_PER_ADDRESS; i++) {
      expect((await attacker.request('login', { user: `nobody${i}`, password: 'x', peer: '127.0.0.1:5001' })).error?.code).toBe('UNKNOWN_USER');
    }
    const r = await attacker.request('login', { user: 'tok', password: 'pw', peer: '127.0.0.1:5001' });
    expect(r.error?.code).toBe('TOO_MANY_ATTEMPTS');
    // Another address is not affected.
    const honest = await raw(2);
    expect((await honest.request('login', { user: 'tok', password: 'pw', peer: '127.0.0.1:5002' })).ok).toBe(true);
  });
});

describe('passwords', () => {
  it('never appear in tracker logs, the SQLite files, or the client output', async () => {
    const secret = `Zebra-Quokka-${randomBytes(6).toString('hex')}`;
    const wrong = `Wombat-Guess-${randomBytes(6).toString('hex')}`;
    const run = await runClient(cluster.infoFile, ['create_user pwuser ' + secret, 'login pwuser ' + wrong, 'login pwuser ' + secret, 'create_group pwg', 'logout'], { cwd: cluster.dir });
    expect(commandResults(run).map((r) => (r.ok ? 'ok' : r.error!.code))).toEqual(['ok', 'WRONG_PASSWORD', 'ok', 'ok', 'ok']);
    // Bad frames carrying the password must not echo it either.
    const c = await raw(1);
    await c.request('login', { user: 'pwuser', password: secret, peer: 'not an address' });
    await c.request('create_user', { user: 'pwuser', password: secret });
    await c.request('create_user', { user: `bad id ${secret}`, password: secret }).catch(() => undefined);
    c.ws.send(`{"id":1,"op":"login","args":{"user":"pwuser","password":"${secret}"`); // broken JSON
    await new Promise((r) => setTimeout(r, 500));

    const places: [string, string][] = [
      ['client output', JSON.stringify(run.results) + run.stderr],
      ...cluster.trackers.map((t): [string, string] => [`tracker ${t.id} output`, t.output]),
      ...filesUnder(cluster.dir).map((f): [string, string] => [f, readFileSync(f).toString('latin1')]),
    ];
    expect(places.length).toBeGreaterThan(4);
    for (const [where, text] of places) {
      expect(text.includes(secret), `the password appears in ${where}`).toBe(false);
      expect(text.includes(wrong), `the wrong password appears in ${where}`).toBe(false);
    }
  });
});

function filesUnder(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...filesUnder(path));
    else out.push(path);
  }
  return out;
}
