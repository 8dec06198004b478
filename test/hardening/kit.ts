/**
 * Helpers for the hardening tests: clients of a real cluster through the real client
 * library (TrackerConnection), state hashes at quiescence, process memory, and
 * synthetic file manifests for metadata-only tests.
 */
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { TrackerConnection, TrackerError } from '../../src/client/tracker-connection.js';
import type { ArgsOf, Op } from '../../src/wire/client-protocol.js';
import { PIECE_SIZE } from '../../src/wire/manifest.js';
import { waitFor, type Cluster } from '../helpers/cluster.js';

export { TrackerConnection, TrackerError };

/** A TrackerConnection that talks to tracker `id` of the cluster only. */
export async function connectTo(cluster: Cluster, id: number): Promise<TrackerConnection> {
  const t = cluster.trackers[id - 1]!;
  const conn = new TrackerConnection([{ id, host: '127.0.0.1', port: t.port }]);
  await conn.connect();
  return conn;
}

/** Logged in as `user` (created first when `create`), on tracker `id`. */
export async function loginTo(cluster: Cluster, id: number, user: string, password: string, peer: string, create = false): Promise<TrackerConnection> {
  const conn = await connectTo(cluster, id);
  if (create) await conn.request('create_user', { user, password });
  await conn.request('login', { user, password, peer });
  return conn;
}

/** 'ok' or the error code of one request. */
export async function outcome<O extends Op>(conn: TrackerConnection, op: O, args: ArgsOf<O>): Promise<string> {
  try {
    await conn.request(op, args);
    return 'ok';
  } catch (error) {
    if (error instanceof TrackerError) return error.code;
    throw error;
  }
}

/**
 * The state hash once every tracker agrees and it has not moved for `quietMs` (connection
 * closes land as session_lost events a moment after the close).
 */
export async function quiescentHash(cluster: Cluster, ids: readonly number[] = [1, 2], quietMs = 300, timeoutMs = 15_000): Promise<string> {
  return waitFor(
    'a quiescent, converged cluster',
    async () => {
      const first = await Promise.all(ids.map((id) => cluster.health(id)));
      await new Promise((r) => setTimeout(r, quietMs));
      const second = await Promise.all(ids.map((id) => cluster.health(id)));
      const hashes = new Set([...first, ...second].map((h) => h.stateHash));
      return hashes.size === 1 ? second[0]!.stateHash : undefined;
    },
    timeoutMs,
    10,
  );
}

export async function hashes(cluster: Cluster, ids: readonly number[] = [1, 2]): Promise<string[]> {
  return Promise.all(ids.map(async (id) => (await cluster.health(id)).stateHash));
}

/** Resident set size of a process, in bytes (Linux /proc). */
export function rssOf(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = /VmRSS:\s+(\d+) kB/.exec(status);
  return kb ? Number(kb[1]) * 1024 : 0;
}

export const MiB = 1024 * 1024;

/** A well-formed manifest for a file nobody serves: for metadata-only commands. */
export function syntheticFile(label: string, size = PIECE_SIZE + 100): { size: number; pieceSize: number; pieceHashes: string[]; sha1: string } {
  const sha = (s: string): string => createHash('sha1').update(s).digest('hex');
  const count = Math.ceil(size / PIECE_SIZE);
  return { size, pieceSize: PIECE_SIZE, pieceHashes: Array.from({ length: count }, (_, i) => sha(`${label}#${i}`)), sha1: sha(`${label}:${randomBytes(4).toString('hex')}`) };
}

/** A deterministic PRNG, so a failing fuzz case can be replayed from its seed. */
export { mulberry32 as prng } from '../helpers/random.js';

/** A bare WebSocket client of /client: sends requests, returns replies with their full error bodies. */
export class RawClient {
  private nextId = 1;
  private readonly waiting = new Map<number, (reply: RawReply) => void>();
  closedWith: number | undefined;

  private constructor(readonly ws: import('ws').WebSocket) {
    ws.on('message', (data) => {
      const reply = JSON.parse(data.toString()) as RawReply;
      if (reply.id !== null) this.waiting.get(reply.id)?.(reply);
    });
    ws.on('close', (code) => (this.closedWith = code));
    ws.on('error', () => undefined);
  }

  static async open(port: number, localAddress?: string): Promise<RawClient> {
    const { default: WebSocket } = await import('ws');
    const ws = new WebSocket(`ws://127.0.0.1:${port}/client`, localAddress ? { localAddress } : {});
    await new Promise((resolve, reject) => (ws.once('open', resolve), ws.once('error', reject)));
    return new RawClient(ws);
  }

  request(op: string, args: Record<string, unknown> = {}, idem?: string): Promise<RawReply> {
    const id = this.nextId++;
    return new Promise((resolve) => {
      this.waiting.set(id, (r) => (this.waiting.delete(id), resolve(r)));
      this.ws.send(JSON.stringify({ id, op, args, idem }));
    });
  }

  close(): void {
    this.ws.terminate();
  }
}

export interface RawReply {
  readonly id: number | null;
  readonly ok: boolean;
  readonly data?: unknown;
  readonly error?: { code: string; message: string; retryAfterMs?: number };
}

/** What a peer server answered to `frames` on one TCP connection, until it closed (or `waitMs`). */
export async function peerExchange(
  port: number,
  frames: Buffer[],
  options: { waitMs?: number; localAddress?: string } = {},
): Promise<{ messages: string[]; rejects: number[]; closed: boolean }> {
  const { connect } = await import('node:net');
  const { FrameDecoder, NO_PIECE } = await import('../../src/wire/peer-frames.js');
  return new Promise((resolve) => {
    const messages: string[] = [];
    const rejects: number[] = [];
    const socket = connect({ port, host: '127.0.0.1', localAddress: options.localAddress });
    const decoder = new FrameDecoder((m) => {
      messages.push(m.type);
      if (m.type === 'reject' && m.index === NO_PIECE) rejects.push(m.reason);
    });
    const timer = setTimeout(() => {
      socket.destroy();
      resolve({ messages, rejects, closed: false });
    }, options.waitMs ?? 3_000);
    socket.on('connect', () => frames.forEach((f) => socket.write(f)));
    socket.on('data', (chunk: Buffer) => {
      try {
        decoder.push(chunk);
      } catch {
        socket.destroy();
      }
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(timer);
      resolve({ messages, rejects, closed: true });
    });
  });
}
