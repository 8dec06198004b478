/**
 * A partition: both trackers accept `create_user alice`. Once the link is back both hold
 * both events and resolve them the same way: first claim in (hlc, origin, seq) order
 * wins, the other stays in the log and is listed as a conflict, identically on both.
 * What the losing account's sessions did is void too: it is never done in the winner's name.
 */
import { afterEach, describe, expect, test } from 'vitest';
import type { TrackerConnection } from '../../src/client/tracker-connection.js';
import type { State } from '../../src/events/state.js';
import { Cluster, waitFor } from '../helpers/cluster.js';
import { RawClient, syntheticFile } from '../hardening/kit.js';
import { clientOf, health, partitionable, stateOf, waitConverged, type Partitionable } from '../helpers/replication.js';

describe('conflicts from a partition', () => {
  let cluster: Cluster | undefined;
  let net: Partitionable | undefined;
  const clients: TrackerConnection[] = [];

  afterEach(async () => {
    for (const c of clients.splice(0)) c.close();
    await cluster?.destroy();
    await net?.close();
  });

  /** Two trackers whose link runs through a proxy that can cut it. */
  async function startPartitionable(): Promise<Cluster> {
    const c = await Cluster.create(2);
    cluster = c;
    net = await partitionable(c);
    await Promise.all([c.start(1, net.args(1)), c.start(2, net.args(2))]);
    return c;
  }

  /** Cuts the link and waits until both trackers see it down. */
  async function cutOff(): Promise<void> {
    net!.cut();
    await waitFor('both links down', async () => ((await health(cluster!, 1)).replication.link !== 'up' && (await health(cluster!, 2)).replication.link !== 'up' ? true : undefined));
  }

  /** Heals the link and waits until both trackers agree; tracker 1's state, whose conflicts tracker 2 lists alike. */
  async function healed(): Promise<State> {
    net!.heal();
    const [a, b] = await waitConverged(cluster!, 15_000);
    expect(a.stateHash).toBe(b.stateHash);
    const s1 = stateOf(cluster!, 1);
    expect(s1.conflicts).toEqual(stateOf(cluster!, 2).conflicts);
    return s1;
  }

  test('both trackers accept create_user alice while cut off; after healing they list the same conflict', async () => {
    cluster = await startPartitionable();
    await waitConverged(cluster);

    await cutOff();
    const one = await clientOf(cluster, [1]);
    const two = await clientOf(cluster, [2]);
    clients.push(one, two);
    await one.request('create_user', { user: 'alice', password: 'first' });
    await new Promise((r) => setTimeout(r, 5)); // a later hlc on tracker 2
    await two.request('create_user', { user: 'alice', password: 'second' });
    await two.request('login', { user: 'alice', password: 'second', peer: '127.0.0.1:7401' }); // tracker 2 believes its alice

    const s1 = await healed();
    expect(s1.conflicts).toEqual([
      { origin: 2, seq: 1, type: 'user_created', reason: 'user alice already exists' },
      // tracker 2's login was the losing alice's: it is no session of the winner's
      { origin: 2, seq: 2, type: 'session_started', reason: expect.stringContaining('lost the name') },
    ]);
    expect(s1.users.get('alice')).toEqual(stateOf(cluster, 2).users.get('alice'));

    // the first claim's password works on both trackers; the loser's on neither
    for (const id of [1, 2]) {
      const fresh = await clientOf(cluster, [id]);
      clients.push(fresh);
      await expect(fresh.request('login', { user: 'alice', password: 'second', peer: '127.0.0.1:7402' })).rejects.toMatchObject({ code: 'WRONG_PASSWORD' });
      await fresh.request('login', { user: 'alice', password: 'first', peer: '127.0.0.1:7403' });
    }
    // the losing alice's client is told its session is gone, and why
    await expect(two.request('list_groups', {})).rejects.toMatchObject({ code: 'SESSION_EXPIRED', message: expect.stringContaining('another user alice was created first') });
    // a session that simply ended still says so plainly
    const plain = await clientOf(cluster, [1]);
    clients.push(plain);
    await plain.request('login', { user: 'alice', password: 'first', peer: '127.0.0.1:7404' });
    const replacing = await clientOf(cluster, [2]);
    clients.push(replacing);
    await replacing.request('login', { user: 'alice', password: 'first', peer: '127.0.0.1:7404' }); // a login from the same address replaces that session
    await expect(plain.request('list_groups', {})).rejects.toMatchObject({ code: 'SESSION_EXPIRED', message: 'your session has ended; login again' });
  });

  test("the losing eve's session accepts gina into group gx: after healing gina is no member of the winning eve's gx", async () => {
    // QA round 2, finding 2: the loser's accept_request let a stranger into the winner's group.
    cluster = await startPartitionable();
    const gina = await clientOf(cluster, [2]);
    clients.push(gina);
    await gina.request('create_user', { user: 'gina', password: 'g' });
    await waitConverged(cluster);

    await cutOff();
    const eve1 = await clientOf(cluster, [1]);
    const eve2 = await clientOf(cluster, [2]);
    clients.push(eve1, eve2);
    await eve1.request('create_user', { user: 'eve', password: 'first' });
    await eve1.request('login', { user: 'eve', password: 'first', peer: '127.0.0.1:7411' });
    await eve1.request('create_group', { group: 'gx' });
    await eve1.request('upload_file', { group: 'gx', name: 'secret.txt', ...syntheticFile('secret', 1000) });
    await new Promise((r) => setTimeout(r, 5)); // later hlcs on tracker 2
    await eve2.request('create_user', { user: 'eve', password: 'second' });
    await eve2.request('login', { user: 'eve', password: 'second', peer: '127.0.0.1:7412' });
    await eve2.request('create_group', { group: 'gx' });
    await gina.request('login', { user: 'gina', password: 'g', peer: '127.0.0.1:7413' });
    await gina.request('join_group', { group: 'gx' });
    await eve2.request('accept_request', { group: 'gx', user: 'gina' });
    await expect(gina.request('list_files', { group: 'gx' })).resolves.toBeDefined(); // tracker 2 let her in, for now

    const s1 = await healed();
    expect(s1.conflicts.map((c) => [c.origin, c.type])).toEqual([
      [2, 'user_created'],
      [2, 'session_started'],
      [2, 'group_created'],
      [2, 'join_request_accepted'],
    ]);
    expect(s1.groups.get('gx')).toMatchObject({ owner: 'eve', members: ['eve'], requests: ['gina'] });
    for (const id of [1, 2]) {
      const c = await clientOf(cluster, [id]);
      clients.push(c);
      await c.request('login', { user: 'gina', password: 'g', peer: `127.0.0.1:742${id}` });
      await expect(c.request('list_files', { group: 'gx' })).rejects.toMatchObject({ code: 'NOT_MEMBER' });
    }
  });

  test('commands a client sent to both trackers (a retry, same idempotency keys) apply once: one account, one session, and a group left stays gone', async () => {
    cluster = await startPartitionable();
    await waitConverged(cluster);
    await cutOff();
    const [raw1, raw2] = await Promise.all([RawClient.open(cluster.trackers[0]!.port), RawClient.open(cluster.trackers[1]!.port)]);
    const okData = async (reply: Promise<{ ok: boolean; data?: unknown; error?: unknown }>) => {
      const r = await reply;
      expect(r.error).toBeUndefined();
      return r.data as Record<string, unknown>;
    };
    try {
      // tracker 2 runs each command first (the client's retry); tracker 1, as if it had been stalled, runs its copies later
      const dan = { user: 'dan', password: 'pw' };
      await okData(raw2.request('create_user', dan, 'key-create-dan'));
      await okData(raw1.request('create_user', dan, 'key-create-dan'));
      const login = { ...dan, peer: '127.0.0.1:7431' };
      const token2 = (await okData(raw2.request('login', login, 'key-login-dan'))).token;
      const token1 = (await okData(raw1.request('login', login, 'key-login-dan'))).token;
      expect(token1, 'one login, one session, whichever tracker ran it').toBe(token2);
      await okData(raw2.request('create_group', { group: 'gd' }, 'key-create-gd'));
      await okData(raw2.request('leave_group', { group: 'gd' }, 'key-leave-gd'));
      await okData(raw1.request('create_group', { group: 'gd' }, 'key-create-gd'));
    } finally {
      raw1.close();
      raw2.close();
    }

    const s1 = await healed();
    const retry = expect.stringContaining('a retry of a command already applied');
    expect(s1.conflicts).toEqual([
      { origin: 1, seq: 1, type: 'user_created', reason: retry },
      { origin: 1, seq: 2, type: 'session_started', reason: retry },
      { origin: 1, seq: 3, type: 'group_created', reason: retry },
    ]);
    expect(s1.groups.has('gd'), 'left on tracker 2: the late copy from tracker 1 does not bring it back').toBe(false);
    expect([...s1.sessions.values()].filter((s) => s.user === 'dan')).toHaveLength(1);
    // dan's password works on both trackers (both copies hashed it with one salt: one account)
    for (const id of [1, 2]) {
      const c = await clientOf(cluster, [id]);
      clients.push(c);
      await c.request('login', { user: 'dan', password: 'pw', peer: `127.0.0.1:744${id}` });
    }
  });
});
