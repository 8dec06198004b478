/**
 * The local cluster (tests, demo, benchmarks) starts trackers and clients on ports it
 * picked beforehand. It picks them below the kernel's ephemeral range, so that no
 * outgoing connection, and no `listen(0)`, can take one before the process that was
 * given it binds it (a full test run once failed with EADDRINUSE that way).
 */
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { describe, expect, test } from 'vitest';
import { freePort, listeningPortRange } from '../../src/demo/local-cluster.js';

describe('freePort', () => {
  test('picks ports below the ephemeral range, which the kernel gives outgoing connections', async () => {
    const ephemeralFrom = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    const { from, to } = listeningPortRange();
    expect(to).toBe(ephemeralFrom - 1);
    expect(from).toBeGreaterThanOrEqual(1024);
    const ports = await Promise.all(Array.from({ length: 20 }, () => freePort()));
    for (const port of ports) {
      expect(port).toBeGreaterThanOrEqual(from);
      expect(port).toBeLessThan(ephemeralFrom);
    }
  });

  test('picks a port that can be listened on', async () => {
    const port = await freePort();
    const server = createServer();
    await new Promise<void>((resolve, reject) => (server.once('error', reject), server.listen(port, '127.0.0.1', () => resolve())));
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
});
