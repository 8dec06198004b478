/**
 * The link is authenticated with the cluster secret: a tracker started with another
 * secret is refused (and the refusal logged), and none of its events reach the cluster.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import WebSocket from 'ws';
import { GENESIS_PREV, seal } from '../../src/events/envelope.js';
import { encodeMessage, PROTOCOL_VERSION } from '../../src/events/replication/protocol.js';
import type { TrackerConnection } from '../../src/client/tracker-connection.js';
import { trackerCli } from '../admin/admin-cli.js';
import { Cluster, waitFor } from '../helpers/cluster.js';
import { clientOf, health } from '../helpers/replication.js';

describe('link authentication', () => {
  let cluster: Cluster | undefined;
  const clients: TrackerConnection[] = [];

  afterAll(async () => {
    for (const c of clients) c.close();
    await cluster?.destroy();
  });

  test('a tracker with a different cluster secret cannot replicate', async () => {
    cluster = await Cluster.create(2);
    const otherSecret = join(cluster.dir, 'other.secret');
    writeFileSync(otherSecret, 'not-the-cluster-secret-at-all-0123\n');
    await cluster.start(1);
    await cluster.start(2, ['--cluster-secret-file', otherSecret]);

    const mallory = await clientOf(cluster, [2]);
    clients.push(mallory);
    await mallory.request('create_user', { user: 'mallory', password: 'pw' });
    const alice = await clientOf(cluster, [1]);
    clients.push(alice);
    await alice.request('create_user', { user: 'alice', password: 'pw' });

    // both sides refuse each other, and say so once, not on every retry
    await waitFor('the refusal in tracker 1 log', () => (/refused a replication link from .*AUTH_FAILED/.test(cluster!.trackers[0]!.output) ? true : undefined));
    await waitFor('the refusal in tracker 2 log', () => (cluster!.trackers[1]!.output.includes('AUTH_FAILED') ? true : undefined));
    await new Promise((r) => setTimeout(r, 1500)); // several dial attempts
    const [one, two] = [await health(cluster, 1), await health(cluster, 2)];
    expect(one.originMarks['2']).toBeUndefined();
    expect(two.originMarks['1']).toBeUndefined();
    expect(one.replication.link).not.toBe('up');
    expect(two.replication.link).not.toBe('up');
    expect(one.stateHash).not.toBe(two.stateHash);
    const refusals = cluster.trackers[0]!.output.split('\n').filter((l) => l.includes('refused a replication link'));
    expect(refusals.length).toBe(1);
  });

  test('tracker status names the refusal and what to do, exits 2, and the refused side dials ever more slowly', async () => {
    const status = await trackerCli(['status', cluster!.infoFile, '2']);
    expect(status.code).toBe(2);
    expect(status.stdout).toContain('lag unknown (not linked since start)');
    expect(status.stdout).toMatch(/^\s+2\s+\d+\s+\?$/m); // what the twin holds is not known
    expect((await health(cluster!, 2)).replication.lagEvents).toBeNull();
    expect(status.stdout).toMatch(/link problem: AUTH_FAILED \(\d+ time\(s\) in a row, last at .*\)/);
    expect(status.stdout).toContain('do not share one cluster secret');
    // 100, 200, 400, 800 ms... a dial a second at best before; now 1, 2, 5, 10 s apart
    const { times } = (await health(cluster!, 2)).replication.problem!;
    await new Promise((r) => setTimeout(r, 3000));
    expect((await health(cluster!, 2)).replication.problem!.times - times).toBeLessThanOrEqual(2);
  });

  test('once tracker 2 has the cluster secret, the link heals and tracker status is clean again', async () => {
    await cluster!.kill(2, 'SIGTERM');
    await cluster!.start(2);
    await waitFor('the link up and in sync', async () => ((await health(cluster!, 1)).replication.inSync ? true : undefined), 20_000);
    const status = await trackerCli(['status', cluster!.infoFile, '1']);
    expect(status.stdout).not.toContain('link problem');
    expect(status.code).toBe(0);
  });

  test('a stranger on /replicate that skips the proof is cut off and injects nothing', async () => {
    const before = await health(cluster!, 1);
    const ws = new WebSocket(`ws://127.0.0.1:${cluster!.trackers[0]!.port}/replicate`);
    const frames: string[] = [];
    ws.on('message', (d) => frames.push(d.toString()));
    await new Promise((resolve, reject) => (ws.once('open', resolve), ws.once('error', reject)));
    const closed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
    const e = seal({ origin: 2, seq: 1, hlc: Date.now() * 1000, type: 'user_created', data: JSON.stringify({ user: 'eve', passwordHash: 'x' }), prev: GENESIS_PREV, idem: null });
    ws.send(JSON.stringify({ t: 'hello', v: PROTOCOL_VERSION, tracker: 2, challenge: 'c'.repeat(43) }));
    ws.send(encodeMessage({ t: 'events', events: [e] }));
    expect(await closed).toBe(4000);
    expect(frames.map((f) => JSON.parse(f).t)).toEqual(['hello', 'auth', 'refused']);
    const after = await health(cluster!, 1);
    expect(after.originMarks).toEqual(before.originMarks);
    expect(after.stateHash).toBe(before.stateHash);
  });
});
