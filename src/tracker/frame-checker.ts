/**
 * Checks the envelopes of big `events` frames on a worker thread: the field and hash
 * checks (checkEnvelopeFields), a SHA-256 per event, are the largest cost of a catch-up
 * on the receiving tracker's event loop (about 2 s of its 11 per million events). The
 * event loop parses the same frame text alongside and, once the worker has passed it,
 * checks only what needs the state: each event's data schema, seq and prev chain
 * (Ledger.applyRemote with `fieldsChecked`).
 *
 * Asked to, the worker also stores a frame that passed into the log, through its own
 * connection (EventStore.appendContinuation): the inserts, the next largest cost, then
 * run beside the event loop, which folds the frame (applyRemote with `inLog`). It stores
 * a frame only if it continues the log as it stands, and only while its request is not
 * withdrawn: `withdrawStores` makes every request made before it store nothing from the
 * moment the worker next takes the write lock (a shared generation count the worker
 * reads inside its write transaction).
 *
 * One worker per tracker answers in the order it was asked, so frames become ready in
 * the order they arrived. Small frames (live traffic) are not sent: the hop to the
 * worker would cost more than checking one event inline.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';

/** Frames with fewer events are checked inline (a catch-up frame holds about 300: CATCH_UP_FRAME_BYTES). */
export const OFF_THREAD_MIN_EVENTS = 128;
/** Frames to store that arrive together go in one transaction, this many at most: about 2,500 events of a catch-up. */
export const MAX_FRAMES_PER_STORE = 8;

const WORKER_FILE = new URL('./frame-check-worker.js', import.meta.url);

/** What the worker is started with: the log it may append to, if any, and the generation count. */
export interface CheckerSetup {
  readonly logPath: string | undefined;
  readonly generation: SharedArrayBuffer;
}
/** To the worker: one frame's text, and the generation it was asked in if it is to be stored. */
export interface CheckRequest {
  readonly id: number;
  readonly text: string;
  readonly storeIn?: number;
}
/** From it: the first problem, or none; and whether the frame is in the log now. */
export interface CheckAnswer {
  readonly id: number;
  readonly problem: string | undefined;
  readonly stored: boolean;
}
export type CheckResult = Omit<CheckAnswer, 'id'>;

export class FrameChecker {
  private readonly worker: Worker;
  private readonly waiting = new Map<number, { resolve: (result: CheckResult) => void; reject: (error: Error) => void }>();
  private readonly generation: Int32Array;
  private nextId = 1;
  private failure: Error | undefined;

  private constructor(readonly logPath: string | undefined) {
    const setup: CheckerSetup = { logPath, generation: new SharedArrayBuffer(4) };
    this.generation = new Int32Array(setup.generation);
    this.worker = new Worker(WORKER_FILE, { workerData: setup });
    this.worker.on('message', ({ id, problem, stored }: CheckAnswer) => {
      const waiter = this.waiting.get(id);
      this.waiting.delete(id);
      waiter?.resolve({ problem, stored });
    });
    const fail = (error: Error) => {
      this.failure ??= error;
      for (const w of this.waiting.values()) w.reject(error);
      this.waiting.clear();
    };
    this.worker.on('error', fail);
    this.worker.on('exit', () => fail(new Error('the frame check worker exited')));
    this.worker.unref(); // after the listeners, which would ref it again
  }

  /**
   * A checker, or undefined where the worker cannot run (TypeScript sources under a test
   * runner). With `logPath` (the log's file) it can store frames too.
   */
  static create(logPath?: string): FrameChecker | undefined {
    return existsSync(fileURLToPath(WORKER_FILE)) ? new FrameChecker(logPath) : undefined;
  }

  /** Frames may be stored (`check` with `store`): the worker has a log to append to. */
  get canStore(): boolean {
    return this.logPath !== undefined;
  }

  /**
   * Checks every envelope in an `events` frame's text; with `store`, and if all pass,
   * stores them too when they continue the log. Resolves to the first problem
   * ("origin 1 seq 5: bad hash") or none, and whether the frame is in the log now;
   * rejects when the worker is gone, and the caller checks inline instead.
   */
  check(text: string, store = false): Promise<CheckResult> {
    if (this.failure) return Promise.reject(this.failure);
    const id = this.nextId++;
    const storeIn = store && this.canStore ? Atomics.load(this.generation, 0) : undefined;
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      this.worker.postMessage({ id, text, storeIn } satisfies CheckRequest);
    });
  }

  /**
   * Every store asked for so far is withdrawn: from the worker's next write transaction
   * on, none of them stores anything. One that holds the write lock already finishes
   * (EventStore.waitForOtherWriters waits for it).
   */
  withdrawStores(): void {
    Atomics.add(this.generation, 0, 1);
  }

  async close(): Promise<void> {
    await this.worker.terminate();
  }
}
