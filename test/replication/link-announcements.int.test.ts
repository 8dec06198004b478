/**
 * What the Replicator says about its link: one line when it is up, one when it drops,
 * one when it is back, also when a second connection took the link over in between.
 * Connections here are stand-ins for ReplicationPeer (what the Replicator reads of one),
 * so the order of events is the test's, not the network's.
 */
import { generateKeyPairSync } from 'node:crypto';
import pino from 'pino';
import { afterEach, describe, expect, test } from 'vitest';
import { EventStore } from '../../src/events/log/event-store.js';
import { Ledger } from '../../src/events/log/ledger.js';
import type { ClusterKeys } from '../../src/tracker/cluster-keys.js';
import { Replicator } from '../../src/tracker/replication-link.js';
import type { ReplicationPeer } from '../../src/tracker/replication-peer.js';
import { tempDir } from '../helpers/envelopes.js';

const { privateKey, publicKey } = generateKeyPairSync('ed25519');
const keys: ClusterKeys = { linkKey: Buffer.alloc(32, 7), sessionKey: Buffer.alloc(32, 8), retryKey: Buffer.alloc(32, 9), ticketPrivateKey: privateKey, ticketPublicKey: publicKey, source: 'test' };

const cleanup: (() => unknown)[] = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

/** Tracker 1's Replicator, and the messages it logged. Its twin's address answers nothing. */
function replicator() {
  const dir = tempDir();
  const store = EventStore.open(dir.file('events.db'));
  const ledger = new Ledger(store, { origin: 1 });
  ledger.open();
  const lines: string[] = [];
  const log = pino({ level: 'info' }, { write: (line: string) => void lines.push((JSON.parse(line) as { msg: string }).msg) });
  const replication = new Replicator({ id: 1, twin: { id: 2, host: '127.0.0.1', port: 9 }, ledger, keys, log });
  cleanup.push(() => dir.remove(), () => store.close(), () => replication.stop());
  return { replication, lines };
}

/** A connection as far as the Replicator sees one: who dialled it, whether it got as far as the twin's marks. */
function connection(dialledBy: number) {
  const peer = {
    dialledBy,
    remote: `127.0.0.1:${40000 + dialledBy}`,
    up: false,
    wasUp: false,
    peerMarks: new Map<number, number>(),
    failed: undefined as string | undefined,
    fail(code: string) {
      peer.failed = code;
    },
    shutdown() {},
  };
  return { peer, as: peer as unknown as ReplicationPeer };
}

describe('link announcements', () => {
  test('given a link up, when a connection dialled by this tracker takes it over and drops before the twin\'s marks came, then the drop is announced once, and the next link as back', () => {
    const { replication, lines } = replicator();
    const first = connection(2);
    expect(replication.authenticated(first.as)).toBe(true);
    first.peer.up = first.peer.wasUp = true;
    replication.synced(first.as);
    expect(lines).toEqual(['replication link to tracker 2 is up']);

    const second = connection(1); // both dialled at once: the link dialled by tracker 1 is kept
    expect(replication.authenticated(second.as)).toBe(true);
    expect(first.peer.failed).toBe('DUPLICATE_LINK');
    replication.closed(first.as, 'DUPLICATE_LINK', 'keeping the link dialled by tracker 1');
    replication.closed(second.as, 'CLOSED', 'connection lost'); // tracker 2 died before sending its marks

    expect(lines.filter((l) => l.includes('is down'))).toEqual(['replication link to tracker 2 is down; retrying in the background']);
    const third = connection(1);
    replication.authenticated(third.as);
    third.peer.up = third.peer.wasUp = true;
    replication.synced(third.as);
    expect(lines.filter((l) => /is (up|back)$/.test(l))).toEqual(['replication link to tracker 2 is up', 'replication link to tracker 2 is back']);
  });

  test('given a link up and caught up, when a duplicate connection takes it over and catches up with nothing new, then the catch-up is announced once', () => {
    const { replication, lines } = replicator();
    const first = connection(2);
    replication.authenticated(first.as);
    first.peer.up = first.peer.wasUp = true;
    replication.synced(first.as);
    replication.caughtUp(first.as, 0, 0);
    const second = connection(1);
    replication.authenticated(second.as);
    replication.closed(first.as, 'DUPLICATE_LINK', 'keeping the link dialled by tracker 1');
    second.peer.up = second.peer.wasUp = true;
    replication.synced(second.as);
    replication.caughtUp(second.as, 0, 0);
    expect(lines.filter((l) => l.startsWith('caught up'))).toEqual(['caught up with tracker 2: 0 events in 0 ms']);

    replication.closed(second.as, 'CLOSED', 'connection lost'); // a new link-up is news again
    const third = connection(1);
    replication.authenticated(third.as);
    third.peer.up = third.peer.wasUp = true;
    replication.synced(third.as);
    replication.caughtUp(third.as, 3, 1);
    expect(lines.filter((l) => l.startsWith('caught up'))).toEqual(['caught up with tracker 2: 0 events in 0 ms', 'caught up with tracker 2: 3 events in 1 ms']);
  });

  test('given links that keep failing with CHAIN_BROKEN, when each comes up and catches up with nothing, then the catch-up is said once more, not each time', () => {
    const { replication, lines } = replicator();
    for (let i = 0; i < 4; i++) {
      const peer = connection(1);
      replication.authenticated(peer.as);
      peer.peer.up = peer.peer.wasUp = true;
      replication.synced(peer.as);
      replication.caughtUp(peer.as, 0, 0);
      replication.closed(peer.as, 'CHAIN_BROKEN', 'origin 1 seq 6: prev hash does not continue the chain');
    }
    expect(lines.filter((l) => l.startsWith('caught up'))).toHaveLength(2); // healthy, then once while failing
    expect(lines.filter((l) => l.includes('is down'))).toHaveLength(1);
  });

  test('given no link announced, when a connection drops before the twin\'s marks came, then nothing is said about the link', () => {
    const { replication, lines } = replicator();
    const lone = connection(1);
    replication.authenticated(lone.as);
    replication.closed(lone.as, 'CLOSED', 'connection lost');
    expect(lines).toEqual([]);
  });
});
