/**
 * Applies migrations/NNN_name.sql in order, each in its own transaction, and records
 * the newest applied number in PRAGMA user_version.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Database } from 'better-sqlite3';

/** The repository's migrations folder, found from this module (src/ or dist/src/). */
export function migrationsDir(): string {
  const compiled = import.meta.url.includes('/dist/');
  return fileURLToPath(new URL(compiled ? '../../../../migrations' : '../../../migrations', import.meta.url));
}

export function migrate(db: Database, dir: string = migrationsDir()): number {
  const files = readdirSync(dir)
    .filter((f) => /^\d{3}_[a-z0-9_]+\.sql$/.test(f))
    .sort();
  let version = db.pragma('user_version', { simple: true }) as number;
  for (const file of files) {
    const n = Number(file.slice(0, 3));
    if (n <= version) continue;
    const sql = readFileSync(`${dir}/${file}`, 'utf8');
    db.transaction(() => {
      db.exec(sql);
      db.pragma(`user_version = ${n}`);
    })();
    version = n;
  }
  return version;
}
