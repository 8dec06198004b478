/** Prometheus metrics for one tracker (prom-client), served at GET /metrics. */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export class TrackerMetrics {
  readonly registry = new Registry();
  readonly eventsAppended = new Counter({ name: 'tracker_events_appended_total', help: 'Events appended to the log, by type and origin', labelNames: ['type', 'origin'], registers: [this.registry] });
  readonly commands = new Counter({ name: 'tracker_commands_total', help: 'Client requests, by op and outcome', labelNames: ['op', 'outcome'], registers: [this.registry] });
  readonly commandSeconds = new Histogram({
    name: 'tracker_command_seconds',
    help: 'Time from request to reply, by op',
    labelNames: ['op'],
    buckets: [0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.05, 0.1, 0.5, 1],
    registers: [this.registry],
  });
  readonly clientsConnected = new Gauge({ name: 'tracker_clients_connected', help: 'Open client connections', registers: [this.registry] });

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'tracker_' });
  }
}
