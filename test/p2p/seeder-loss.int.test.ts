// A peer that dies costs only its pieces in flight: with one seeder shut down
// mid-download, the others still deliver a byte-identical file.
import { afterEach, describe, expect, it } from 'vitest';
import { Download } from '../../src/client/downloader.js';
import { PIECE_SIZE, type SwarmPeer } from '../../src/wire/manifest.js';
import { peerOf, sameBytes, Swarm, ticketFor } from './swarm.js';

describe('a seeder closed mid-download', () => {
  const swarm = new Swarm();
  afterEach(() => swarm.cleanup());

  it('does not stop the download', async () => {
    const { path, manifest } = await swarm.file(32 * PIECE_SIZE);
    const rate = 6 * 1024 * 1024; // ~1 s with three seeders
    const seeders = await Promise.all([0, 1, 2].map(() => swarm.seeder(manifest, path, { maxUploadRate: rate })));
    const dest = await swarm.dir();
    const download = new Download({ manifest, peers: seeders.map((s, i) => peerOf(s, `seed${i}`)), ticket: ticketFor(manifest), destination: dest });
    const dropped: [string, string][] = [];
    const got: number[] = [];
    let closedAt = -1;
    download.on('peer-dropped', (peer: SwarmPeer, code: string) => dropped.push([peer.user, code]));
    download.on('piece', (index: number) => {
      got.push(index);
      if (got.length === 6) {
        closedAt = got.length;
        void seeders[0]!.close();
      }
    });

    const final = await download.start();

    expect(closedAt).toBe(6);
    expect(await sameBytes(final, path)).toBe(true);
    expect(dropped.some(([user, code]) => user === 'seed0' && code === 'CLOSED_BY_PEER')).toBe(true);
    expect(new Set(got).size).toBe(32);
  }, 20_000);
});
