/**
 * `tracker status` says when the state hash /health reported is of an earlier state
 * (StateHasher.recent reuses a costly hash while events arrive), and says nothing extra
 * otherwise, or when talking to a tracker that does not report it. Its replication line
 * says why a tracker with no lag is not in sync (a re-fold in the background).
 */
import { describe, expect, test } from 'vitest';
import { formatStatus } from '../../src/tracker/admin/status.js';

const health = { tracker: 2, status: 'ok', events: 1200, stateHash: 'ab'.repeat(32), replication: null };

describe('tracker status: the state hash line', () => {
  test.each([
    ['covers every event', { stateHashEvents: 1200 }, `state hash  ${'ab'.repeat(32)}\n`],
    ['comes from a tracker that does not say what it covers', {}, `state hash  ${'ab'.repeat(32)}\n`],
    ['is of an earlier state', { stateHashEvents: 1100 }, `state hash  ${'ab'.repeat(32)} (of the state at 1100 events: events are arriving)\n`],
  ])('given a hash that %s, then the line says so', (_, extra, line) => {
    expect(formatStatus({ ...health, ...extra }, '127.0.0.1:7001') + '\n').toContain(line);
  });
});

describe('tracker status: the replication line', () => {
  const replication = { link: 'up', peer: { id: 1, address: '127.0.0.1:7001' }, lagEvents: 0, localMarks: {}, peerMarks: {} };
  test.each([
    ['in sync', { inSync: true }, 'replication: link up to tracker 1 (127.0.0.1:7001), in sync\n'],
    ['re-folding in the background', { inSync: false, refolding: true }, 'replication: link up to tracker 1 (127.0.0.1:7001), lag 0 events, re-folding in the background (events arrived that sort before folded ones; in sync once done)\n'],
    ['lagging and holding commits', { inSync: false, lagEvents: 3, lagging: true, holdingCommits: true }, 'replication: link up to tracker 1 (127.0.0.1:7001), lag 3 events, lagging (acks on local commit), holding commits while catching up\n'],
  ])('given a tracker %s, then the line says so', (_, extra, line) => {
    expect(formatStatus({ ...health, replication: { ...replication, ...extra } }, '127.0.0.1:7002') + '\n').toContain(line);
  });
});

describe("tracker status: the twin's clock", () => {
  const replication = { link: 'up', inSync: true, peer: { id: 1, address: '127.0.0.1:7001' }, lagEvents: 0, localMarks: {}, peerMarks: {} };
  test.each([
    ['12.5 s behind', -12_500, "  warning: tracker 1's clock is 12.5 s behind this tracker's: keep the two within 10 s (NTP)"],
    ['61.2 s ahead', 61_200, "  warning: tracker 1's clock is 61.2 s ahead of this tracker's: keep the two within 10 s (NTP)"],
  ])('given a twin whose clock is %s, then a warning says so and what to do', (_, twinClockAheadMs, line) => {
    expect(formatStatus({ ...health, replication: { ...replication, twinClockAheadMs } }, '127.0.0.1:7002')).toContain(line);
  });

  test.each([
    ['within 10 s', 9_000],
    ['not reported (a twin that predates the check)', null],
  ])('given a twin whose clock is %s, then nothing is said of clocks', (_, twinClockAheadMs) => {
    expect(formatStatus({ ...health, replication: { ...replication, twinClockAheadMs } }, '127.0.0.1:7002')).not.toContain('clock');
  });
});
