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
 * checkpoints, `onCheckpointed` lets the writer copy the few frames committed since, on
 * its own thread, between commits: its next write then restarts the WAL.
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
const timer = setInterval(() => {
  const result = checkpoint();
  if (result && result.log > 0) parentPort.postMessage('checkpointed');
}, workerData.intervalMs);
parentPort.on('message', () => {
  clearInterval(timer);
  checkpoint();
  db.close();
  parentPort.close();
});
`;

export class Checkpointer {
  private readonly worker: Worker;

  constructor(path: string, driver: string, onCheckpointed: () => void, intervalMs = CHECKPOINT_INTERVAL_MS) {
    this.worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { path, driver, intervalMs } });
    this.worker.on('message', onCheckpointed);
    this.worker.unref();
  }

  /** Runs a last checkpoint and ends the worker. */
  stop(): Promise<void> {
    return new Promise((resolve) => {
      this.worker.once('exit', () => resolve());
      this.worker.postMessage('stop');
    });
  }
}
