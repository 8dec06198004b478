// A leecher serves the pieces it already has: a second leecher whose only peer is
// the first one gets pieces while the first is still downloading, then the rest.
import { afterEach, describe, expect, it } from 'vitest';
import { Download } from '../../src/client/downloader.js';
import { PIECE_SIZE, type SwarmPeer } from '../../src/wire/manifest.js';
import { once, peerOf, sameBytes, Swarm, ticketFor } from './swarm.js';

describe('a second leecher downloading from the first', () => {
  const swarm = new Swarm();
  afterEach(() => swarm.cleanup());

  it('gets pieces before the first leecher has finished, and a byte-identical file', async () => {
    const { path, manifest } = await swarm.file(12 * PIECE_SIZE);
    const seeder = await swarm.seeder(manifest, path);
    const firstServer = await swarm.server();
    const first = new Download({
      manifest,
      peers: [peerOf(seeder, 'seed')],
      ticket: ticketFor(manifest),
      destination: await swarm.dir(),
      self: firstServer.address(),
      maxDownloadRate: 3 * 1024 * 1024, // ~2 s for the file
      peerServer: firstServer,
    });
    let firstDone = false;
    first.on('done', () => (firstDone = true));
    const firstResult = first.start();
    await once(first, 'first-piece');

    const second = new Download({
      manifest,
      peers: [peerOf(firstServer, 'first')], // not the seeder: everything must come through the first leecher
      ticket: ticketFor(manifest),
      destination: await swarm.dir(),
    });
    const sources = new Set<string>();
    let piecesBeforeFirstDone = 0;
    second.on('piece', (_i: number, peer: SwarmPeer) => {
      sources.add(peer.user);
      if (!firstDone) piecesBeforeFirstDone++;
    });
    const [firstPath, secondPath] = await Promise.all([firstResult, second.start()]);

    expect(await sameBytes(firstPath, path)).toBe(true);
    expect(await sameBytes(secondPath, path)).toBe(true);
    expect(piecesBeforeFirstDone).toBeGreaterThan(0);
    expect(sources).toEqual(new Set(['first']));
    // Still shared after finishing, now from the complete file.
    expect(firstServer.isSharing(manifest.sha1)).toBe(true);
    expect(firstServer.stats().piecesServed).toBeGreaterThanOrEqual(12);
  }, 20_000);
});
