/**
 * The catch-up's store path alone: tracker 2's frame checker (src/tracker/frame-checker.ts)
 * fed a synthetic log's events (bench/lib/synthetic-log.ts) in catch-up frames of about
 * 310 events, checking every envelope and storing each frame into an empty log through
 * its own SQLite connection, as during a replication catch-up. Two ways alternate run by
 * run, each into a fresh log:
 * - `in flight`: MAX_UNACKED_BATCHES frames asked for at a time, as the sender's window
 *   keeps them coming; frames that arrive together are stored together (MAX_FRAMES_PER_STORE);
 * - `one by one`: each frame asked for once the one before is answered, so each is its
 *   own transaction (and the thread waits for a round trip between frames, about 0.1 ms).
 * The whole catch-up (`replication --only catchup`) spreads over two trackers and two
 * cores and cannot resolve a change of 10 % here; this can.
 *
 * Options: --events N (default 1000000), --runs N per way (default 3), --db FILE (keep
 * the generated log there and reuse it).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EventStore } from '../src/events/log/event-store.js';
import { encodeEventRows, type EnvelopeRow } from '../src/events/replication/protocol.js';
import { FrameChecker, MAX_FRAMES_PER_STORE } from '../src/tracker/frame-checker.js';
import { CATCH_UP_FRAME_BYTES, MAX_UNACKED_BATCHES } from '../src/tracker/log-sender.js';
import { median, printTable, stringOption, writeResults } from './lib/stats.js';
import { ensureSyntheticLog } from './lib/synthetic-log.js';

const EVENTS_PER_FRAME = 310;
const WAYS = { 'in flight': MAX_UNACKED_BATCHES, 'one by one': 1 } as const;
type Way = keyof typeof WAYS;

export default async function run(args: string[]): Promise<void> {
  const events = Number(stringOption(args, 'events') ?? 1_000_000);
  const runs = Number(stringOption(args, 'runs') ?? 3);
  const temp = mkdtempSync(join(tmpdir(), 'bench-frame-store-'));
  const source = stringOption(args, 'db') ?? join(temp, 'source.db');
  try {
    await ensureSyntheticLog(source, events);
    const frames = framesOf(source);
    console.log(`${frames.length.toLocaleString('en-US')} frames of ${EVENTS_PER_FRAME} events (catch-up frames stay under ${CATCH_UP_FRAME_BYTES / 1024} KiB)`);
    const seconds: Record<Way, number[]> = { 'in flight': [], 'one by one': [] };
    for (let r = 1; r <= runs; r++) {
      for (const way of Object.keys(WAYS) as Way[]) {
        const s = await storeAll(frames, events, WAYS[way], join(temp, `run-${r}-${way.replace(/ /g, '-')}.db`));
        seconds[way].push(s);
        console.log(`[run ${r}] ${way}: ${s.toFixed(2)} s`);
      }
    }
    const ways = Object.keys(WAYS) as Way[];
    const medianSeconds = Object.fromEntries(ways.map((way) => [way, Number(median(seconds[way]).toFixed(2))])) as Record<Way, number>;
    printTable(
      ['way', 'frames asked at a time', 'median s', 'events/s', 'each run s'],
      ways.map((way) => [way, WAYS[way], medianSeconds[way].toFixed(2), Math.round(events / medianSeconds[way]), seconds[way].map((s) => s.toFixed(2)).join(' / ')]),
    );
    const ratio = medianSeconds['one by one'] / medianSeconds['in flight'];
    console.log(`stored in groups of up to ${MAX_FRAMES_PER_STORE} frames: ${ratio.toFixed(2)}x the rate of one frame per transaction`);
    console.log(`results: ${writeResults('frame-store', { events, eventsPerFrame: EVENTS_PER_FRAME, maxFramesPerStore: MAX_FRAMES_PER_STORE, seconds, medianSeconds, ratio: Number(ratio.toFixed(3)) })}`);
  } finally {
    rmSync(temp, { recursive: true, force: true });
  }
}

/** The log's events in seq order per origin, as the wire's frames. */
function framesOf(file: string): string[] {
  const store = EventStore.openReadOnly(file);
  try {
    const rows = store.db.prepare('SELECT origin, seq, hlc, type, data, prev, hash, idem FROM events ORDER BY origin, seq').raw(true).all() as EnvelopeRow[];
    const frames: string[] = [];
    for (let i = 0; i < rows.length; i += EVENTS_PER_FRAME) frames.push(encodeEventRows(rows.slice(i, i + EVENTS_PER_FRAME)));
    return frames;
  } finally {
    void store.close();
  }
}

/** Seconds to check and store every frame (`events` in all) into a new log at `file`, `inFlight` frames asked for at a time. */
async function storeAll(frames: readonly string[], events: number, inFlight: number, file: string): Promise<number> {
  const log = EventStore.open(file);
  const checker = FrameChecker.create(file);
  if (!checker) throw new Error('the frame checker needs the compiled tracker (npm run bench builds it)');
  const t0 = performance.now();
  let next = 0;
  const worker = async () => {
    while (next < frames.length) {
      const { problem, stored } = await checker.check(frames[next++]!, true);
      if (problem !== undefined || !stored) throw new Error(`a frame was not stored: ${problem ?? 'it does not continue the log'}`);
    }
  };
  // The checker's thread does not keep the process alive by itself.
  const alive = setInterval(() => undefined, 1000);
  try {
    await Promise.all(Array.from({ length: inFlight }, worker));
    const s = (performance.now() - t0) / 1000;
    if (log.count() !== events) throw new Error(`the log holds ${log.count()} events, not ${events}`);
    return s;
  } finally {
    clearInterval(alive);
    await checker.close();
    await log.close();
  }
}
