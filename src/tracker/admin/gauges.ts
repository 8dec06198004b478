/**
 * Gauges an operator watches besides the request counters in metrics.ts, computed when
 * /metrics is scraped from what the tracker already knows:
 *
 *   tracker_replication_lag_events{twin}   events one side holds that the other lacks
 *                                          (the replication status's lagEvents)
 *   tracker_replication_link_up{twin}      1 while the link to the twin is up
 *   tracker_peers_online                   client sessions online: the peers handed out
 *   tracker_snapshot_age_seconds           since the newest snapshot was taken; -1: none yet
 *   tracker_events_since_snapshot          events a restart would replay after the snapshot
 */
import { Gauge } from 'prom-client';
import type { Ledger } from '../../events/log/ledger.js';
import type { TrackerMetrics } from '../metrics.js';

export interface GaugeSources {
  readonly metrics: TrackerMetrics;
  readonly ledger: Ledger;
  /** The replication link, if this tracker has one; its status() may carry lagEvents. */
  readonly replication: { status(): unknown } | undefined;
}

export interface LinkView {
  readonly twin: string;
  readonly lagEvents: number | undefined;
  readonly up: boolean;
}

/** What the gauges need from a replication status, read defensively (it is `unknown` here). */
export function linkView(status: unknown): LinkView | undefined {
  if (typeof status !== 'object' || status === null) return undefined;
  const s = status as { lagEvents?: unknown; link?: unknown; peer?: { id?: unknown } };
  return {
    twin: String(s.peer?.id ?? 'twin'),
    lagEvents: typeof s.lagEvents === 'number' ? s.lagEvents : undefined,
    up: s.link === 'up',
  };
}

export function addHealthGauges(tracker: GaugeSources): void {
  const registers = [tracker.metrics.registry];
  const link = () => linkView(tracker.replication?.status());
  new Gauge({
    name: 'tracker_replication_lag_events',
    help: 'Events one tracker holds that the other lacks, summed over origins (absent without a twin)',
    labelNames: ['twin'],
    registers,
    collect() {
      this.reset();
      const view = link();
      if (view?.lagEvents !== undefined) this.set({ twin: view.twin }, view.lagEvents);
    },
  });
  new Gauge({
    name: 'tracker_replication_link_up',
    help: '1 while the replication link to the twin is up, else 0 (absent without a twin)',
    labelNames: ['twin'],
    registers,
    collect() {
      this.reset();
      const view = link();
      if (view) this.set({ twin: view.twin }, view.up ? 1 : 0);
    },
  });
  new Gauge({
    name: 'tracker_peers_online',
    help: 'Client sessions online in the state: the peers this tracker hands out',
    registers,
    collect() {
      let online = 0;
      for (const s of tracker.ledger.current.sessions.values()) if (s.online) online += 1;
      this.set(online);
    },
  });
  new Gauge({
    name: 'tracker_snapshot_age_seconds',
    help: 'Seconds since the newest snapshot was taken; -1 while there is none',
    registers,
    collect() {
      const newest = Math.max(-1, ...tracker.ledger.store.listSnapshots().map((s) => s.createdAt));
      this.set(newest < 0 ? -1 : Math.max(0, (Date.now() - newest) / 1000));
    },
  });
  new Gauge({
    name: 'tracker_events_since_snapshot',
    help: 'Events folded after the newest snapshot: what a restart replays',
    registers,
    collect() {
      const snapshots = tracker.ledger.store.listSnapshots();
      const covered = Math.max(0, ...snapshots.map((s) => s.eventCount));
      this.set(Math.max(0, tracker.ledger.current.eventCount - covered));
    },
  });
}
