// Downloads fail loudly, in bounded time, when no peer can supply what is missing,
// and recover when the tracker names a new peer.
import { createServer } from 'node:net';
import { open as openFile } from 'node:fs/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { Download, DownloadError } from '../../src/client/downloader.js';
import { PieceStore } from '../../src/client/piece-store.js';
import { PIECE_SIZE, pieceLength, type SwarmPeer } from '../../src/wire/manifest.js';
import { peerOf, sameBytes, Swarm, ticketFor } from './swarm.js';

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('no peer can supply the rest', () => {
  const swarm = new Swarm();
  afterEach(() => swarm.cleanup());

  it('fails with NO_PEERS when nobody answers', async () => {
    const { manifest } = await swarm.file(PIECE_SIZE);
    const download = new Download({
      manifest,
      peers: [{ user: 'ghost', host: '127.0.0.1', port: await freePort() }],
      ticket: ticketFor(manifest),
      destination: await swarm.dir(),
    });
    const started = Date.now();
    const error = (await download.start().catch((e: unknown) => e)) as DownloadError;
    expect(error).toBeInstanceOf(DownloadError);
    expect(error.code).toBe('NO_PEERS');
    expect(Date.now() - started).toBeLessThan(15_000);
  }, 20_000);

  it('fails with DOWNLOAD_STALLED when the only peer has part of the file', async () => {
    const { path, manifest } = await swarm.file(4 * PIECE_SIZE);
    // A leecher that holds pieces 0 and 1 only, serving them.
    const partial = await PieceStore.open(manifest, await swarm.dir());
    const source = await openFile(path, 'r');
    for (const i of [0, 1]) {
      const data = Buffer.alloc(pieceLength(manifest, i));
      await source.read(data, 0, data.length, i * PIECE_SIZE);
      await partial.writePiece(i, data);
    }
    await source.close();
    const server = await swarm.server();
    await server.share(manifest, partial);

    const download = new Download({ manifest, peers: [peerOf(server)], ticket: ticketFor(manifest), destination: await swarm.dir(), stallTimeoutMs: 1_500 });
    let got = 0;
    download.on('piece', () => got++);
    const error = (await download.start().catch((e: unknown) => e)) as DownloadError;
    expect(error.code).toBe('DOWNLOAD_STALLED');
    expect(error.message).toMatch(/2 piece\(s\) missing/);
    expect(got).toBe(2);
    server.unshare(manifest.sha1);
    await partial.close();
  }, 20_000);

  it('asks for fresh peers when it has none, and completes with them', async () => {
    const { path, manifest } = await swarm.file(3 * PIECE_SIZE);
    const seeder = await swarm.seeder(manifest, path);
    let asked = 0;
    const download = new Download({
      manifest,
      peers: [],
      ticket: ticketFor(manifest),
      destination: await swarm.dir(),
      refreshPeers: async (): Promise<SwarmPeer[]> => {
        asked++;
        return [peerOf(seeder)];
      },
    });
    const final = await download.start();
    expect(asked).toBeGreaterThanOrEqual(1);
    expect(await sameBytes(final, path)).toBe(true);
  }, 20_000);
});
