/**
 * The peers one Download knows about: address, current connection, connect failures
 * and back-off, ban (protocol violations, bad pieces), refusal of our ticket. Pure
 * bookkeeping: the Download opens and closes connections; this table says whom to try
 * next and when the list has run dry.
 */
import type { SwarmPeer } from '../wire/manifest.js';
import type { PeerCloseCode, PeerConnection } from './peer-connection.js';

/** Connections open at once. */
export const MAX_PEERS = 50;
/** Failed connects (in a row) before a peer is left alone until a refresh lists it again. */
export const MAX_CONNECT_ATTEMPTS = 5;
export const RECONNECT_BASE_DELAY_MS = 250;

export interface KnownPeer {
  readonly peer: SwarmPeer;
  connection: PeerConnection | null;
  failures: number;
  nextAttemptAt: number;
  banned: boolean;
  refusedTicket: boolean;
}

export class PeerTable {
  private readonly peers = new Map<string, KnownPeer>();

  /** `self`: our own peer address, never listed. */
  constructor(private readonly self?: { readonly host: string; readonly port: number }) {}

  get size(): number {
    return this.peers.size;
  }

  /** Adds new peers; one listed again (by the tracker) gets another chance. */
  add(list: readonly SwarmPeer[]): void {
    for (const peer of list) {
      if (this.self && peer.port === this.self.port && sameHost(peer.host, this.self.host)) continue;
      const key = `${peer.host}:${peer.port}`;
      const known = this.peers.get(key);
      if (!known) {
        this.peers.set(key, { peer, connection: null, failures: 0, nextAttemptAt: 0, banned: false, refusedTicket: false });
      } else if (!known.connection && !known.banned) {
        known.failures = Math.min(known.failures, MAX_CONNECT_ATTEMPTS - 1);
        known.refusedTicket = false;
      }
    }
  }

  /** Peers to connect to now, keeping at most MAX_PEERS connections open. */
  toConnect(now: number): KnownPeer[] {
    let open = 0;
    for (const known of this.peers.values()) if (known.connection) open++;
    const out: KnownPeer[] = [];
    for (const known of this.peers.values()) {
      if (open + out.length >= MAX_PEERS) break;
      if (known.connection || known.banned || known.refusedTicket) continue;
      if (known.failures >= MAX_CONNECT_ATTEMPTS || known.nextAttemptAt > now) continue;
      out.push(known);
    }
    return out;
  }

  /** Its connection closed with `code`: ban, note the refusal, or back off. */
  closed(known: KnownPeer, code: PeerCloseCode, now: number): void {
    known.connection = null;
    if (code === 'DOWNLOAD_ENDED') return;
    if (code === 'PROTOCOL' || code === 'BAD_PIECES') known.banned = true;
    else if (code === 'REJECTED_TICKET') known.refusedTicket = true;
    else {
      known.failures++;
      known.nextAttemptAt = now + RECONNECT_BASE_DELAY_MS * 2 ** (known.failures - 1);
    }
  }

  connections(): PeerConnection[] {
    const out: PeerConnection[] = [];
    for (const known of this.peers.values()) if (known.connection) out.push(known.connection);
    return out;
  }

  ready(): PeerConnection[] {
    return this.connections().filter((c) => c.state === 'ready');
  }

  /** No connection open, and every peer not banned refused our ticket. */
  allRefusedTicket(): boolean {
    const eligible = [...this.peers.values()].filter((k) => !k.banned);
    return this.connections().length === 0 && eligible.length > 0 && eligible.every((k) => k.refusedTicket);
  }

  /** Peers are known, and every one of them is banned (bad pieces, protocol violations). */
  allBanned(): boolean {
    return this.peers.size > 0 && [...this.peers.values()].every((k) => k.banned);
  }

  /** No connection open, and nobody left worth trying. */
  exhausted(): boolean {
    const eligible = [...this.peers.values()].filter((k) => !k.banned);
    return this.connections().length === 0 && eligible.every((k) => k.refusedTicket || k.failures >= MAX_CONNECT_ATTEMPTS);
  }
}

function sameHost(a: string, b: string): boolean {
  const normal = (h: string): string => (h === 'localhost' || h === '::1' || h === '::ffff:127.0.0.1' ? '127.0.0.1' : h.toLowerCase());
  return normal(a) === normal(b);
}
