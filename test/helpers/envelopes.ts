/**
 * Sealed envelope chains and temporary SQLite files for the log tests.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GENESIS_PREV, seal, type DomainEvent, type Envelope } from '../../src/events/index.js';

export interface ChainOptions {
  /** The hlc of the i-th envelope of the chain (0-based). Default: 1000 * (seq). */
  readonly hlc?: (i: number, seq: number) => number;
  /** Continue after this envelope of the same origin. */
  readonly after?: Pick<Envelope, 'seq' | 'hash'>;
  readonly idem?: (i: number) => string | null;
}

/** `count` user_created events (users o<origin>s<seq>) or the given events, sealed as one origin's chain. */
export function chain(origin: number, events: number | readonly DomainEvent[], options: ChainOptions = {}): Envelope[] {
  const list: readonly DomainEvent[] =
    typeof events === 'number'
      ? Array.from({ length: events }, (_, i) => ({
          type: 'user_created',
          data: { user: `o${origin}s${(options.after?.seq ?? 0) + i + 1}`, passwordHash: 'h' },
        }))
      : events;
  const out: Envelope[] = [];
  let prev = options.after?.hash ?? GENESIS_PREV;
  let seq = options.after?.seq ?? 0;
  for (const [i, event] of list.entries()) {
    seq += 1;
    const e = seal({
      origin,
      seq,
      hlc: options.hlc?.(i, seq) ?? 1000 * seq,
      type: event.type,
      data: JSON.stringify(event.data),
      prev,
      idem: options.idem?.(i) ?? null,
    });
    out.push(e);
    prev = e.hash;
  }
  return out;
}

/** A fresh temporary directory; `remove()` deletes it and everything in it. */
export function tempDir(prefix = 'p2p-events-'): { readonly path: string; file(name: string): string; remove(): void } {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return { path, file: (name) => join(path, name), remove: () => rmSync(path, { recursive: true, force: true }) };
}
