/**
 * Moves WAL checkpoints off the event loop. SQLite normally checkpoints inside the
 * commit that crosses the WAL size limit, and with synchronous=FULL that commit then
 * also fsyncs the database file: a multi-millisecond stall for whichever command drew
 * the short straw. Here the writing connection never checkpoints; a worker thread with
 * its own connection runs PASSIVE checkpoints (which never block the writer) on a timer.
 */
import { Worker } from 'node:worker_threads';

export const CHECKPOINT_INTERVAL_MS = 1000;

const WORKER_SOURCE = `
const { workerData, parentPort } = require('node:worker_threads');
const Database = require(workerData.driver);
const db = new Database(workerData.path);
db.pragma('busy_timeout = 1000');
const timer = setInterval(() => {
  try { db.pragma('wal_checkpoint(PASSIVE)'); } catch {}
}, workerData.intervalMs);
parentPort.on('message', () => {
  clearInterval(timer);
  try { db.pragma('wal_checkpoint(PASSIVE)'); } catch {}
  db.close();
  parentPort.close();
});
`;

export class Checkpointer {
  private readonly worker: Worker;

  constructor(path: string, driver: string, intervalMs = CHECKPOINT_INTERVAL_MS) {
    this.worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { path, driver, intervalMs } });
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
