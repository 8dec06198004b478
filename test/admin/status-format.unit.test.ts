/**
 * `tracker status` says when the state hash /health reported is of an earlier state
 * (Ledger.recentHash reuses a costly hash while events arrive), and says nothing extra
 * otherwise, or when talking to a tracker that does not report it.
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
