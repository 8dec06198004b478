/**
 * Writes a valid event log straight into a tracker's SQLite file, offline and fast: the
 * same envelopes (hash chain, hlc) a tracker would have committed, without running a
 * million commands. The events fold cleanly (no conflicts) and keep the state small:
 * `users` users, one session each, then session resumes and losses.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { GENESIS_PREV, seal, type Envelope } from '../../src/events/envelope.js';
import type { DomainEvent } from '../../src/events/domain-events.js';
import { EventStore } from '../../src/events/log/event-store.js';
import { DB_FILE } from '../../src/tracker/tracker.js';

export interface SyntheticLog {
  readonly origin: number;
  readonly count: number;
  /** Users named u0, u1, ...; each has session s<i> (hex, 32 chars) at peer 127.0.0.1:<7000+i>. */
  readonly users?: number;
  /** The first hlc; each event adds one. Default: now. */
  readonly startHlc?: number;
}

const CHUNK = 10_000;

export function syntheticEvent(i: number, users: number): DomainEvent {
  if (i < users) return { type: 'user_created', data: { user: `u${i}`, passwordHash: `scrypt$16384$8$1$c2FsdA==$${'x'.repeat(43)}` } };
  if (i < 2 * users) {
    const u = i - users;
    return { type: 'session_started', data: { session: sessionId(u), user: `u${u}`, peer: `127.0.0.1:${7000 + u}` } };
  }
  const u = i % users;
  const epoch = Math.floor(i / users);
  return i % 2 === 0 ? { type: 'session_resumed', data: { session: sessionId(u), epoch } } : { type: 'session_lost', data: { session: sessionId(u), epoch } };
}

function sessionId(u: number): string {
  return u.toString(16).padStart(32, '0');
}

/** Appends `count` events of `origin` to the log in `dataDir` (created if needed). */
export async function writeSyntheticLog(dataDir: string, log: SyntheticLog): Promise<Envelope | undefined> {
  mkdirSync(dataDir, { recursive: true });
  const store = EventStore.open(join(dataDir, DB_FILE));
  const users = log.users ?? 1000;
  let hlc = log.startHlc ?? Date.now() * 1000;
  let prev = GENESIS_PREV;
  let last: Envelope | undefined;
  try {
    let chunk: Envelope[] = [];
    for (let i = 0; i < log.count; i++) {
      const event = syntheticEvent(i, users);
      last = seal({ origin: log.origin, seq: i + 1, hlc: hlc++, type: event.type, data: JSON.stringify(event.data), prev, idem: null });
      prev = last.hash;
      chunk.push(last);
      if (chunk.length === CHUNK) {
        store.append(chunk);
        chunk = [];
      }
    }
    store.append(chunk);
  } finally {
    await store.close();
  }
  return last;
}
