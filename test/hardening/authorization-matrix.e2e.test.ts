/**
 * Guarantee 6 as a table: every client command, tried by every kind of caller, against
 * BOTH trackers of a real two-tracker cluster, is allowed or refused exactly as the table
 * says; a refusal (and any read) leaves the state hash of both trackers unchanged.
 *
 * Callers, by their relation to the group G the command is about:
 *   anon       a connection that never logged in
 *   loggedOut  a connection that logged in and logged out again
 *   nonMember  logged in, no relation to G
 *   pending    logged in, has asked to join G (not yet accepted)
 *   member     logged in, accepted member of G, seeding G's file F
 *   owner      logged in, created G, seeding F
 *
 * One G per (command, tracker); the callers run in the order above, so what an allowed
 * caller changes (a non-member's join, a member's leave) never changes the relation of a
 * caller after it. The client is the real client library (TrackerConnection).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ArgsOf, Op } from '../../src/wire/client-protocol.js';
import { Cluster, waitFor } from '../helpers/cluster.js';
import { connectTo, hashes, loginTo, outcome, quiescentHash, syntheticFile, type TrackerConnection } from './kit.js';

const ROLES = ['anon', 'loggedOut', 'nonMember', 'pending', 'member', 'owner'] as const;
type Role = (typeof ROLES)[number];

const OK = 'ok';
const NLI = 'NOT_LOGGED_IN';

/** The expected outcome of each command for each caller: 'ok' or the error code. */
const EXPECTED: Record<string, Record<Role, string>> = {
  //               anon   loggedOut  nonMember            pending              member            owner
  create_user: { anon: OK, loggedOut: OK, nonMember: OK, pending: OK, member: OK, owner: OK },
  login: { anon: OK, loggedOut: OK, nonMember: 'ALREADY_LOGGED_IN', pending: 'ALREADY_LOGGED_IN', member: 'ALREADY_LOGGED_IN', owner: 'ALREADY_LOGGED_IN' },
  logout: { anon: NLI, loggedOut: NLI, nonMember: OK, pending: OK, member: OK, owner: OK },
  create_group: { anon: NLI, loggedOut: NLI, nonMember: OK, pending: OK, member: OK, owner: OK },
  join_group: { anon: NLI, loggedOut: NLI, nonMember: OK, pending: 'ALREADY_REQUESTED', member: 'ALREADY_MEMBER', owner: 'ALREADY_MEMBER' },
  leave_group: { anon: NLI, loggedOut: NLI, nonMember: 'NOT_MEMBER', pending: 'NOT_MEMBER', member: OK, owner: OK },
  list_requests: { anon: NLI, loggedOut: NLI, nonMember: 'NOT_OWNER', pending: 'NOT_OWNER', member: 'NOT_OWNER', owner: OK },
  accept_request: { anon: NLI, loggedOut: NLI, nonMember: 'NOT_OWNER', pending: 'NOT_OWNER', member: 'NOT_OWNER', owner: OK },
  reject_request: { anon: NLI, loggedOut: NLI, nonMember: 'NOT_OWNER', pending: 'NOT_OWNER', member: 'NOT_OWNER', owner: OK },
  list_groups: { anon: NLI, loggedOut: NLI, nonMember: OK, pending: OK, member: OK, owner: OK },
  list_files: { anon: NLI, loggedOut: NLI, nonMember: 'NOT_MEMBER', pending: 'NOT_MEMBER', member: OK, owner: OK },
  upload_file: { anon: NLI, loggedOut: NLI, nonMember: 'NOT_MEMBER', pending: 'NOT_MEMBER', member: OK, owner: OK },
  stop_share: { anon: NLI, loggedOut: NLI, nonMember: 'NOT_MEMBER', pending: 'NOT_MEMBER', member: OK, owner: OK },
  download_file: { anon: NLI, loggedOut: NLI, nonMember: 'NOT_MEMBER', pending: 'NOT_MEMBER', member: OK, owner: OK },
  join_swarm: { anon: NLI, loggedOut: NLI, nonMember: 'NOT_MEMBER', pending: 'NOT_MEMBER', member: OK, owner: OK },
};

/** Commands that change nothing even when allowed. */
const READS = new Set(['list_requests', 'list_groups', 'list_files', 'download_file']);
/** Allowed, but a no-op here: the member and the owner already seed F (already in its swarm). */
const NO_OPS = new Set(['join_swarm']);

const PASSWORD = 'matrix-pw';
const peerFor = (t: number, role: Role): string => `127.0.0.1:${20000 + t * 100 + ROLES.indexOf(role)}`;

let cluster: Cluster;
const opened: TrackerConnection[] = [];

beforeAll(async () => {
  cluster = await Cluster.create(2);
  await Promise.all([cluster.start(1), cluster.start(2)]);
}, 30_000);
afterAll(async () => {
  for (const c of opened) c.close();
  await cluster?.destroy();
});

/** Both trackers hold the same state (replication has delivered everything). */
async function converged(): Promise<string> {
  return waitFor('both trackers at the same state hash', async () => {
    const [a, b] = await hashes(cluster);
    return a === b ? a : undefined;
  });
}

describe.each([1, 2])('authorization matrix on tracker %i', (t) => {
  const users: Record<Role, string> = { anon: '', loggedOut: `lo${t}`, nonMember: `n${t}`, pending: `p${t}`, member: `m${t}`, owner: `o${t}` };
  const conns = {} as Record<Role, TrackerConnection>;

  beforeAll(async () => {
    const keep = (c: TrackerConnection): TrackerConnection => (opened.push(c), c);
    conns.anon = keep(await connectTo(cluster, t));
    for (const role of ROLES.slice(1)) conns[role] = keep(await loginTo(cluster, t, users[role], PASSWORD, peerFor(t, role), true));
    await conns.loggedOut.request('logout', {});
    await quiescentHash(cluster);
  }, 30_000);

  /** Sets up G for one command: owner, accepted member, pending requester, file F seeded by both. */
  async function fixture(group: string): Promise<{ file: string }> {
    const f = syntheticFile(`${group}/F`);
    await conns.owner.request('create_group', { group });
    await conns.member.request('join_group', { group });
    await conns.owner.request('accept_request', { group, user: users.member });
    await conns.pending.request('join_group', { group });
    await conns.owner.request('upload_file', { group, name: 'F', ...f });
    await conns.member.request('upload_file', { group, name: 'F', ...f });
    return { file: 'F' };
  }

  /** Runs `op` as `role`; login is tried on a fresh connection so the anon one stays anonymous. */
  async function attempt(op: string, role: Role, group: string, file: string, n: number): Promise<string> {
    const c = conns[role];
    const argsFor: Record<string, () => ArgsOf<Op>> = {
      create_user: () => ({ user: `cu${t}x${n}`, password: PASSWORD }),
      login: () => ({ user: `lg${t}x${n}`, password: PASSWORD, peer: `127.0.0.1:${30000 + n}` }),
      logout: () => ({}),
      create_group: () => ({ group: `cg${t}x${n}` }),
      join_group: () => ({ group }),
      leave_group: () => ({ group }),
      list_requests: () => ({ group }),
      accept_request: () => ({ group, user: users.pending }),
      reject_request: () => ({ group, user: users.pending }),
      list_groups: () => ({}),
      list_files: () => ({ group }),
      upload_file: () => ({ group, name: `up${n}`, ...syntheticFile(`${group}/up${n}`) }),
      stop_share: () => ({ group, name: file }),
      download_file: () => ({ group, name: file }),
      join_swarm: () => ({ group, name: file }),
    };
    const args = argsFor[op]!() as ArgsOf<'ping'>;
    if (op === 'login' && (role === 'anon' || role === 'loggedOut')) {
      const fresh = await connectTo(cluster, t);
      opened.push(fresh);
      if (role === 'loggedOut') {
        await fresh.request('login', { ...(args as unknown as ArgsOf<'login'>) });
        await fresh.request('logout', {});
      }
      const result = await outcome(fresh, 'login', args as unknown as ArgsOf<'login'>);
      if (result === OK) await fresh.request('logout', {});
      return result;
    }
    const result = await outcome(c, op as 'ping', args);
    if (op === 'logout' && result === OK) await c.request('login', { user: users[role], password: PASSWORD, peer: peerFor(t, role) });
    return result;
  }

  it.each(Object.keys(EXPECTED))('%s', async (op) => {
    const group = `g${t}${op.replace(/_/g, '')}`;
    const { file } = await fixture(group);
    if (op === 'login') for (const i of ROLES.keys()) await conns.anon.request('create_user', { user: `lg${t}x${i}`, password: PASSWORD });
    const seen: Record<string, string> = {};
    for (const [i, role] of ROLES.entries()) {
      const before = await converged();
      const result = await attempt(op, role, group, file, i);
      seen[role] = result;
      const after = await hashes(cluster);
      if (result !== OK || READS.has(op) || NO_OPS.has(op)) {
        // Refused (or a read): neither tracker's state moved.
        expect(after, `${op} as ${role} on tracker ${t} (${result}) changed the state`).toEqual([before, before]);
      } else if (op !== 'login') {
        // login as anon/loggedOut logs out again here, but login + logout leaves events too.
        expect(after[t - 1], `${op} as ${role} on tracker ${t} was allowed but changed nothing`).not.toBe(before);
      }
    }
    expect(seen).toEqual(EXPECTED[op]);
  }, 30_000);
});
