// The upload cap holds, roughly: 4 MiB from a seeder capped at 2 MiB/s cannot arrive in
// much less than 2 s (the bucket starts with one burst, so assert >= 1.2 s only).
import { afterEach, describe, expect, it } from 'vitest';
import { Download } from '../../src/client/downloader.js';
import { parseRate } from '../../src/client/rate-limiter.js';
import { peerOf, sameBytes, Swarm, ticketFor } from './swarm.js';

describe('upload rate limit', () => {
  const swarm = new Swarm();
  afterEach(() => swarm.cleanup());

  it('slows a 4 MiB transfer at 2 MiB/s to well over a second', async () => {
    const { path, manifest } = await swarm.file(4 * 1024 * 1024);
    const seeder = await swarm.seeder(manifest, path, { maxUploadRate: parseRate('2M') });
    const started = performance.now();
    const final = await new Download({ manifest, peers: [peerOf(seeder)], ticket: ticketFor(manifest), destination: await swarm.dir() }).start();
    const seconds = (performance.now() - started) / 1000;
    expect(await sameBytes(final, path)).toBe(true);
    expect(seconds).toBeGreaterThanOrEqual(1.2);
    expect(seconds).toBeLessThan(10);
  }, 20_000);

  it('is shared by all connections of a server', async () => {
    const { path, manifest } = await swarm.file(4 * 1024 * 1024);
    const seeder = await swarm.seeder(manifest, path, { maxUploadRate: parseRate('4M') });
    const started = performance.now();
    await Promise.all(
      [1, 2].map(async () => new Download({ manifest, peers: [peerOf(seeder)], ticket: ticketFor(manifest), destination: await swarm.dir() }).start()),
    );
    // 8 MiB in total at 4 MiB/s.
    expect((performance.now() - started) / 1000).toBeGreaterThanOrEqual(1.2);
  }, 20_000);
});
