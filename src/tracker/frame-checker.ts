/**
 * Checks the envelopes of big `events` frames on a worker thread: the field and hash
 * checks (checkEnvelopeFields), a SHA-256 per event, are the largest cost of a catch-up
 * on the receiving tracker's event loop (about 2 s of its 11 per million events). The
 * event loop parses the same frame text alongside and, once the worker has passed it,
 * checks only what needs the state: each event's data schema, seq and prev chain
 * (Ledger.applyRemote with `fieldsChecked`).
 *
 * One worker per tracker answers in the order it was asked, so frames become ready in
 * the order they arrived. Small frames (live traffic) are not sent: the hop to the
 * worker would cost more than checking one event inline.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';

/** Frames with fewer events are checked inline. */
export const OFF_THREAD_MIN_EVENTS = 256;

const WORKER_FILE = new URL('./frame-check-worker.js', import.meta.url);

/** To the worker: one frame's text. From it: the first problem, or none. */
export interface CheckRequest {
  readonly id: number;
  readonly text: string;
}
export interface CheckAnswer {
  readonly id: number;
  readonly problem: string | undefined;
}

export class FrameChecker {
  private readonly worker: Worker;
  private readonly waiting = new Map<number, { resolve: (problem: string | undefined) => void; reject: (error: Error) => void }>();
  private nextId = 1;
  private failure: Error | undefined;

  private constructor() {
    this.worker = new Worker(WORKER_FILE);
    this.worker.on('message', (answer: CheckAnswer) => {
      const waiter = this.waiting.get(answer.id);
      this.waiting.delete(answer.id);
      waiter?.resolve(answer.problem);
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

  /** A checker, or undefined where the worker cannot run (TypeScript sources under a test runner). */
  static create(): FrameChecker | undefined {
    return existsSync(fileURLToPath(WORKER_FILE)) ? new FrameChecker() : undefined;
  }

  /**
   * Checks every envelope in an `events` frame's text. Resolves to undefined when all
   * pass, else to the first problem ("origin 1 seq 5: bad hash"); rejects when the
   * worker is gone, and the caller checks inline instead.
   */
  check(text: string): Promise<string | undefined> {
    if (this.failure) return Promise.reject(this.failure);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      this.worker.postMessage({ id, text } satisfies CheckRequest);
    });
  }

  async close(): Promise<void> {
    await this.worker.terminate();
  }
}
