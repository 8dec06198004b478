/**
 * Hostile peers in a swarm with honest seeders (test/p2p/hostile-peer.int.test.ts already
 * covers the peer that corrupts every piece): one that never answers, one that sends
 * pieces nobody asked for, one that claims pieces it lacks, and one honest-but-glitchy
 * peer that sends a single bad piece. Every download finishes byte-identical; penalties
 * are per peer and follow the evidence: the peer that sent garbage is banned, the one
 * that broke the protocol is dropped, the glitchy one keeps serving, the one that lacked
 * pieces is merely asked for something else.
 */
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { Download, MAX_BAD_PIECES_PER_PEER } from '../../src/client/downloader.js';
import { pieceCount, pieceLength, PIECE_SIZE, type FileManifest, type SwarmPeer } from '../../src/wire/manifest.js';
import { Bitfield, encodeBitfield, encodePiece, encodeReject, FrameDecoder, RejectReason } from '../../src/wire/peer-frames.js';
import { peerOf, sameBytes, Swarm, ticketFor } from '../p2p/swarm.js';

type Behaviour = 'silent' | 'unrequested' | 'lacks' | 'glitchy' | 'corrupt';

interface FakePeer {
  readonly server: Server;
  readonly peer: SwarmPeer;
  requests: number;
}

/** A peer that speaks the protocol, claims every piece, and then misbehaves as told. */
async function fakePeer(user: Behaviour, manifest: FileManifest, path: string): Promise<FakePeer> {
  const content = await readFile(path);
  const piece = (i: number): Buffer => content.subarray(i * manifest.pieceSize, i * manifest.pieceSize + pieceLength(manifest, i));
  const sockets = new Set<Socket>();
  const fake: FakePeer = { server: undefined as unknown as Server, peer: undefined as unknown as SwarmPeer, requests: 0 };
  let sentBad = false;
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    let lastSent: number | undefined;
    const decoder = new FrameDecoder((m) => {
      if (m.type === 'handshake') {
        socket.write(encodeBitfield(Bitfield.full(pieceCount(manifest.size)).bytes));
      }
      if (m.type !== 'request') return;
      fake.requests++;
      switch (user) {
        case 'silent':
          return; // holds every request forever
        case 'unrequested': {
          // Answers, then sends the piece it answered last time again: that one is no
          // longer in flight (it arrived, it was verified), so nobody asked for it.
          socket.write(encodePiece(m.index, piece(m.index)));
          if (lastSent !== undefined) socket.write(encodePiece(lastSent, piece(lastSent)));
          lastSent = m.index;
          return;
        }
        case 'lacks':
          return void socket.write(encodeReject(m.index, RejectReason.NOT_AVAILABLE));
        case 'glitchy':
          if (!sentBad) {
            sentBad = true;
            return void socket.write(encodePiece(m.index, randomBytes(pieceLength(manifest, m.index))));
          }
          return void socket.write(encodePiece(m.index, piece(m.index)));
        case 'corrupt':
          return void socket.write(encodePiece(m.index, randomBytes(pieceLength(manifest, m.index))));
      }
    });
    socket.on('data', (chunk: Buffer) => {
      try {
        decoder.push(chunk);
      } catch {
        socket.destroy();
      }
    });
  });
  server.on('close', () => sockets.forEach((s) => s.destroy()));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return Object.assign(fake, { server, peer: { user, host: '127.0.0.1', port } });
}

describe('hostile peers in a swarm', () => {
  const swarm = new Swarm();
  const fakes: Server[] = [];
  afterEach(async () => {
    for (const s of fakes.splice(0)) {
      s.close();
      s.emit('close');
    }
    await swarm.cleanup();
  });

  async function run(behaviours: Behaviour[], pieces = 16) {
    const { path, manifest } = await swarm.file(pieces * PIECE_SIZE - 1234);
    const liars = await Promise.all(behaviours.map((b) => fakePeer(b, manifest, path)));
    fakes.push(...liars.map((l) => l.server));
    // One honest seeder, slowed down so the liars are offered plenty of requests.
    const honest = await swarm.seeder(manifest, path, { maxUploadRate: 16 * 1024 * 1024 });
    const download = new Download({ manifest, peers: [...liars.map((l) => l.peer), peerOf(honest, 'honest')], ticket: ticketFor(manifest), destination: await swarm.dir() });
    const dropped: [string, string][] = [];
    const bad: string[] = [];
    const good = new Map<string, number>();
    download.on('peer-dropped', (p: SwarmPeer, code: string) => dropped.push([p.user, code]));
    download.on('bad-piece', (_i: number, p: SwarmPeer) => bad.push(p.user));
    download.on('piece', (_i: number, p: SwarmPeer) => good.set(p.user, (good.get(p.user) ?? 0) + 1));
    const started = Date.now();
    const final = await download.start();
    expect(await sameBytes(final, path)).toBe(true);
    return { liars, dropped, bad, good, ms: Date.now() - started };
  }

  it('a peer that never answers does not hold the download hostage', async () => {
    const { liars, good, ms } = await run(['silent']);
    expect(liars[0]!.requests).toBeGreaterThan(0);
    expect(good.get('silent')).toBeUndefined();
    expect(ms).toBeLessThan(15_000);
  }, 30_000);

  it('a peer that sends pieces nobody asked for is dropped for breaking the protocol', async () => {
    const { dropped, liars } = await run(['unrequested']);
    expect(liars[0]!.requests).toBeGreaterThan(1);
    expect(dropped).toContainEqual(['unrequested', 'PROTOCOL']);
  }, 30_000);

  it('a peer that claims pieces it lacks is asked for each at most once, and not punished as a liar', async () => {
    const { liars, dropped, bad } = await run(['lacks'], 16);
    expect(liars[0]!.requests).toBeGreaterThan(0);
    expect(liars[0]!.requests).toBeLessThanOrEqual(16); // a NOT_AVAILABLE clears that bit of its claim
    expect(bad).toEqual([]);
    expect(dropped.filter(([user, code]) => user === 'lacks' && (code === 'BAD_PIECES' || code === 'PROTOCOL'))).toEqual([]);
  }, 30_000);

  it('banning follows the evidence: the liar is banned, an honest peer with one bad piece keeps serving', async () => {
    const { dropped, bad, good } = await run(['corrupt', 'glitchy'], 24);
    expect(bad.filter((u) => u === 'corrupt').length).toBeGreaterThanOrEqual(MAX_BAD_PIECES_PER_PEER);
    expect(dropped).toContainEqual(['corrupt', 'BAD_PIECES']);
    expect(bad.filter((u) => u === 'glitchy')).toEqual(['glitchy']);
    expect(dropped.filter(([user]) => user === 'glitchy')).toEqual([]);
    expect(good.get('glitchy')).toBeGreaterThan(0);
    expect(good.get('corrupt')).toBeUndefined();
  }, 30_000);
});
