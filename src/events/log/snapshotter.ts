/**
 * Background snapshots. The ledger asks for a snapshot at a durable position; the
 * snapshot worker (snapshot-worker.ts) folds the log up to there on its own thread and
 * sends back the canonical text's UTF-8 and its hash; the ledger stores it (SnapshotWriter).
 * One job at a time; a job may also ask for the state's hash alone (requestHash, for
 * StateHasher: a million events' state takes 100-200 ms to hash, which /health would
 * otherwise spend on the tracker's thread).
 * A late event that sorts at or before a job's position makes the job stale: its result,
 * or the error of a fold that met the late event (a count that does not match), is
 * dropped, and the worker starts over from a snapshot before that event.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { Position } from './event-store.js';
import type { SnapshotToStore } from './snapshot-writer.js';

/** A snapshot the worker took: its text as UTF-8 (moved, not copied, to this thread), and that UTF-8's SHA-256. */
export type SnapshotResult = SnapshotToStore & { readonly state: Uint8Array };
/** The hash of the state at a position, without its text (requestHash). */
export interface StateHashResult {
  readonly upTo: Position;
  readonly eventCount: number;
  readonly hash: string;
}

const WORKER_FILE = new URL('./snapshot-worker.js', import.meta.url);

export class Snapshotter {
  private readonly worker: Worker;
  private job: { upTo: Position; stale: boolean; hashOnly: boolean } | undefined;

  private constructor(
    path: string,
    private readonly onResult: (result: SnapshotResult) => void,
    private readonly onError: (message: string) => void,
    private readonly onHash: (result: StateHashResult) => void,
  ) {
    this.worker = new Worker(WORKER_FILE, { workerData: { path } });
    this.worker.unref();
    this.worker.on('message', (m: SnapshotResult | StateHashResult | { error: string }) => this.finished(m));
    this.worker.on('error', (error) => this.onError(error.message));
  }

  /** A snapshotter for the log at `path`, or undefined where the worker cannot run (TypeScript sources under a test runner). */
  static create(
    path: string,
    onResult: (result: SnapshotResult) => void,
    onError: (message: string) => void,
    onHash: (result: StateHashResult) => void = () => undefined,
  ): Snapshotter | undefined {
    return existsSync(fileURLToPath(WORKER_FILE)) ? new Snapshotter(path, onResult, onError, onHash) : undefined;
  }

  get busy(): boolean {
    return this.job !== undefined;
  }

  /** Starts a snapshot of the first `eventCount` events, up to `upTo` in fold order. */
  request(upTo: Position, eventCount: number): void {
    this.job = { upTo, stale: false, hashOnly: false };
    this.worker.postMessage({ upTo, eventCount });
  }

  /** Starts a job that only hashes that state (its text stays on the worker): a StateHashResult. */
  requestHash(upTo: Position, eventCount: number): void {
    this.job = { upTo, stale: false, hashOnly: true };
    this.worker.postMessage({ upTo, eventCount, hashOnly: true });
  }

  /** An event at `from` was folded late: a job at or after it, and the worker's state, are stale. */
  lateEvent(from: Position): void {
    if (this.job && compare(from, this.job.upTo) <= 0) this.job.stale = true;
    this.worker.postMessage({ reset: true });
  }

  /**
   * Another connection is about to store events this ledger has not folded: a job under
   * way may meet them (they may sort before its position), so it is dropped, whatever it
   * reports. The next request starts over; those events reset the worker once folded.
   */
  abandonJob(): void {
    if (this.job) this.job.stale = true;
  }

  async stop(): Promise<void> {
    this.worker.postMessage({ stop: true });
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => void this.worker.terminate().then(() => resolve()), 1000);
      this.worker.once('exit', () => (clearTimeout(timer), resolve()));
    });
  }

  private finished(m: SnapshotResult | StateHashResult | { error: string }): void {
    const job = this.job;
    this.job = undefined;
    if (job?.stale) return; // a late event: its count or its text is off, as expected
    if ('error' in m) this.onError(job?.hashOnly ? `hashing the state for /health: ${m.error}` : m.error);
    else if (!job) return;
    else if ('state' in m) this.onResult(m);
    else this.onHash(m);
  }
}

function compare(a: Position, b: Position): number {
  return a.hlc - b.hlc || a.origin - b.origin || a.seq - b.seq;
}
