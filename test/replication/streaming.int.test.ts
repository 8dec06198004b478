/**
 * The catch-up stream between two ReplicationPeers, in one process: the sender's pump
 * and the receiver's transactions, which the end-to-end tests only see as "caught up".
 *
 * - The receiver stores a catch-up in few transactions. A frame of 8,000 envelopes is
 *   megabytes and arrives over several socket reads, so applying "the frames that
 *   arrived together" meant one frame per transaction: a large log was stored in many
 *   small transactions, each rewriting the same (random) idempotency-key index pages.
 * - The sender yields to the event loop between frames, also when a read only skipped
 *   rows the twin holds (MAX_SCAN_ROWS), instead of producing its whole window in one turn.
 * - A tracker started with --twin-ack write asks for it in its hello, and its twin then
 *   commits its live events without waiting for the disk before the ack.
 */
import { EventEmitter } from 'node:events';
import { generateKeyPairSync } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, test, vi } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import type { Envelope } from '../../src/events/envelope.js';
import { EventStore } from '../../src/events/log/event-store.js';
import { Ledger } from '../../src/events/log/ledger.js';
import { authTranscript, encodeEvents, PROTOCOL_VERSION, type TwinAck } from '../../src/events/replication/protocol.js';
import { linkProof, type ClusterKeys } from '../../src/tracker/cluster-keys.js';
import { MAX_COALESCED_FRAMES } from '../../src/tracker/event-inbox.js';
import { OFF_THREAD_MIN_EVENTS, type FrameChecker } from '../../src/tracker/frame-checker.js';
import { BATCH_EVENTS, CATCH_UP_FRAME_BYTES, MAX_SCAN_ROWS } from '../../src/tracker/log-sender.js';
import { HEARTBEAT_INTERVAL_MS, HEARTBEAT_TIMEOUT_MS, ReplicationPeer, type PeerHost } from '../../src/tracker/replication-peer.js';
import { chain, tempDir } from '../helpers/envelopes.js';

const { privateKey, publicKey } = generateKeyPairSync('ed25519');
const keys: ClusterKeys = { linkKey: Buffer.alloc(32, 7), sessionKey: Buffer.alloc(32, 8), retryKey: Buffer.alloc(32, 9), ticketPrivateKey: privateKey, ticketPublicKey: publicKey, source: 'test' };

const cleanup: (() => unknown)[] = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

function ledgerWith(origin: number, events: readonly Envelope[] = []): Ledger {
  const dir = tempDir();
  const store = EventStore.open(dir.file('events.db'));
  for (let i = 0; i < events.length; i += 20_000) store.append(events.slice(i, i + 20_000));
  const ledger = new Ledger(store, { origin, snapshotEvery: 1e9 });
  ledger.open();
  cleanup.push(() => dir.remove(), () => store.close());
  return ledger;
}

function hostFor(id: number, ledger: Ledger, on: Partial<PeerHost> = {}): PeerHost {
  return {
    id,
    twinId: 3 - id,
    ledger,
    keys,
    twinAck: 'flush',
    authenticated: () => true,
    synced: () => undefined,
    progress: () => undefined,
    caughtUp: () => undefined,
    lag: () => undefined,
    twinStateArrived: () => undefined,
    closed: () => undefined,
    ...on,
  };
}

/** Tracker 1's peer for `ledger`, with the link up to a fake tracker 2 that holds `marks`. */
function linkedToTwin(ledger: Ledger, marks: Record<string, number>, on: Partial<PeerHost> = {}, hello: { states?: true } = {}) {
  const ws = new FakeSocket();
  const peer = new ReplicationPeer(ws as unknown as WebSocket, 1, 'tracker 2', hostFor(1, ledger, on));
  cleanup.push(() => ws.emit('close', 1000, Buffer.from('')));
  peer.start();
  const mine = (ws.sent[0] as { challenge: string }).challenge;
  const theirs = 'c'.repeat(43);
  ws.deliver({ t: 'hello', v: PROTOCOL_VERSION, tracker: 2, challenge: theirs, ...hello });
  ws.deliver({ t: 'auth', proof: linkProof(keys, authTranscript(2, 1, mine, theirs, 'flush')) });
  ws.deliver({ t: 'marks', marks });
  return { ws, peer };
}

describe('catch-up stream', () => {
  test('given dozens of frames of events to catch up over a real socket, when the receiver applies them, then every frame stays below V8\'s large-object size and it stores up to MAX_COALESCED_FRAMES frames per transaction', async () => {
    const count = 5 * BATCH_EVENTS;
    const one = ledgerWith(1, chain(1, count, { hlc: (i) => 1_000_000 + i, idem: (i) => `key-${i}` }));
    const two = ledgerWith(2);
    const applied: number[] = [];
    const apply = two.applyRemote.bind(two);
    two.applyRemote = (envelopes) => {
      applied.push(envelopes.length);
      return apply(envelopes);
    };
    let caughtUp!: () => void;
    const done = new Promise<void>((resolve) => (caughtUp = resolve));

    const server = new WebSocketServer({ port: 0, host: '127.0.0.1' });
    await new Promise((resolve) => server.once('listening', resolve));
    server.on('connection', (ws) => new ReplicationPeer(ws, 2, 'tracker 2', hostFor(1, one)).start());
    const ws = new WebSocket(`ws://127.0.0.1:${(server.address() as AddressInfo).port}`);
    cleanup.push(() => new Promise((resolve) => server.close(resolve)), () => ws.terminate());
    // the peer must listen from 'open' on: the twin's hello may come in the same read
    ws.once('open', () => new ReplicationPeer(ws, 2, 'tracker 1', hostFor(2, two, { caughtUp: () => caughtUp() })).start());
    let frames = 0;
    let largest = 0;
    ws.on('message', (data: Buffer) => {
      if (!data.toString('latin1', 0, 20).startsWith('{"t":"events"')) return;
      frames++;
      largest = Math.max(largest, data.length);
    });
    await done;

    expect(two.originMarks().get(1)?.seq).toBe(count);
    expect(two.hash()).toBe(one.hash());
    expect(applied.reduce((a, b) => a + b, 0)).toBe(count);
    expect(largest).toBeLessThan(128 * 1024);
    expect(frames).toBeGreaterThan(4 * MAX_COALESCED_FRAMES);
    expect(applied.length).toBeLessThanOrEqual(Math.ceil(frames / MAX_COALESCED_FRAMES) + 1);
  }, 60_000);

  test('given a twin that lacks at least twinStateMin events and takes states, when the link comes up over a real socket, then the state goes ahead of the events and the twin takes it instead of folding them', async () => {
    const log = [...chain(1, 3000, { hlc: (i) => 1_000_000 + 2 * i }), ...chain(2, 2000, { hlc: (i) => 1_000_001 + 2 * i })];
    const one = ledgerWith(1, log);
    const two = ledgerWith(2);
    const taken: [boolean, string][] = [];
    two.on('twin-state', (ok: boolean, detail: string) => taken.push([ok, detail]));
    let caughtUp!: () => void;
    const done = new Promise<void>((resolve) => (caughtUp = resolve));
    const server = new WebSocketServer({ port: 0, host: '127.0.0.1' });
    await new Promise((resolve) => server.once('listening', resolve));
    server.on('connection', (ws) => new ReplicationPeer(ws, 2, 'tracker 2', hostFor(1, one, { twinStateMin: 4000 })).start());
    const ws = new WebSocket(`ws://127.0.0.1:${(server.address() as AddressInfo).port}`);
    cleanup.push(() => new Promise((resolve) => server.close(resolve)), () => ws.terminate());
    const kinds: string[] = [];
    ws.on('message', (data: Buffer) => kinds.push(/^\{"t":"(\w+)"/.exec(data.toString('latin1', 0, 20))![1]!));
    ws.once('open', () => new ReplicationPeer(ws, 2, 'tracker 1', hostFor(2, two, { caughtUp: () => caughtUp() })).start());
    await done;

    expect(taken).toEqual([[true, expect.stringMatching(/^5000 events, taken in \d+ ms$/) as string]]);
    expect(two.hash()).toBe(one.hash());
    // Stored a part at a time over the next turns (SnapshotWriter).
    await vi.waitFor(() => expect(two.store.latestSnapshot()).toMatchObject({ eventCount: 5000, stateHash: one.hash() }));
    const firstEvents = kinds.indexOf('events');
    expect(kinds.slice(0, firstEvents)).toEqual(['hello', 'auth', 'marks', 'state']);
  }, 60_000);

  test('given a twin whose hello does not say it takes states (a tracker before them), when it lacks many events, then no state frame is sent; one that says so gets one', () => {
    const one = ledgerWith(1, chain(1, 500));
    const kinds = (ws: FakeSocket) => ws.sent.map((m) => (m as { t: string }).t);
    expect(kinds(linkedToTwin(one, {}, { twinStateMin: 1 }).ws)).toEqual(['hello', 'auth', 'marks', 'events']);
    expect(kinds(linkedToTwin(one, {}, { twinStateMin: 1 }, { states: true }).ws)).toEqual(['hello', 'auth', 'marks', 'state', 'events']);
    // nor to one that lacks fewer than twinStateMin
    expect(kinds(linkedToTwin(one, { '1': 100 }, { twinStateMin: 401 }, { states: true }).ws)).toEqual(['hello', 'auth', 'marks', 'events']);
  });

  test('given a twin that holds over twice MAX_SCAN_ROWS rows between two it lacks, when the sender streams, then it yields to the event loop after each read', async () => {
    // origin 2's first event sorts first and its second last; the twin holds all of origin 1 in between
    const held = chain(1, 2 * MAX_SCAN_ROWS + 10_000, { hlc: (i) => 2000 + i });
    const lacking = chain(2, 2, { hlc: (i) => (i === 0 ? 1000 : 10_000_000) });
    const one = ledgerWith(1, [...lacking, ...held]);
    const { ws } = linkedToTwin(one, { '1': held.length });

    // in this turn: the first frame only (origin 2 seq 1); then one read of MAX_SCAN_ROWS rows per turn,
    // the next of them finding nothing to send (all held)
    expect(ws.events()).toEqual([[2, 1]]);
    await new Promise((resolve) => setImmediate(resolve));
    expect(ws.events()).toEqual([[2, 1]]);
    for (let turn = 0; turn < 5 && ws.events().length < 2; turn++) await new Promise((resolve) => setImmediate(resolve));
    expect(ws.events()).toEqual([
      [2, 1],
      [2, 2],
    ]);
  }, 60_000);

  test('given a live commit group bigger than a catch-up frame, when it becomes durable, then it goes to the twin whole, in one frame', () => {
    const one = ledgerWith(1);
    const { ws, peer } = linkedToTwin(one, {});

    // committed after the link came up (origin 3's, say, just replicated in): live, not catch-up
    const group = chain(3, 1000);
    expect(encodeEvents(group).length).toBeGreaterThan(CATCH_UP_FRAME_BYTES);
    one.applyRemote(group);
    peer.onDurable(group);
    const frames = ws.sent.filter((m) => (m as { t: string }).t === 'events') as { events: unknown[] }[];
    expect(frames.map((f) => f.events.length)).toEqual([1000]);
  });
});

describe('when the twin acknowledges live events (--twin-ack)', () => {
  /**
   * Tracker 2's peer, linked with a fake tracker 1 whose hello asks for `ack`; tracker 1
   * then sends 3 live events. Returns whether tracker 2's commit of them waited for the
   * disk, and what it acked.
   */
  async function liveCommitWaited(ack: TwinAck | undefined) {
    const two = ledgerWith(2);
    const waited: boolean[] = [];
    const apply = two.applyRemote.bind(two);
    two.applyRemote = (envelopes, options) => {
      waited.push(options?.waitForDisk ?? true);
      return apply(envelopes, options);
    };
    const ws = new FakeSocket();
    new ReplicationPeer(ws as unknown as WebSocket, 1, 'tracker 1', hostFor(2, two)).start();
    cleanup.push(() => ws.emit('close', 1000, Buffer.from('')));
    const mine = (ws.sent[0] as { challenge: string }).challenge;
    const theirs = 'c'.repeat(43);
    ws.deliver({ t: 'hello', v: PROTOCOL_VERSION, tracker: 1, challenge: theirs, ...(ack && { ack }) });
    ws.deliver({ t: 'auth', proof: linkProof(keys, authTranscript(1, 2, mine, theirs, ack ?? 'flush')) });
    ws.deliver({ t: 'marks', marks: {} });
    ws.emit('message', Buffer.from(encodeEvents(chain(1, 3), Date.now())), false);
    for (let turn = 0; turn < 5 && waited.length === 0; turn++) await new Promise((resolve) => setImmediate(resolve));
    const acks = ws.sent.filter((m) => (m as { t: string }).t === 'ack');
    return { waited, acks, stored: two.originMarks().get(1)?.seq };
  }

  test("given a twin whose hello asks for acks on write, when its live events arrive, then they are committed without waiting for the disk and acked", async () => {
    expect(await liveCommitWaited('write')).toEqual({ waited: [false], acks: [{ t: 'ack', marks: { '1': 3 } }], stored: 3 });
  });

  test('given a twin whose hello asks for nothing (flush, the default), when its live events arrive, then their commit waits for the disk', async () => {
    expect(await liveCommitWaited(undefined)).toEqual({ waited: [true], acks: [{ t: 'ack', marks: { '1': 3 } }], stored: 3 });
    expect((await liveCommitWaited('flush')).waited).toEqual([true]);
  });

  test('given a hello whose ack was changed on the way (its tracker asked for flush), then the proof does not match and the link is refused', () => {
    const closed: string[] = [];
    const ws = new FakeSocket();
    new ReplicationPeer(ws as unknown as WebSocket, 1, 'tracker 1', hostFor(2, ledgerWith(2), { closed: (_peer, code) => closed.push(code) })).start();
    cleanup.push(() => ws.emit('close', 1000, Buffer.from('')));
    const mine = (ws.sent[0] as { challenge: string }).challenge;
    const theirs = 'c'.repeat(43);
    ws.deliver({ t: 'hello', v: PROTOCOL_VERSION, tracker: 1, challenge: theirs, ack: 'write' });
    ws.deliver({ t: 'auth', proof: linkProof(keys, authTranscript(1, 2, mine, theirs, 'flush')) });

    expect(ws.sent.at(-1)).toMatchObject({ t: 'refused', code: 'AUTH_FAILED' });
    ws.emit('close', 4000, Buffer.from('AUTH_FAILED'));
    expect(closed).toEqual(['AUTH_FAILED']);
  });

  test('given a tracker started with --twin-ack write, then its hello asks for it; with the default, its hello names no ack', () => {
    const hello = (twinAck: TwinAck) => {
      const ws = new FakeSocket();
      new ReplicationPeer(ws as unknown as WebSocket, 1, 'tracker 2', hostFor(1, ledgerWith(1), { twinAck })).start();
      cleanup.push(() => ws.emit('close', 1000, Buffer.from('')));
      return ws.sent[0] as Record<string, unknown>;
    };
    expect(hello('write').ack).toBe('write');
    expect(hello('flush')).not.toHaveProperty('ack');
  });
});

describe('a link dropped in the middle of a catch-up', () => {
  test('given frames the checker stored and has not answered for, when the link is dropped (a duplicate takes over), then those events are taken up at once, before any close', async () => {
    const two = ledgerWith(2);
    let withdrawn = 0;
    const checker = {
      check: () => new Promise<never>(() => undefined), // stores, as the test does below; never answers
      withdrawStores: () => void (withdrawn += 1),
    } as unknown as FrameChecker;
    const ws = new FakeSocket();
    const peer = new ReplicationPeer(ws as unknown as WebSocket, 1, 'tracker 1', hostFor(2, two, { checker }));
    peer.start();
    cleanup.push(() => ws.emit('close', 1000, Buffer.from('')));
    const mine = (ws.sent[0] as { challenge: string }).challenge;
    const theirs = 'c'.repeat(43);
    ws.deliver({ t: 'hello', v: PROTOCOL_VERSION, tracker: 1, challenge: theirs });
    ws.deliver({ t: 'auth', proof: linkProof(keys, authTranscript(1, 2, mine, theirs, 'flush')) });
    const events = chain(1, 2 * OFF_THREAD_MIN_EVENTS);
    ws.deliver({ t: 'marks', marks: { '1': events.length } });
    const first = events.slice(0, OFF_THREAD_MIN_EVENTS);
    ws.emit('message', Buffer.from(encodeEvents(first)), false);
    ws.emit('message', Buffer.from(encodeEvents(events.slice(OFF_THREAD_MIN_EVENTS))), false);
    await new Promise((resolve) => setImmediate(resolve));
    two.store.appendContinuation(first, () => true); // what the checker's thread did with the first frame
    expect(two.originMarks().get(1)).toBeUndefined();

    peer.fail('DUPLICATE_LINK', 'keeping the link dialled by tracker 1');

    expect(withdrawn).toBe(1);
    expect(two.originMarks().get(1)?.seq).toBe(OFF_THREAD_MIN_EVENTS);
    expect(two.current.eventCount).toBe(OFF_THREAD_MIN_EVENTS);
  });
});

describe('liveness of the link', () => {
  /**
   * An authenticated peer of tracker 2 on a FakeSocket, its timers faked and its clock
   * (performance.now) the test's: `pass(ms)` lets time go by with the heartbeat timer
   * firing on time; `stall(ms)` lets it go by with the event loop busy (no timer fires),
   * then lets one tick through.
   */
  function linkedPeer() {
    let now = 1_000_000;
    vi.spyOn(performance, 'now').mockImplementation(() => now);
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval'] });
    cleanup.push(() => vi.useRealTimers(), () => vi.restoreAllMocks());
    const ws = new FakeSocket();
    new ReplicationPeer(ws as unknown as WebSocket, 1, 'tracker 1', hostFor(2, ledgerWith(2))).start();
    cleanup.push(() => ws.emit('close', 1000, Buffer.from('')));
    const mine = (ws.sent[0] as { challenge: string }).challenge;
    const theirs = 'c'.repeat(43);
    ws.deliver({ t: 'hello', v: PROTOCOL_VERSION, tracker: 1, challenge: theirs });
    ws.deliver({ t: 'auth', proof: linkProof(keys, authTranscript(1, 2, mine, theirs, 'flush')) });
    ws.deliver({ t: 'marks', marks: {} });
    const pass = (ms: number) => {
      for (let t = 0; t < ms; t += HEARTBEAT_INTERVAL_MS) {
        now += HEARTBEAT_INTERVAL_MS;
        vi.advanceTimersByTime(HEARTBEAT_INTERVAL_MS);
      }
    };
    const stall = (ms: number) => {
      now += ms;
      pass(HEARTBEAT_INTERVAL_MS);
    };
    return { ws, pass, stall };
  }

  test('given a twin that stays silent past the timeout, then the link is dropped', () => {
    const { ws, pass } = linkedPeer();
    pass(HEARTBEAT_TIMEOUT_MS - 2 * HEARTBEAT_INTERVAL_MS);
    expect(ws.readyState).toBe(ws.OPEN);
    pass(3 * HEARTBEAT_INTERVAL_MS);
    expect(ws.readyState).not.toBe(ws.OPEN);
  });

  test('given this tracker\'s own event loop busy for longer than the timeout (a long re-fold), then the twin is not blamed: the link stays', () => {
    const { ws, stall, pass } = linkedPeer();
    stall(2 * HEARTBEAT_TIMEOUT_MS);
    expect(ws.readyState).toBe(ws.OPEN);
    pass(HEARTBEAT_TIMEOUT_MS + 2 * HEARTBEAT_INTERVAL_MS); // and a twin silent from then on is still found out
    expect(ws.readyState).not.toBe(ws.OPEN);
  });
});

/** Just enough of a ws WebSocket for a ReplicationPeer: records what it sends. */
class FakeSocket extends EventEmitter {
  readonly OPEN = 1;
  readyState = 1;
  readonly sent: unknown[] = [];

  send(text: string): void {
    this.sent.push(JSON.parse(text));
  }

  deliver(message: unknown): void {
    this.emit('message', Buffer.from(JSON.stringify(message)), false);
  }

  /** Per `events` frame sent: [origin, seq] of each envelope in it. */
  events(): [number, number][] {
    return this.sent.flatMap((m) => ((m as { t: string }).t === 'events' ? (m as { events: unknown[][] }).events.map((r) => [r[0] as number, r[1] as number] as [number, number]) : []));
  }

  ping(): void {}

  close(): void {
    this.readyState = 3;
  }

  terminate(): void {
    this.readyState = 3;
  }
}
