// An interrupted download resumes from its .part: a new Download on the same
// destination fetches only the pieces the first one did not record.
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Download, DownloadError } from '../../src/client/downloader.js';
import { PIECE_SIZE } from '../../src/wire/manifest.js';
import { peerOf, sameBytes, Swarm, ticketFor } from './swarm.js';

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

describe('resume after abort', () => {
  const swarm = new Swarm();
  afterEach(() => swarm.cleanup());

  it('completes, fetching only the missing pieces', async () => {
    const { path, manifest } = await swarm.file(16 * PIECE_SIZE + 999);
    const count = manifest.pieceHashes.length;
    const seeder = await swarm.seeder(manifest, path);
    const dest = await swarm.dir();
    const target = join(dest, manifest.name);

    const first = new Download({ manifest, peers: [peerOf(seeder)], ticket: ticketFor(manifest), destination: dest, maxDownloadRate: 2 * 1024 * 1024 });
    let before = 0;
    first.on('piece', () => {
      if (++before === 4) first.abort();
    });
    const aborted = await first.start().catch((err: unknown) => err);
    expect(aborted).toBeInstanceOf(DownloadError);
    expect((aborted as DownloadError).code).toBe('ABORTED');
    expect(await exists(`${target}.part`)).toBe(true);
    expect(await exists(`${target}.part.json`)).toBe(true);
    expect(await exists(target)).toBe(false);

    const second = new Download({ manifest, peers: [peerOf(seeder)], ticket: ticketFor(manifest), destination: dest });
    let resumed = 0;
    let fetched = 0;
    second.on('resumed', (done: number) => (resumed = done));
    second.on('piece', () => fetched++);
    const final = await second.start();

    expect(resumed).toBeGreaterThanOrEqual(4);
    expect(resumed).toBeLessThan(count);
    expect(fetched).toBe(count - resumed);
    expect(await sameBytes(final, path)).toBe(true);
    expect(await exists(`${target}.part`)).toBe(false);
    expect(await exists(`${target}.part.json`)).toBe(false);
  }, 20_000);
});
