/**
 * Moves WAL checkpoints off the event loop, and keeps the WAL from growing without end.
 *
 * SQLite normally checkpoints inside the commit that crosses the WAL size limit, and
 * with synchronous=FULL that commit then also fsyncs the database file: a
 * multi-millisecond stall for whichever command drew the short straw. Here the writing
 * connection never checkpoints on its own; a worker thread with its own connection runs
 * PASSIVE checkpoints (which never block the writer) on a timer.
 *
 * A checkpoint copies the WAL into the database, but the WAL file is only reused from
 * its start when a write begins with every frame already copied. Under steady load a
 * new commit always lands while the worker copies, so that moment never comes: the WAL
 * grew by about 19 KB per command (120 MB in 5 s at one client), and every commit that
 * extends a file pays for a metadata flush in its fsync. So after each of the worker's
 * checkpoints, `checkpointed` lets the writer copy the few frames committed since, on
 * its own thread, between commits: its next write then restarts the WAL.
 *
 * The timer runs here, on the writer's thread, and asks the log whether a checkpoint is
 * due (`due`): not when nothing was appended since the last one (an idle tracker runs
 * none), and not while a burst of bulk appends lasts (see EventStore).
 */
import { Worker } from 'node:worker_threads';

export const CHECKPOINT_INTERVAL_MS = 1000;

const WORKER_SOURCE = `
const { workerData, parentPort } = require('node:worker_threads');
const Database = require(workerData.driver);
const db = new Database(workerData.path);
db.pragma('busy_timeout = 1000');
const checkpoint = () => {
  try { return db.pragma('wal_checkpoint(PASSIVE)')[0]; } catch { return undefined; }
};
parentPort.on('message', (m) => {
  if (m === 'checkpoint') {
    const result = checkpoint();
    if (result && result.log > 0) parentPort.postMessage('checkpointed');
    return;
  }
  checkpoint();
  db.close();
  parentPort.close();
});
`;

export interface CheckpointerOptions {
  readonly intervalMs: number;
  /** Asked every interval: is a checkpoint worth running now? */
  readonly due: () => boolean;
  /** A checkpoint copied frames into the database. */
  readonly checkpointed: () => void;
}

export class Checkpointer {
  private readonly worker: Worker;
  private readonly timer: NodeJS.Timeout;

  constructor(path: string, driver: string, options: CheckpointerOptions) {
    this.worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { path, driver } });
    this.worker.on('message', options.checkpointed);
    this.worker.unref();
    this.timer = setInterval(() => {
      if (options.due()) this.worker.postMessage('checkpoint');
    }, options.intervalMs);
    this.timer.unref();
  }

  /** Runs a last checkpoint and ends the worker. */
  stop(): Promise<void> {
    clearInterval(this.timer);
    // Referenced again until it exits: with nothing else left to wait for (a tracker
    // stopping), the process would otherwise end in the middle of the last checkpoint
    // (hundreds of megabytes after a catch-up), and the stop would never finish.
    this.worker.ref();
    return new Promise((resolve) => {
      this.worker.once('exit', () => resolve());
      this.worker.postMessage('stop');
    });
  }
}
