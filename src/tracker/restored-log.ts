/**
 * The mark `tracker restore` leaves in a log it puts back. A backup is older than the
 * tracker it came from: the twin may hold later events of this tracker's own origin,
 * which the restored log lacks. A command accepted before the twin was reached would
 * reuse one of their seqs and fork this origin's chain for good (the twins then refuse
 * each other's history: CHAIN_BROKEN). So a marked log accepts no command until the link
 * to the twin has come up and the twin holds no more of this origin than the log; the
 * mark is then removed. `--twin-lost` removes it at start, for when the twin is gone
 * for good and the backup is all the cluster has.
 */
import type { EventStore } from '../events/log/event-store.js';

const META_KEY = 'restored_from';

export interface RestoredMark {
  /** The backup file the log was restored from. */
  readonly file: string;
  /** When (ISO time). */
  readonly at: string;
}

export function markRestored(store: EventStore, mark: RestoredMark): void {
  store.setMeta(META_KEY, JSON.stringify(mark));
}

export function restoredMark(store: EventStore): RestoredMark | undefined {
  const text = store.getMeta(META_KEY);
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text) as RestoredMark;
  } catch {
    return { file: '(unknown)', at: '(unknown)' };
  }
}

export function clearRestored(store: EventStore): void {
  store.deleteMeta(META_KEY);
}
