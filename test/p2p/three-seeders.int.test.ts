// Guarantee 5 on the happy path: a leecher assembles a byte-identical file from
// three seeders at once, drawing pieces from each of them.
import { afterEach, describe, expect, it } from 'vitest';
import { Download } from '../../src/client/downloader.js';
import { PIECE_SIZE, type SwarmPeer } from '../../src/wire/manifest.js';
import { peerOf, sameBytes, Swarm, ticketFor } from './swarm.js';

describe('download from three seeders', () => {
  const swarm = new Swarm();
  afterEach(() => swarm.cleanup());

  it('produces a byte-identical file with pieces from all three', async () => {
    const { path, manifest } = await swarm.file(40 * PIECE_SIZE + 12_345);
    const seeders = await Promise.all([1, 2, 3].map(() => swarm.seeder(manifest, path)));
    const dest = await swarm.dir();
    const download = new Download({ manifest, peers: seeders.map((s, i) => peerOf(s, `seed${i}`)), ticket: ticketFor(manifest), destination: dest });
    const fromPeer = new Map<string, number>();
    const events: string[] = [];
    download.on('piece', (_index: number, peer: SwarmPeer) => fromPeer.set(peer.user, (fromPeer.get(peer.user) ?? 0) + 1));
    download.on('first-piece', () => events.push('first-piece'));
    download.on('done', () => events.push('done'));

    const final = await download.start();

    expect(final).toBe(`${dest}/${manifest.name}`);
    expect(await sameBytes(final, path)).toBe(true);
    expect(events).toEqual(['first-piece', 'done']);
    expect([...fromPeer.keys()].sort()).toEqual(['seed0', 'seed1', 'seed2']);
    expect([...fromPeer.values()].reduce((a, b) => a + b, 0)).toBe(manifest.pieceHashes.length);
    for (const seeder of seeders) expect(seeder.stats().piecesServed).toBeGreaterThan(0);
    const progress = download.progress();
    expect(progress.piecesDone).toBe(progress.pieceCount);
    expect(progress.bytesDone).toBe(manifest.size);
  }, 20_000);

  it('downloads an empty file and a one-piece file', async () => {
    for (const size of [0, 1000]) {
      const { path, manifest } = await swarm.file(size, `f${size}.bin`);
      const seeder = await swarm.seeder(manifest, path);
      const dest = await swarm.dir();
      const final = await new Download({ manifest, peers: [peerOf(seeder)], ticket: ticketFor(manifest), destination: `${dest}/copy.bin` }).start();
      expect(final).toBe(`${dest}/copy.bin`);
      expect(await sameBytes(final, path)).toBe(true);
    }
  }, 20_000);
});
