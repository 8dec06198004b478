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
