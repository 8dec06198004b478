/**
 * Which piece to ask of which peer. Pure bookkeeping for one download: no sockets,
 * no files, no clock.
 *
 * Tracks, per piece: how many connected peers have it (availability), how many
 * requests for it are in flight, whether a received copy is being checked, whether it
 * is held (received and verified), and which peers sent a bad copy of it (never asked
 * for it again). A piece being checked is asked of nobody, not even in the endgame.
 *
 * Policy: rarest piece first (ties: lowest index, so the file fills in order); each
 * request goes to the least-loaded peer that has the piece and a free slot. Once
 * every missing piece is already requested (endgame), free slots duplicate requests
 * in flight elsewhere, up to ENDGAME_MAX_REQUESTERS per piece; the downloader
 * cancels the spare copies when one arrives. The downloader may restrict a round to
 * the pieces below an index (`below`): the endgame then applies to those alone.
 */
import type { HashLoans } from './whole-file-hasher.js';

/** Most peers asked for the same piece at once during the endgame. */
export const ENDGAME_MAX_REQUESTERS = 3;
/** Loans of the whole-file hash kept for the pieces it waits for (see `assignWithinLoans`). */
export const HASH_LOANS_FOR_GAPS = 16;

export interface SchedulablePeer {
  readonly id: string;
  /** Requests in flight. */
  readonly load: number;
  /** Most requests it may have in flight. */
  readonly capacity: number;
  has(index: number): boolean;
  isRequesting(index: number): boolean;
}

export interface Assignment<P extends SchedulablePeer> {
  readonly peer: P;
  readonly index: number;
}

export class Scheduler {
  private readonly availability: Uint32Array;
  private readonly requesters: Uint16Array;
  private readonly held: Uint8Array;
  private readonly checking: Uint8Array;
  private heldCount = 0;
  private readonly badSenders = new Map<number, Set<string>>();

  constructor(
    readonly pieceCount: number,
    isHeld: (index: number) => boolean,
  ) {
    this.availability = new Uint32Array(pieceCount);
    this.requesters = new Uint16Array(pieceCount);
    this.held = new Uint8Array(pieceCount);
    this.checking = new Uint8Array(pieceCount);
    for (let i = 0; i < pieceCount; i++) if (isHeld(i)) this.markHeld(i);
  }

  get remaining(): number {
    return this.pieceCount - this.heldCount;
  }

  isHeld(index: number): boolean {
    return this.held[index] === 1;
  }

  markHeld(index: number): void {
    if (this.held[index] === 1) return;
    this.held[index] = 1;
    this.heldCount++;
    this.badSenders.delete(index);
  }

  /** A copy of `index` arrived and is being checked (true), or the check ended (false). */
  setChecking(index: number, checking: boolean): void {
    this.checking[index] = checking ? 1 : 0;
  }

  addPeer(peer: { has(index: number): boolean }): void {
    for (let i = 0; i < this.pieceCount; i++) if (peer.has(i)) this.availability[i]++;
  }

  removePeer(peer: { has(index: number): boolean }): void {
    for (let i = 0; i < this.pieceCount; i++) if (peer.has(i) && this.availability[i]! > 0) this.availability[i]--;
  }

  addHave(index: number): void {
    this.availability[index]++;
  }

  removeHave(index: number): void {
    if (this.availability[index]! > 0) this.availability[index]--;
  }

  /** A request for `index` ended: answered, rejected, cancelled or lost with its peer. */
  requestEnded(index: number): void {
    if (this.requesters[index]! > 0) this.requesters[index]--;
  }

  /** `peerId` sent a bad copy of `index`: never ask it for that piece again. */
  exclude(index: number, peerId: string): void {
    let senders = this.badSenders.get(index);
    if (!senders) this.badSenders.set(index, (senders = new Set()));
    senders.add(peerId);
  }

  /** True if some missing piece can be had from one of `peers` (ignoring load). */
  canProgress(peers: readonly SchedulablePeer[]): boolean {
    for (let i = 0; i < this.pieceCount; i++) {
      if (this.held[i] === 1 || this.checking[i] === 1 || this.availability[i] === 0) continue;
      if (peers.some((peer) => this.eligible(peer, i))) return true;
    }
    return false;
  }

  /**
   * `assign` within the whole-file hash's loans (piece-store.ts `hashLoans`): every
   * piece received is lent to that hash once written, and one it cannot take is read
   * back from disk later, which on this VM costs more than waiting. `pending` pieces
   * (asked for or being checked) will need a loan too. While fewer than
   * `max - HASH_LOANS_FOR_GAPS` are taken, requests go out as usual. Past that:
   * - if the hash is only behind (nothing missing below its lowest loan), nothing is
   *   asked for until loans come back;
   * - if it waits for missing pieces below its lowest loan, only those are asked for
   *   (copies of those in flight, as in the endgame), into the loans kept for them;
   * - if none of them can be asked for (nobody free has them), requests go out as usual
   *   and the hash reads back from disk what it could not take.
   */
  assignWithinLoans<P extends SchedulablePeer>(peers: readonly P[], room: { memory: number; pending: number; loans: HashLoans }): Assignment<P>[] {
    const { memory, pending, loans } = room;
    const free = loans.max - loans.count - pending;
    if (free > HASH_LOANS_FOR_GAPS) return this.assign(peers, Math.min(memory, free - HASH_LOANS_FOR_GAPS));
    if (!this.missingBelow(loans.lowest)) return [];
    const gaps = this.assign(peers, Math.min(memory, free), loans.lowest);
    return gaps.length > 0 ? gaps : this.assign(peers, memory);
  }

  /** True if some piece below `limit` is neither held nor being checked. */
  private missingBelow(limit: number): boolean {
    const end = Math.min(limit, this.pieceCount);
    for (let i = 0; i < end; i++) if (this.held[i] === 0 && this.checking[i] === 0) return true;
    return false;
  }

  /**
   * At most `max` new requests to send now, for pieces below `below`; marks them in
   * flight. The caller sends each one and reports its end with `requestEnded`.
   */
  assign<P extends SchedulablePeer>(peers: readonly P[], max = Infinity, below = this.pieceCount): Assignment<P>[] {
    const out: Assignment<P>[] = [];
    if (this.heldCount === this.pieceCount || max <= 0) return out;
    const load = new Map<P, number>();
    for (const peer of peers) if (peer.load < peer.capacity) load.set(peer, peer.load);
    if (load.size === 0) return out;

    const give = (index: number, endgame: boolean): boolean => {
      let best: P | null = null;
      let bestLoad = Infinity;
      for (const [peer, current] of load) {
        if (current < bestLoad && this.eligible(peer, index) && !(endgame && peer.isRequesting(index))) {
          best = peer;
          bestLoad = current;
        }
      }
      if (!best) return false;
      this.requesters[index]++;
      out.push({ peer: best, index });
      if (bestLoad + 1 >= best.capacity) load.delete(best);
      else load.set(best, bestLoad + 1);
      if (out.length >= max) load.clear(); // nothing more to give
      return true;
    };

    const end = Math.min(below, this.pieceCount);
    // Normal mode: unrequested pieces, one availability level at a time, rarest first.
    let level = 0;
    for (;;) {
      let next = Infinity;
      for (let i = 0; i < end; i++) {
        const a = this.availability[i]!;
        if (a > level && a < next && this.held[i] === 0 && this.checking[i] === 0 && this.requesters[i] === 0) next = a;
      }
      if (next === Infinity) break;
      level = next;
      for (let i = 0; i < end && load.size > 0; i++) {
        if (this.availability[i] !== level || this.held[i] === 1 || this.checking[i] === 1 || this.requesters[i] !== 0) continue;
        give(i, false);
      }
      if (load.size === 0) return out;
    }

    // Endgame: every missing piece is in flight; duplicate the least-requested, but
    // not those handed out just now (the caller has not sent them yet).
    const fresh = new Set(out.map((a) => a.index));
    const inFlight: number[] = [];
    for (let i = 0; i < end; i++) {
      if (this.held[i] === 1 || this.checking[i] === 1) continue;
      const r = this.requesters[i]!;
      if (r === 0) return out; // still unrequested (nobody has it): not the endgame
      if (r < ENDGAME_MAX_REQUESTERS && !fresh.has(i)) inFlight.push(i);
    }
    inFlight.sort((a, b) => this.requesters[a]! - this.requesters[b]! || a - b);
    for (const index of inFlight) {
      if (load.size === 0) break;
      give(index, true);
    }
    return out;
  }

  private eligible(peer: SchedulablePeer, index: number): boolean {
    return peer.has(index) && !(this.badSenders.get(index)?.has(peer.id) ?? false);
  }
}
