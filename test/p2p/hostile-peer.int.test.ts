// Guarantee 5 under attack: a peer that speaks the protocol but serves corrupted
// pieces cannot spoil the file; it is penalised, dropped, and honest peers finish it.
import { randomBytes } from 'node:crypto';
import { createServer, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { Download, MAX_BAD_PIECES_PER_PEER } from '../../src/client/downloader.js';
import { pieceCount, pieceLength, PIECE_SIZE, type FileManifest, type SwarmPeer } from '../../src/wire/manifest.js';
import { Bitfield, encodeBitfield, encodePiece, FrameDecoder } from '../../src/wire/peer-frames.js';
import { peerOf, sameBytes, Swarm, ticketFor } from './swarm.js';

/** Claims every piece, answers every request at once with random bytes of the right length. */
async function hostilePeer(manifest: FileManifest): Promise<{ server: Server; peer: SwarmPeer; served: () => number }> {
  let served = 0;
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    const decoder = new FrameDecoder((message) => {
      if (message.type === 'handshake') socket.write(encodeBitfield(Bitfield.full(pieceCount(manifest.size)).bytes));
      if (message.type === 'request') {
        served++;
        socket.write(encodePiece(message.index, randomBytes(pieceLength(manifest, message.index))));
      }
    });
    socket.on('data', (chunk: Buffer) => decoder.push(chunk));
  });
  server.on('close', () => sockets.forEach((s) => s.destroy()));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return { server, peer: { user: 'mallory', host: '127.0.0.1', port }, served: () => served };
}

describe('a peer serving corrupted pieces', () => {
  const swarm = new Swarm();
  const hostile: Server[] = [];
  afterEach(async () => {
    for (const server of hostile.splice(0)) {
      server.close();
      server.emit('close');
    }
    await swarm.cleanup();
  });

  it('cannot spoil the file and gets dropped while honest peers finish it', async () => {
    const { path, manifest } = await swarm.file(24 * PIECE_SIZE);
    const mallory = await hostilePeer(manifest);
    hostile.push(mallory.server);
    // Slow honest seeders, so the fast liar is offered plenty of requests.
    const honest = await Promise.all([1, 2].map(() => swarm.seeder(manifest, path, { maxUploadRate: 8 * 1024 * 1024 })));
    const dest = await swarm.dir();
    const download = new Download({
      manifest,
      peers: [mallory.peer, ...honest.map((s, i) => peerOf(s, `honest${i}`))],
      ticket: ticketFor(manifest),
      destination: dest,
    });
    const badFrom: string[] = [];
    const dropped: [string, string][] = [];
    const goodFrom = new Set<string>();
    download.on('bad-piece', (_i: number, peer: SwarmPeer) => badFrom.push(peer.user));
    download.on('peer-dropped', (peer: SwarmPeer, code: string) => dropped.push([peer.user, code]));
    download.on('piece', (_i: number, peer: SwarmPeer) => goodFrom.add(peer.user));

    const final = await download.start();

    expect(await sameBytes(final, path)).toBe(true);
    expect(mallory.served()).toBeGreaterThan(0);
    expect(badFrom.length).toBeGreaterThanOrEqual(MAX_BAD_PIECES_PER_PEER);
    expect(new Set(badFrom)).toEqual(new Set(['mallory']));
    expect(dropped).toContainEqual(['mallory', 'BAD_PIECES']);
    expect(goodFrom.has('mallory')).toBe(false);
  }, 20_000);

  it('alone: the download fails at once with BAD_PEERS, not after the stall timeout with a wrong reason', async () => {
    const { manifest } = await swarm.file(8 * PIECE_SIZE);
    const mallory = await hostilePeer(manifest);
    hostile.push(mallory.server);
    const download = new Download({
      manifest,
      peers: [mallory.peer],
      ticket: ticketFor(manifest),
      destination: await swarm.dir(),
      refreshPeers: async () => [mallory.peer], // the tracker keeps listing it, as a real one does
      stallTimeoutMs: 30_000,
    });
    const t0 = performance.now();
    await expect(download.start()).rejects.toMatchObject({ code: 'BAD_PEERS', message: expect.stringContaining('fail their SHA-1') });
    expect(performance.now() - t0).toBeLessThan(10_000);
  }, 40_000);
});
