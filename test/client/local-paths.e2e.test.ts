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

describe('download destinations and local paths', () => {
  beforeAll(async () => {
    writeFileSync(join(files, 'small.bin'), 'x'.repeat(1000));
    await seeder.must(`upload_file ${join(files, 'small.bin')} g`);
  });

  it('a destination ending in / is a directory: created if missing, the file saved inside it', async () => {
    const into = join(cluster.dir, 'new', 'sub');
    const run = await asBob([`download_file g small.bin ${into}/`]);
    expect(outcomes(run)).toEqual(['ok', 'ok', 'download_done']);
    expect(run.results[1]!.data).toMatchObject({ path: join(into, 'small.bin') });
    expect(readFileSync(join(into, 'small.bin'), 'utf8')).toBe('x'.repeat(1000));
  });

  it('a destination ending in / that cannot be a directory is the command\'s own error, before any download', async () => {
    writeFileSync(join(cluster.dir, 'a-file'), 'in the way\n');
    const run = await asBob([`download_file g small.bin ${join(cluster.dir, 'a-file')}/`, 'show_downloads']);
    expect(outcomes(run)).toEqual(['ok', 'DESTINATION_UNUSABLE', 'ok']);
    expect(run.results[1]!.error!.message).toBe(`cannot create the directory ${join(cluster.dir, 'a-file')}/: ${join(cluster.dir, 'a-file')} is a file`);
    expect(run.results[2]!.data).toEqual([]);
  });

  it('~ and ~/ in paths are the home directory, for download_file and upload_file', async () => {
    const home = join(cluster.dir, 'home-of-bob');
    mkdirSync(join(home, 'Downloads'), { recursive: true });
    writeFileSync(join(home, 'mine.txt'), 'from my home\n');
    const run = await asBob(['download_file g small.bin ~/Downloads', 'download_file g notes..v2.txt ~', 'upload_file ~/mine.txt g'], { HOME: home });
    expect(outcomes(run).filter((o) => o !== 'download_done')).toEqual(['ok', 'ok', 'ok', 'ok']);
    expect(run.code).toBe(0);
    expect(readFileSync(join(home, 'Downloads', 'small.bin'), 'utf8')).toBe('x'.repeat(1000));
    expect(readFileSync(join(home, 'notes..v2.txt'), 'utf8')).toBe('second draft\n');
    expect(run.results[3]!.data).toMatchObject({ name: 'mine.txt' });
  });

  it('upload_file of a directory says it is a directory', async () => {
    const run = await asBob([`upload_file ${files} g`]);
    expect(outcomes(run)).toEqual(['ok', 'IS_A_DIRECTORY']);
    expect(run.results[1]!.error!.message).toBe(`${files} is a directory; upload_file takes a file`);
  });
});
