/**
 * What this machine allows right now, measured in the same run as the figures they bound:
 * a durable one-row commit, and a WebSocket round trip between two processes. A tracker
 * command cannot be faster than the first; the twin's ack cannot add less than both (its
 * own durable write, and the frame there and the ack back).
 *
 * Both can be paced (`everyMs` between one and the next) like the traffic they bound: on
 * this VM a durable write costs 0.05-0.17 ms more when the disk was idle for a
 * millisecond than right after the last one (a bare fsync of four 4 KiB frames 0.19-0.21
 * against 0.13-0.16 ms p50, alike with fdatasync, and alike when the process spins
 * instead of sleeping meanwhile: the wait is the virtual disk's, not this process's; the
 * one-row commit here 0.26-0.36 against 0.16-0.19 ms).
 */
import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type WebSocket from 'ws';
import { percentile } from './stats.js';

export interface Floor {
  readonly count: number;
  readonly perSecond: number;
  readonly p50: number;
  readonly p99: number;
}

const pause = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** One-row transactions in a WAL database with synchronous=FULL, one after another, or `everyMs` apart (ms). */
export async function measureDurableCommit(count = 3000, everyMs = 0): Promise<Floor> {
  const dir = mkdtempSync(join(tmpdir(), 'disk-floor-'));
  const db = new Database(join(dir, 'floor.db'));
  try {
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL');
    db.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)');
    const insert = db.prepare('INSERT INTO t (v) VALUES (?)');
    const write = db.transaction(() => insert.run('x'.repeat(200)));
    const latencies: number[] = [];
    for (let i = 0; i < count; i++) {
      const t0 = performance.now();
      write();
      latencies.push(performance.now() - t0);
      if (everyMs > 0) await pause(everyMs);
    }
    return summarize(latencies);
  } finally {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * WebSocket pings on an open connection to another process, one after another or
 * `everyMs` apart (ms): the peer's ws library answers each pong itself, so this is the
 * wire and two wake-ups, none of the peer's own work.
 */
export async function measureWsRoundTrip(ws: WebSocket, count = 2000, everyMs = 0): Promise<Floor> {
  const latencies: number[] = [];
  for (let i = 0; i < count; i++) {
    const t0 = performance.now();
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no pong within 2 s')), 2000);
      ws.once('pong', () => {
        clearTimeout(timer);
        resolve();
      });
      ws.ping();
    });
    latencies.push(performance.now() - t0);
    if (everyMs > 0) await pause(everyMs);
  }
  return summarize(latencies);
}

function summarize(latencies: number[]): Floor {
  const total = latencies.reduce((a, b) => a + b, 0);
  latencies.sort((a, b) => a - b);
  return { count: latencies.length, perSecond: (latencies.length * 1000) / total, p50: percentile(latencies, 50), p99: percentile(latencies, 99) };
}
