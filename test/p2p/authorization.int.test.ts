// Guarantee 6 at the peer: no piece leaves a PeerServer without a HANDSHAKE carrying
// a tracker-signed ticket for that very file; anything else is refused and closed,
// and broken frames close only that connection (Guarantee 7).
import { afterEach, describe, expect, it } from 'vitest';
import { Download, DownloadError } from '../../src/client/downloader.js';
import type { PeerServer } from '../../src/client/peer-server.js';
import { PIECE_SIZE } from '../../src/wire/manifest.js';
import { encodeHandshake, encodeRequest, RejectReason } from '../../src/wire/peer-frames.js';
import { peerExchange } from '../hardening/kit.js';
import { otherKey, peerOf, sameBytes, Swarm, ticketFor } from './swarm.js';

/** Sends `frames`, collects what comes back until the server closes (or 3 s pass). */
const exchange = (server: PeerServer, ...frames: Buffer[]) => peerExchange(server.address().port, frames);

describe('peer authorization', () => {
  const swarm = new Swarm();
  afterEach(() => swarm.cleanup());

  it('refuses requests without a handshake, and bad tickets, and serves a good one', async () => {
    const { path, manifest } = await swarm.file(2 * PIECE_SIZE);
    const seeder = await swarm.seeder(manifest, path);
    const other = '0'.repeat(40);

    const noHandshake = await exchange(seeder, encodeRequest(0));
    expect(noHandshake).toEqual({ messages: [], rejects: [], closed: true });

    for (const ticket of [
      '',
      'garbage',
      ticketFor(manifest, { key: otherKey }),
      ticketFor(manifest, { fileId: other }),
      ticketFor(manifest, { ttlMs: -1 }),
    ]) {
      const refused = await exchange(seeder, encodeHandshake(manifest.sha1, ticket), encodeRequest(0));
      expect(refused, ticket.slice(0, 20)).toEqual({ messages: ['reject'], rejects: [RejectReason.NOT_AUTHORIZED], closed: true });
    }

    const unknownFile = await exchange(seeder, encodeHandshake(other, ticketFor(manifest, { fileId: other })));
    expect(unknownFile).toEqual({ messages: ['reject'], rejects: [RejectReason.UNKNOWN_FILE], closed: true });

    // A broken frame closes that connection only.
    const oversize = Buffer.from([0xff, 0xff, 0xff, 0xff, 4]);
    expect(await exchange(seeder, encodeHandshake(manifest.sha1, ticketFor(manifest)), oversize)).toMatchObject({ closed: true });
    const good = await new Download({ manifest, peers: [peerOf(seeder)], ticket: ticketFor(manifest), destination: await swarm.dir() }).start();
    expect(await sameBytes(good, path)).toBe(true);
    expect(seeder.stats().piecesServed).toBe(2);
  }, 20_000);

  it('fails a download loudly when every peer refuses its ticket', async () => {
    const { path, manifest } = await swarm.file(PIECE_SIZE);
    const seeders = [await swarm.seeder(manifest, path), await swarm.seeder(manifest, path)];
    const download = new Download({
      manifest,
      peers: seeders.map((s) => peerOf(s)),
      ticket: ticketFor(manifest, { key: otherKey }),
      destination: await swarm.dir(),
    });
    const error = await download.start().catch((err: unknown) => err);
    expect(error).toBeInstanceOf(DownloadError);
    expect((error as DownloadError).code).toBe('TICKET_REJECTED');
    for (const seeder of seeders) expect(seeder.stats().piecesServed).toBe(0);
  }, 20_000);
});
