/**
 * For e2e tests of the client process: a one-tracker cluster per test, and real client
 * processes on it, each named one with its own state dir (the same name again is the
 * same client restarted), all SIGKILLed and the cluster destroyed after each test.
 */
import { join } from 'node:path';
import { afterEach, beforeEach } from 'vitest';
import { ScriptedClient } from '../../src/demo/scripted-client.js';
import { CLIENT_BIN, Cluster } from './cluster.js';

export interface OneTrackerClients {
  readonly cluster: Cluster;
  client(name: string, port: number, args?: string[]): ScriptedClient;
}

export function oneTrackerClients(): OneTrackerClients {
  let cluster: Cluster | undefined;
  const clients: ScriptedClient[] = [];
  beforeEach(async () => {
    cluster = await Cluster.create(1);
    await cluster.start(1);
  });
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.kill('SIGKILL')));
    await cluster?.destroy();
    cluster = undefined;
  });
  return {
    get cluster(): Cluster {
      if (!cluster) throw new Error('the cluster exists only inside a test');
      return cluster;
    },
    client(name, port, args = []) {
      const c = new ScriptedClient(CLIENT_BIN, `127.0.0.1:${port}`, this.cluster.infoFile, ['--state-dir', join(this.cluster.dir, `state-${name}`), ...args], this.cluster.dir);
      clients.push(c);
      return c;
    },
  };
}
