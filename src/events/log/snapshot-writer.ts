/**
 * Stores snapshots a part at a time (SNAPSHOT_PART_SIZE of text, one transaction each),
 * one part per turn of the event loop, so that a command arriving meanwhile waits for one
 * part's write at most: a million events' state is 13 MB of text, and written in one
 * transaction it held the tracker's event loop 60-250 ms on these machines.
 *
 * A snapshot becomes visible (EventStore.publishSnapshot) in the transaction that writes
 * its last part. Until then it may be given up: `dropFrom` (a late event sorts at or
 * before it, so it lacks that event) deletes what it wrote; `close` leaves its parts to
 * the next start (EventStore.dropUnpublishedSnapshots). Snapshots are written in the
 * order given, one at a time.
 */
import { compareOrder } from '../envelope.js';
import { textSlices, utf8Slices } from '../text-slices.js';
import { SNAPSHOT_PART_SIZE, type EventStore, type Position } from './event-store.js';

/** A snapshot to store: the fold of the first `eventCount` events, up to `upTo` in fold order. */
export interface SnapshotToStore {
  readonly upTo: Position;
  readonly eventCount: number;
  /** The SHA-256 of the text's UTF-8 (textHash). */
  readonly hash: string;
  /**
   * Its canonical text (snapshotText), or that text's UTF-8: a worker thread's result
   * comes as bytes, moved to this thread without a copy (a 13 MB string took 15-50 ms
   * to arrive, on this thread).
   */
  readonly state: string | Uint8Array;
}

interface Writing {
  readonly snapshot: SnapshotToStore;
  readonly parts: readonly (string | Uint8Array)[];
  written: number;
  /** Given when its first part is written. */
  id: number | undefined;
}

export interface SnapshotWriterEvents {
  /** The snapshot is stored and visible. */
  stored(snapshot: SnapshotToStore): void;
  /** It could not be stored (what it wrote is deleted if it can be); the next one may be. */
  failed(message: string): void;
}

export class SnapshotWriter {
  private queue: Writing[] = [];
  private scheduled = false;
  private closed = false;

  constructor(
    private readonly store: EventStore,
    private readonly clock: () => number,
    private readonly on: SnapshotWriterEvents,
  ) {}

  /** Snapshots given and not stored (nor given up) yet. */
  get pending(): number {
    return this.queue.length;
  }

  /** Stores `snapshot` over the next turns, after those given before it. */
  write(snapshot: SnapshotToStore): void {
    if (this.closed) return;
    const { state } = snapshot;
    const parts = typeof state === 'string' ? textSlices(state, SNAPSHOT_PART_SIZE) : utf8Slices(state, SNAPSHOT_PART_SIZE);
    this.queue.push({ snapshot, parts, written: 0, id: undefined });
    this.schedule();
  }

  /** Snapshots at or after `from` in fold order are given up: an event folded late sorts before them. */
  dropFrom(from: Position): void {
    const [stale, kept] = partition(this.queue, (w) => compareOrder(w.snapshot.upTo, from) >= 0);
    this.queue = kept;
    for (const w of stale) this.discard(w);
  }

  /** Writes nothing more. Parts written of an unfinished snapshot are deleted at the next start. */
  close(): void {
    this.closed = true;
    this.queue = [];
  }

  private schedule(): void {
    if (this.scheduled || this.queue.length === 0) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      if (this.closed) return;
      this.writeNextPart();
      this.schedule();
    });
  }

  private writeNextPart(): void {
    const w = this.queue[0];
    if (!w) return;
    const last = w.written === w.parts.length - 1;
    try {
      this.store.db.transaction(() => {
        w.id ??= this.store.nextSnapshotId();
        this.store.writeSnapshotPart(w.id, w.written, w.parts[w.written]!);
        if (last) this.store.publishSnapshot(w.id, w.snapshot.upTo, w.snapshot.eventCount, w.snapshot.hash, this.clock());
      })();
    } catch (error) {
      this.queue.shift();
      this.discard(w);
      this.on.failed(`could not store the snapshot of ${w.snapshot.eventCount} events: ${error instanceof Error ? error.message : String(error)}`);
      return;
    }
    w.written += 1;
    if (!last) return;
    this.queue.shift();
    this.on.stored(w.snapshot);
  }

  /** Deletes what an unpublished snapshot wrote; what cannot be deleted now goes at the next start. */
  private discard(w: Writing): void {
    if (w.id === undefined) return;
    try {
      this.store.dropSnapshotParts(w.id);
    } catch {
      // left to dropUnpublishedSnapshots
    }
  }
}

function partition<T>(items: readonly T[], test: (item: T) => boolean): [T[], T[]] {
  const yes: T[] = [];
  const no: T[] = [];
  for (const item of items) (test(item) ? yes : no).push(item);
  return [yes, no];
}
