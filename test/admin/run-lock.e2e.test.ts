/**
 * One tracker per data dir: a second tracker on the same log refuses to start, and the
 * lock dies with its holder (kill -9 included), so no stale lock ever blocks a restart,
 * a restore or an offline snapshot.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cluster, freePort } from '../helpers/cluster.js';
import { createUser, trackerCli, trackerJson } from './admin-cli.js';

let cluster: Cluster;
let dataDir: string;

beforeAll(async () => {
  cluster = await Cluster.create(1);
  await cluster.start(1);
  dataDir = cluster.trackers[0]!.dataDir;
  await createUser(cluster.infoFile, 'alice', 'alice-secret-pw');
});
afterAll(async () => cluster?.destroy());

describe('the run lock', () => {
  it('stops a second tracker from opening the same log', async () => {
    const otherInfo = join(cluster.dir, 'other_tracker_info.txt');
    writeFileSync(otherInfo, `127.0.0.1:${await freePort()}\n`);
    const run = await trackerCli([otherInfo, '1', '--data-dir', dataDir, '--cluster-secret-file', cluster.secretFile]);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/a tracker is running on .*tracker\.lock/);
    expect((await cluster.health(1)).events).toBe(1); // the first one serves on, unharmed
  });

  it('dies with the tracker on kill -9: snapshot works at once, and the tracker restarts', async () => {
    await cluster.kill(1, 'SIGKILL');
    const s = await trackerJson<{ taken: boolean; eventCount: number }>(['snapshot', '--data-dir', dataDir]);
    expect(s).toMatchObject({ taken: true, eventCount: 1 });
    const verified = await trackerCli(['verify', '--data-dir', dataDir]); // one of each, in words
    expect(verified.stdout).toMatch(/^ok .*events\.db: 1 event and 1 snapshot verified in /);
    await cluster.start(1);
    expect((await cluster.health(1)).events).toBe(1);
  });
});
