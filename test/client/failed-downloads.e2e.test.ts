/**
 * A download that failed is over: it is not started again at every later login (only
 * one interrupted by logout or quit resumes), and the download_file commands that cannot
 * work are refused at once, not after the download "started": a destination that
 * exists, a file nobody online has. list_files says how many of a file's seeders are online.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ScriptedClient } from '../../src/demo/scripted-client.js';
import { commandResults, runClient } from '../helpers/client-process.js';
import { CLIENT_BIN, Cluster, freePort } from '../helpers/cluster.js';

let cluster: Cluster;
let seeder: ScriptedClient | undefined;

beforeEach(async () => {
  cluster = await Cluster.create(1);
  await cluster.start(1);
});
afterEach(async () => {
  await seeder?.kill('SIGKILL');
  seeder = undefined;
  await cluster.destroy();
});

/** ann shares notes.bin in group g, and bob is a member; ann's client stays up (online) if `online`. */
async function shared(online: boolean): Promise<void> {
  const file = join(cluster.dir, 'notes.bin');
  writeFileSync(file, 'n'.repeat(700 * 1024));
  const commands = ['create_user ann pw', 'login ann pw', 'create_group g', `upload_file ${file} g`];
  if (online) {
    seeder = new ScriptedClient(CLIENT_BIN, `127.0.0.1:${await freePort()}`, cluster.infoFile, ['--state-dir', join(cluster.dir, 'ann')], cluster.dir);
    for (const c of commands) await seeder.must(c);
  }
  // ann's scripted runs all use one address: it is one client, run several times
  const ann = { cwd: cluster.dir, stateDir: join(cluster.dir, 'ann'), port: await freePort() };
  if (!online) expect((await runClient(cluster.infoFile, commands, ann)).code).toBe(0);
  expect((await runClient(cluster.infoFile, ['create_user bob pw', 'login bob pw', 'join_group g'], { cwd: cluster.dir })).code).toBe(0);
  const accept = online ? await seeder!.send('accept_request g bob') : (await runClient(cluster.infoFile, ['login ann pw', 'accept_request g bob'], ann)).results.at(-1)!;
  expect(accept.ok).toBe(true);
}

describe('failed downloads', () => {
  it('one that failed after it started is not started again at the next login', async () => {
    await shared(true);
    const bob = { cwd: cluster.dir, stateDir: join(cluster.dir, 'bob') };
    const into = join(cluster.dir, 'no-such-dir', 'notes.bin'); // its .part cannot be created
    const first = await runClient(cluster.infoFile, ['login bob pw', `download_file g notes.bin ${into}`, 'show_downloads'], bob);
    const failed = first.results.find((r) => r.event === 'download_failed');
    expect(failed, JSON.stringify(first.results)).toBeDefined();
    expect(first.code).toBe(1);

    const later = await runClient(cluster.infoFile, ['login bob pw', 'list_groups'], bob);
    expect(commandResults(later).map((r) => r.ok)).toEqual([true, true]);
    expect(commandResults(later)[0]!.data).toMatchObject({ resumed: 0 });
    expect(later.results.filter((r) => r.event === 'download_failed')).toEqual([]);
    expect(later.code).toBe(0);
  });

  it('a destination that exists is refused by the command itself, and nothing is recorded', async () => {
    await shared(true);
    const bob = { cwd: cluster.dir, stateDir: join(cluster.dir, 'bob') };
    const existing = join(cluster.dir, 'mine.txt');
    writeFileSync(existing, 'keep me');
    const run = await runClient(cluster.infoFile, ['login bob pw', `download_file g notes.bin ${existing}`], bob);
    expect(commandResults(run)[1]!.error).toMatchObject({ code: 'DESTINATION_EXISTS' });
    expect(commandResults(run)[1]!.error!.message).toContain('already exists');
    const later = await runClient(cluster.infoFile, ['login bob pw'], bob);
    expect(commandResults(later)[0]!.data).toMatchObject({ resumed: 0 });
    expect(later.code).toBe(0);
  });

  it('a file whose seeders are all offline: list_files says so, and download_file is refused at once', async () => {
    await shared(false); // ann's client has exited
    const run = await runClient(cluster.infoFile, ['login bob pw', 'list_files g', `download_file g notes.bin ${join(cluster.dir, 'dl.bin')}`], { cwd: cluster.dir, stateDir: join(cluster.dir, 'bob'), timeoutMs: 10_000 });
    const [, list, download] = commandResults(run);
    expect(list!.data).toEqual([expect.objectContaining({ name: 'notes.bin', seeders: 1, seedersOnline: 0 })]);
    expect(download!.error).toMatchObject({ code: 'NO_PEERS_ONLINE' });
    expect(download!.error!.message).toContain('nobody who has notes.bin is online');
    expect(run.code).toBe(1);
  });
});
