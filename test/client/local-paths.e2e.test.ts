/**
 * The paths and names a user gives the real client: whatever upload_file accepts can be
 * downloaded (one name rule on both sides), and download destinations mean what they say.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ScriptedClient } from '../../src/demo/scripted-client.js';
import { CLIENT_BIN, Cluster, freePort } from '../helpers/cluster.js';
import { runClient, type ClientRun } from '../helpers/client-process.js';

let cluster: Cluster;
let seeder: ScriptedClient;
let files: string;

beforeAll(async () => {
  cluster = await Cluster.create(1);
  await cluster.start(1);
  files = join(cluster.dir, 'alice-files');
  mkdirSync(files);
  writeFileSync(join(files, 'notes..v2.txt'), 'second draft\n');
  writeFileSync(join(files, 'C:notes.txt'), 'a drive letter on Windows\n');
  seeder = new ScriptedClient(CLIENT_BIN, `127.0.0.1:${await freePort()}`, cluster.infoFile, ['--state-dir', join(cluster.dir, 's-alice')], cluster.dir);
  for (const line of ['create_user alice pw', 'login alice pw', 'create_group g']) await seeder.must(line);
  const bob = await runClient(cluster.infoFile, ['create_user bob pw', 'login bob pw', 'join_group g'], { cwd: cluster.dir });
  expect(bob.code).toBe(0);
  await seeder.must('accept_request g bob');
});

afterAll(async () => {
  await seeder?.kill('SIGKILL');
  await cluster?.destroy();
});

/** bob, on a fresh client (nothing left over from other tests), runs these commands after login. */
function asBob(commands: string[], env?: NodeJS.ProcessEnv): Promise<ClientRun> {
  return runClient(cluster.infoFile, ['login bob pw', ...commands], { cwd: cluster.dir, env });
}

/** Each command's outcome (ok or its error code) and each background event, in order. */
const outcomes = (run: ClientRun): string[] => run.results.map((r) => r.event ?? (r.ok ? 'ok' : r.error!.code));

describe('file names', () => {
  it('a file whose name contains ".." is shared and downloaded like any other', async () => {
    await seeder.must(`upload_file ${join(files, 'notes..v2.txt')} g`);
    const into = join(cluster.dir, 'dl-dots');
    mkdirSync(into);
    const run = await asBob([`download_file g notes..v2.txt ${into}`]);
    expect(outcomes(run)).toEqual(['ok', 'ok', 'download_done']);
    expect(run.code).toBe(0);
    expect(readFileSync(join(into, 'notes..v2.txt'), 'utf8')).toBe('second draft\n');
  });

  it('upload_file refuses, before sharing it, a name that no one could download', async () => {
    const r = await seeder.send(`upload_file "${join(files, 'C:notes.txt')}" g`);
    expect(r.ok).toBe(false);
    expect(r.error?.code).toBe('UNSAFE_NAME');
    expect(r.error?.message).toContain('C:notes.txt');
    const listed = (await seeder.must('list_files g')) as { name: string }[];
    expect(listed.map((f) => f.name)).not.toContain('C:notes.txt');
  });
});
