/**
 * The trackers compare their wall clocks when the link comes up: a twin whose clock is far
 * off is named once in the tracker's log, in /health and by `tracker status` (the fold
 * knows a command retried on both trackers as one only within 2 minutes of HLC time).
 * The twin here is the test, over a real socket, with the cluster's secret and a clock
 * a minute ahead in its hello.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import WebSocket from 'ws';
import { authTranscript, encodeMessage, PROTOCOL_VERSION } from '../../src/events/replication/protocol.js';
import { linkProof, loadClusterKeys } from '../../src/tracker/cluster-keys.js';
import { CLOCK_SKEW_WARN_MS } from '../../src/tracker/twin-clock.js';
import { trackerCli } from '../admin/admin-cli.js';
import { Cluster, waitFor } from '../helpers/cluster.js';
import { health } from '../helpers/replication.js';

const AHEAD_MS = 60_000;
let cluster: Cluster;
const sockets: WebSocket[] = [];

beforeAll(async () => {
  cluster = await Cluster.create(2);
  await cluster.start(1); // tracker 2 never starts: the test plays it
});

afterAll(async () => {
  for (const ws of sockets) ws.terminate();
  await cluster?.destroy();
});

/**
 * Within the 2 s the test allows: the hello's clock is read when it is sent, and tracker 1
 * reads its own when the hello arrives, some milliseconds later on a busy machine (it
 * then sees 59.9 s).
 */
const ABOUT_A_MINUTE = /(5[89]|6[01])\.\d s/.source;

/** Links to tracker 1 as tracker 2 whose hello gives a clock `aheadMs` ahead; resolves once tracker 1 sent its marks (the link is up there). */
async function linkAsTwin(aheadMs: number): Promise<void> {
  const keys = loadClusterKeys(cluster.trackers[0]!.dataDir, undefined, {});
  const mine = 'm'.repeat(43);
  const ws = new WebSocket(`ws://127.0.0.1:${cluster.trackers[0]!.port}/replicate`);
  sockets.push(ws);
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no marks from tracker 1 within 10 s')), 10_000);
    ws.on('message', (data) => {
      const m = JSON.parse(data.toString()) as { t: string; challenge?: string; code?: string; message?: string };
      if (m.t === 'hello') ws.send(encodeMessage({ t: 'auth', proof: linkProof(keys, authTranscript(2, 1, m.challenge!, mine, 'flush')) }));
      if (m.t === 'marks') {
        ws.send(encodeMessage({ t: 'marks', marks: new Map() }));
        clearTimeout(timer);
        resolve();
      }
      if (m.t === 'refused') reject(new Error(`refused: ${m.code} ${m.message}`));
    });
    ws.once('open', () => ws.send(encodeMessage({ t: 'hello', v: PROTOCOL_VERSION, tracker: 2, challenge: mine, clock: Date.now() + aheadMs })));
    ws.once('error', reject);
  });
}

describe("the twin's clock", () => {
  test('a minute ahead: tracker 1 warns once in its log, reports it in /health, and tracker status says what to do', async () => {
    await linkAsTwin(AHEAD_MS);
    const ahead = await waitFor('the link up in /health', async () => {
      const r = (await health(cluster, 1)).replication;
      return r.link === 'up' ? (r.twinClockAheadMs ?? undefined) : undefined;
    });
    expect(Math.abs(ahead - AHEAD_MS)).toBeLessThan(2000);
    expect(cluster.trackers[0]!.output).toMatch(new RegExp(`tracker 2's clock is ${ABOUT_A_MINUTE} ahead of this tracker's`));

    const status = await trackerCli(['status', cluster.infoFile, '1']);
    expect(status.stdout).toMatch(new RegExp(`warning: tracker 2's clock is ${ABOUT_A_MINUTE} ahead of this tracker's: keep the two within 10 s \\(NTP\\)`));
  });

  test('linked again with the clocks together: no warning, and none repeated for the link before', async () => {
    for (const ws of sockets.splice(0)) ws.terminate();
    await linkAsTwin(0);
    const ahead = await waitFor('the new link up in /health', async () => {
      const r = (await health(cluster, 1)).replication;
      return r.link === 'up' && r.twinClockAheadMs !== null && Math.abs(r.twinClockAheadMs) < CLOCK_SKEW_WARN_MS ? r.twinClockAheadMs : undefined;
    });
    expect(Math.abs(ahead)).toBeLessThan(2000);
    const status = await trackerCli(['status', cluster.infoFile, '1']);
    expect(status.stdout).not.toContain('clock');
    expect(cluster.trackers[0]!.output.split('\n').filter((l) => l.includes("tracker 2's clock is"))).toHaveLength(1);
  });
});
