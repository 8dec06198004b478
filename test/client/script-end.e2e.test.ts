/**
 * A script (--exec) that starts a download ends only once the download is over and
 * what follows it is done: the file is registered with the tracker as seeded here and
 * download_done is printed. Behind a slow link (a proxy that delays the tracker's
 * traffic) the registration takes longer than the script's check for finished downloads.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ScriptedClient } from '../../src/demo/scripted-client.js';
import { runClient } from '../helpers/client-process.js';
import { CLIENT_BIN, Cluster, freePort } from '../helpers/cluster.js';
import { TcpProxy } from '../helpers/tcp-proxy.js';

/** Each way: a round trip to the tracker takes at least twice this. */
const LINK_DELAY_MS = 150;

let cluster: Cluster;
let seeder: ScriptedClient;
let slow: TcpProxy;
let slowInfoFile: string;

beforeAll(async () => {
  cluster = await Cluster.create(1);
  const tracker = await cluster.start(1);
  slow = await TcpProxy.start(tracker.port, '127.0.0.1', LINK_DELAY_MS);
  slowInfoFile = join(cluster.dir, 'slow_tracker_info.txt');
  writeFileSync(slowInfoFile, `127.0.0.1:${slow.port}\n`);
  writeFileSync(join(cluster.dir, 'small.bin'), 'x'.repeat(1000));
  seeder = new ScriptedClient(CLIENT_BIN, `127.0.0.1:${await freePort()}`, cluster.infoFile, ['--state-dir', join(cluster.dir, 's-alice')], cluster.dir);
  for (const line of ['create_user alice pw', 'login alice pw', 'create_group g', `upload_file ${join(cluster.dir, 'small.bin')} g`]) await seeder.must(line);
  const bob = await runClient(cluster.infoFile, ['create_user bob pw', 'login bob pw', 'join_group g'], { cwd: cluster.dir });
  expect(bob.code).toBe(0);
  await seeder.must('accept_request g bob');
});

afterAll(async () => {
  await seeder?.kill('SIGKILL');
  await slow?.close();
  await cluster?.destroy();
});

it('a script that downloads ends after the file is registered as seeded here and download_done is printed', async () => {
  const into = join(cluster.dir, 'dl');
  mkdirSync(into);
  const run = await runClient(slowInfoFile, ['login bob pw', `download_file g small.bin ${into}`], { cwd: cluster.dir, timeoutMs: 30_000 });
  expect(run.results.map((r) => r.event ?? (r.ok ? 'ok' : r.error!.code)), JSON.stringify(run.results)).toEqual(['ok', 'ok', 'download_done']);
  expect(run.code).toBe(0);
  expect(readFileSync(join(into, 'small.bin'), 'utf8')).toBe('x'.repeat(1000));
  const files = (await seeder.must('list_files g')) as { name: string; seeders: number }[];
  expect(files.find((f) => f.name === 'small.bin')?.seeders).toBe(2);
});
