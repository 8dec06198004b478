/**
 * The run lock: `<data-dir>/tracker.lock`, a tiny SQLite file on which a running tracker
 * holds an exclusive lock for as long as its log is open. It answers "is a tracker
 * using this data dir?" for the commands that must not run beside one (restore,
 * offline snapshot) and stops a second tracker from opening the same log.
 *
 * The lock is the operating system's (SQLite's file locks), so it is released when the
 * holder closes its log or dies, kill -9 included: no stale pid files. The tracker holds
 * it on its log's own connection (ATTACH), so closing the log releases it; admin
 * commands that change a stopped tracker's files hold it on a connection of their own.
 */
import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';

export const LOCK_FILE = 'tracker.lock';
const SCHEMA = 'run_lock';

export class DataDirBusy extends Error {
  readonly code = 'DATA_DIR_BUSY';
}

export const lockFileOf = (dataDir: string): string => join(dataDir, LOCK_FILE);

/** Takes the lock on `db` (the tracker's log connection) until `db` closes; throws DataDirBusy if held. */
export function holdRunLock(db: Database.Database, dataDir: string): void {
  withoutWaiting(db, dataDir, () => {
    db.prepare(`ATTACH DATABASE ? AS ${SCHEMA}`).run(lockFileOf(dataDir));
    try {
      take(db, `${SCHEMA}.`);
    } catch (error) {
      db.exec(`DETACH DATABASE ${SCHEMA}`);
      throw error;
    }
  });
}

/** Takes the lock on a connection of its own; call the result to release it. */
export function acquireRunLock(dataDir: string): () => void {
  mkdirSync(dataDir, { recursive: true });
  const db = new Database(lockFileOf(dataDir), { timeout: 0 });
  try {
    withoutWaiting(db, dataDir, () => take(db, ''));
  } catch (error) {
    db.close();
    throw error;
  }
  return () => db.close();
}

/** True while some process holds the lock (a tracker runs on this data dir). */
export function isLocked(dataDir: string): boolean {
  let db: Database.Database;
  try {
    db = new Database(lockFileOf(dataDir), { readonly: true, fileMustExist: true, timeout: 0 });
  } catch {
    return false; // no lock file: no tracker has run here since it was created
  }
  try {
    db.prepare('SELECT count(*) FROM sqlite_master').get();
    return false;
  } catch (error) {
    if ((error as { code?: string }).code === 'SQLITE_BUSY') return true;
    throw error;
  } finally {
    db.close();
  }
}

/** In exclusive locking mode the first write takes the file lock and keeps it. */
function take(db: Database.Database, schema: string): void {
  db.pragma(`${schema}locking_mode = EXCLUSIVE`);
  db.pragma(`${schema}journal_mode = MEMORY`);
  db.exec(`CREATE TABLE IF NOT EXISTS ${schema}holder (pid INTEGER NOT NULL, since INTEGER NOT NULL)`);
  db.exec(`DELETE FROM ${schema}holder`);
  db.prepare(`INSERT INTO ${schema}holder (pid, since) VALUES (?, ?)`).run(process.pid, Date.now());
}

/** Runs `act` with the connection's busy timeout at 0 (held means held) and names a held lock. */
function withoutWaiting(db: Database.Database, dataDir: string, act: () => void): void {
  const wait = db.pragma('busy_timeout', { simple: true }) as number;
  db.pragma('busy_timeout = 0');
  try {
    act();
  } catch (error) {
    if ((error as { code?: string }).code === 'SQLITE_BUSY') throw new DataDirBusy(`a tracker is running on ${dataDir} (it holds ${lockFileOf(dataDir)})`);
    throw error;
  } finally {
    db.pragma(`busy_timeout = ${wait}`);
  }
}
