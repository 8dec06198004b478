/**
 * Peer tickets at process level (Guarantee 6 at the peer): a real client process seeds two
 * files; its peer server serves a connection only against a ticket a tracker of this
 * cluster signed (the Ed25519 key both trackers derive from the cluster secret), for that
 * file, not yet expired. Forged, expired and other-file tickets get REJECT(NOT_AUTHORIZED).
 * With --ticket-ttl 2, a user who left the group can no longer start a transfer once the
 * last ticket they got has expired: the tracker will not sign another.
 */
import { createHash, generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ScriptedClient } from '../../src/demo/scripted-client.js';
import { loadClusterKeys } from '../../src/tracker/cluster-keys.js';
import { PIECE_SIZE } from '../../src/wire/manifest.js';
import { encodeHandshake, RejectReason } from '../../src/wire/peer-frames.js';
import { decodePublicKey, signTicket } from '../../src/wire/ticket.js';
import { CLIENT_BIN, Cluster, freePort } from '../helpers/cluster.js';
import { loginTo, outcome, peerExchange, type TrackerConnection } from './kit.js';

const TICKET_TTL_S = 2;
let cluster: Cluster;
let seeder: ScriptedClient;
let seederPort: number;
const files: Record<'a' | 'b', { path: string; sha1: string }> = {} as never;
const conns: TrackerConnection[] = [];

interface Download {
  readonly ticket: string;
  readonly publicKeys: string[];
  readonly manifest: { sha1: string };
  readonly peers: { user: string; port: number }[];
}

beforeAll(async () => {
  cluster = await Cluster.create(2);
  const flags = ['--ticket-ttl', String(TICKET_TTL_S)];
  await Promise.all([cluster.start(1, flags), cluster.start(2, flags)]);
  const dir = join(cluster.dir, 'seeder-files');
  mkdirSync(dir, { recursive: true });
  for (const name of ['a', 'b'] as const) {
    const bytes = randomBytes(2 * PIECE_SIZE + 1000);
    const path = join(dir, `${name}.bin`);
    writeFileSync(path, bytes);
    files[name] = { path, sha1: createHash('sha1').update(bytes).digest('hex') };
  }
  seederPort = await freePort();
  seeder = new ScriptedClient(CLIENT_BIN, `127.0.0.1:${seederPort}`, cluster.infoFile, ['--state-dir', join(cluster.dir, 'seeder-state')], cluster.dir);
  for (const line of ['create_user alice pw', 'login alice pw', 'create_group g', `upload_file ${files.a.path} g`, `upload_file ${files.b.path} g`]) await seeder.must(line);
}, 30_000);
afterAll(async () => {
  for (const c of conns) c.close();
  await seeder?.kill('SIGKILL');
  await cluster?.destroy();
});

async function member(user: string, tracker: number): Promise<TrackerConnection> {
  const c = await loginTo(cluster, tracker, user, 'pw', `127.0.0.1:${await freePort()}`, true);
  conns.push(c);
  await c.request('join_group', { group: 'g' });
  await seeder.must(`accept_request g ${user}`);
  return c;
}

const handshake = (fileId: string, ticket: string): Buffer => encodeHandshake(fileId, ticket);
const served = { messages: ['bitfield'], rejects: [], closed: false };
const refused = { messages: ['reject'], rejects: [RejectReason.NOT_AUTHORIZED], closed: true };

describe('peer tickets, against a real client process', () => {
  it('a ticket from either tracker opens the file it names; forged, expired and other-file tickets are refused', async () => {
    const bob = await member('bob', 1);
    const fromT1 = (await bob.request('download_file', { group: 'g', name: 'a.bin' })) as Download;
    expect(fromT1.peers.map((p) => p.port)).toContain(seederPort);
    const bobOnT2 = await loginTo(cluster, 2, 'bob', 'pw', `127.0.0.1:${await freePort()}`);
    conns.push(bobOnT2);
    const fromT2 = (await bobOnT2.request('download_file', { group: 'g', name: 'a.bin' })) as Download;
    const forB = (await bob.request('download_file', { group: 'g', name: 'b.bin' })) as Download;
    // Both trackers sign with the one key derived from the cluster secret, and say so.
    expect(fromT2.publicKeys).toEqual(fromT1.publicKeys);
    const keys = loadClusterKeys(join(cluster.dir, 'unused'), cluster.secretFile);
    expect(decodePublicKey(fromT1.publicKeys[0]!).equals(keys.ticketPublicKey)).toBe(true);

    const port = seederPort;
    expect(await peerExchange(port, [handshake(files.a.sha1, fromT1.ticket)], { waitMs: 500 })).toEqual(served);
    expect(await peerExchange(port, [handshake(files.a.sha1, fromT2.ticket)], { waitMs: 500 })).toEqual(served);

    const claims = { user: 'bob', group: 'g', fileId: files.a.sha1, expiresAt: Date.now() + 60_000 };
    const forged = signTicket(generateKeyPairSync('ed25519').privateKey, claims);
    const expired = signTicket(keys.ticketPrivateKey, { ...claims, expiresAt: Date.now() - 1 });
    const [payload, signature] = fromT1.ticket.split('.') as [string, string];
    const stretched = `${Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(payload, 'base64url').toString()), expiresAt: Date.now() + 3_600_000 })).toString('base64url')}.${signature}`;
    for (const [what, frame] of [
      ['forged (another key)', handshake(files.a.sha1, forged)],
      ['expired (the cluster key, past expiry)', handshake(files.a.sha1, expired)],
      ['for another file', handshake(files.a.sha1, forB.ticket)],
      ['with a stretched expiry', handshake(files.a.sha1, stretched)],
      ['garbage', handshake(files.a.sha1, 'x'.repeat(100))],
    ] as const) {
      expect(await peerExchange(port, [frame]), what).toEqual(refused);
    }
    // A ticket for a file this peer does not serve is refused as such.
    const other = '0'.repeat(40);
    expect((await peerExchange(port, [handshake(other, signTicket(keys.ticketPrivateKey, { ...claims, fileId: other }))])).rejects).toEqual([RejectReason.UNKNOWN_FILE]);
  }, 20_000);

  it(`a user who left the group cannot start new transfers once the ticket expires (--ticket-ttl ${TICKET_TTL_S})`, async () => {
    const carol = await member('carol', 2);
    const last = (await carol.request('download_file', { group: 'g', name: 'a.bin' })) as Download;
    const issuedAt = Date.now();
    await carol.request('leave_group', { group: 'g' });
    expect(await outcome(carol, 'download_file', { group: 'g', name: 'a.bin' })).toBe('NOT_MEMBER');
    // Until it expires, the ticket in hand still opens a connection (the peer cannot know she left)...
    expect(await peerExchange(seederPort, [handshake(files.a.sha1, last.ticket)], { waitMs: 300 })).toEqual(served);
    // ...and from then on, nothing does.
    await new Promise((r) => setTimeout(r, Math.max(0, issuedAt + TICKET_TTL_S * 1000 + 200 - Date.now())));
    expect(await peerExchange(seederPort, [handshake(files.a.sha1, last.ticket)])).toEqual(refused);
    expect(await outcome(carol, 'download_file', { group: 'g', name: 'a.bin' })).toBe('NOT_MEMBER');
  }, 20_000);
});
