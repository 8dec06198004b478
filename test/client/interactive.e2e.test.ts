/**
 * The real interactive client in a pseudo-terminal (tmux): what a person sees through
 * login, upload and download, and that the prompt stays usable while a download runs,
 * with progress redrawn in the prompt without garbling what is being typed.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ScriptedClient } from '../../src/demo/scripted-client.js';
import { CLIENT_BIN, Cluster, freePort, waitFor } from '../helpers/cluster.js';

const SOCKET = `p2p-test-${process.pid}`;
const SESSION = 'client';
let cluster: Cluster;
let seeder: ScriptedClient;

function tmux(...args: string[]): string {
  return execFileSync('tmux', ['-L', SOCKET, ...args], { encoding: 'utf8' });
}
const screen = (session = SESSION) => tmux('capture-pane', '-p', '-t', session);
const type = (text: string, session = SESSION) => tmux('send-keys', '-t', session, '-l', text);
const enter = (session = SESSION) => tmux('send-keys', '-t', session, 'Enter');
const lastLine = (session = SESSION) => screen(session).trimEnd().split('\n').at(-1)!;
async function untilScreen(what: string, pattern: RegExp, timeoutMs = 20_000, session = SESSION): Promise<void> {
  try {
    await waitFor(what, () => (pattern.test(screen(session)) ? true : undefined), timeoutMs, 100);
  } catch (error) {
    throw new Error(`${(error as Error).message}; the screen shows:\n${screen(session)}`);
  }
}
/** Runs the real client in a new tmux session, which prints its exit code when it ends and stays to be read. */
async function startClient(session: string, args: string[] = []): Promise<void> {
  const command = [process.execPath, CLIENT_BIN, `127.0.0.1:${await freePort()}`, cluster.infoFile, '--state-dir', join(cluster.dir, `s-${session}`), ...args].join(' ');
  tmux('new-session', '-d', '-s', session, '-x', '150', '-y', '40', '-c', cluster.dir, `${command}; echo "client exited with $?"`, ';', 'set-option', '-t', session, 'remain-on-exit', 'on');
}
/** The client's exit code once it has exited, else undefined. */
function exitCode(session: string): number | undefined {
  const code = /client exited with (\d+)/.exec(screen(session))?.[1];
  return code === undefined ? undefined : Number(code);
}

beforeAll(async () => {
  cluster = await Cluster.create(2);
  await cluster.start(1);
  await cluster.start(2);
  writeFileSync(join(cluster.dir, 'movie.bin'), randomBytes(24 * 1024 * 1024));
  writeFileSync(join(cluster.dir, 'notes.txt'), 'meeting notes\n');
  mkdirSync(join(cluster.dir, 'downloads'));
  seeder = new ScriptedClient(CLIENT_BIN, `127.0.0.1:${await freePort()}`, cluster.infoFile, ['--max-upload-rate', '3M', '--state-dir', join(cluster.dir, 's-alice')], cluster.dir);
  await seeder.must('create_user alice pw');
  await seeder.must('login alice pw');
  await seeder.must('create_group movies');
  await seeder.must(`upload_file ${join(cluster.dir, 'movie.bin')} movies`);
  const port = await freePort();
  const command = `${process.execPath} ${CLIENT_BIN} 127.0.0.1:${port} ${cluster.infoFile} --state-dir ${join(cluster.dir, 's-bob')}`;
  tmux('new-session', '-d', '-s', SESSION, '-x', '150', '-y', '40', '-c', cluster.dir, command);
});

afterAll(async () => {
  try {
    tmux('kill-server');
  } catch {
    // already gone
  }
  await seeder?.kill('SIGKILL');
  await cluster?.destroy();
});

describe('the interactive client in a terminal', () => {
  it('greets, logs in, uploads, and keeps the prompt usable while a download runs', async () => {
    await untilScreen('the greeting and prompt', /type help for commands[\s\S]*guest@127\.0\.0\.1:\d+>/);

    type('create_user bob pw');
    enter();
    await untilScreen('create_user reply', /created user bob/);
    type('login bob pw');
    enter();
    await untilScreen('the logged-in prompt', /bob@127\.0\.0\.1:\d+> ?$/m);
    type('join_group movies');
    enter();
    await untilScreen('join reply', /asked to join movies/);
    await seeder.must('accept_request movies bob');

    type('upload_file notes.txt movies');
    enter();
    await untilScreen('upload reply', /sharing notes\.txt \(14 B, 1 piece, sha1 /);
    type('list_files movies');
    enter();
    await untilScreen('the files table', /NAME\s+SIZE\s+SEEDERS\s+LEECHERS\s+SHA1[\s\S]*movie\.bin\s+24\.0 MiB\s+1[\s\S]*notes\.txt\s+14 B\s+1/);

    type('download_file movies movie.bin downloads');
    enter();
    await untilScreen('download started', /downloading movie\.bin to .*downloads\/movie\.bin/);
    await untilScreen('progress in the prompt', /\[↓ movie\.bin \d+% [\d.]+ MB\/s\]> ?$/m, 10_000);

    // The prompt answers while the download runs...
    type('list_groups');
    enter();
    await untilScreen('the groups table mid-download', /GROUP\s+OWNER\s+MEMBERS\s+YOU[\s\S]*movies\s+alice\s+2\s+member/);
    // ...and half-typed input survives the prompt's progress redraws.
    type('show_downl');
    await new Promise((r) => setTimeout(r, 2500));
    expect(lastLine()).toMatch(/\]> show_downl$/);
    type('oads');
    enter();
    await untilScreen('show_downloads line', /\[D\] \[movies\] movie\.bin\s+[\d.]+%\s+[\d.]+ MB\/s\s+ETA \S+\s+\d+ peers?/);

    await untilScreen('the completion notice', /download complete: \[movies\] movie\.bin -> .*movie\.bin \(sha1 verified\)/, 30_000);
    type('show_downloads');
    enter();
    await untilScreen('the completed line', /\[C\] \[movies\] movie\.bin/);
    type('frobnicate');
    enter();
    await untilScreen('a one-line error', /error: unknown command frobnicate; type help for the list/);
    type('quit');
    enter();
    await waitFor('the client to exit', () => {
      try {
        tmux('has-session', '-t', SESSION);
        return undefined;
      } catch {
        return true;
      }
    }, 10_000);
  });
});

describe('Ctrl-C in the interactive client', () => {
  it('clears the line being typed, warns on an empty line, and exits 130 on a second Ctrl-C', async () => {
    const session = 'ctrl-c';
    await startClient(session, ['--max-download-rate', '1M']);
    const run = async (command: string, reply: RegExp) => {
      type(command, session);
      enter(session);
      await untilScreen(`the reply to ${command}`, reply, 20_000, session);
    };
    await untilScreen('the greeting', /type help for commands/, 20_000, session);
    await run('create_user carol pw', /created user carol/);
    await run('login carol pw', /logged in as carol/);
    await run('join_group movies', /asked to join movies/);
    await seeder.must('accept_request movies carol');
    await run('download_file movies movie.bin carol-movie.bin', /downloading movie\.bin to /);
    await untilScreen('progress in the prompt', /\[↓ movie\.bin \d+% /, 10_000, session);

    // Half-typed, Ctrl-C: the line is cleared and the client stays.
    type('list_gro', session);
    await waitFor('the typed text', () => (lastLine(session).endsWith('> list_gro') ? true : undefined), 5_000, 100);
    tmux('send-keys', '-t', session, 'C-c');
    await waitFor('the line to be cleared', () => (/\]>$/.test(lastLine(session)) ? true : undefined), 5_000, 100).catch((e: Error) => {
      throw new Error(`${e.message}; the screen shows:\n${screen(session)}`);
    });
    expect(exitCode(session)).toBeUndefined();
    await run('list_groups', /GROUP\s+OWNER\s+MEMBERS\s+YOU[\s\S]*movies\s+alice\s+\d+\s+member/);

    // Ctrl-C on an empty line warns about the running download; a second one exits, 130.
    tmux('send-keys', '-t', session, 'C-c');
    await untilScreen('the exit hint', /\(press Ctrl-C again or type quit to exit; 1 download running will resume at the next login\)/, 5_000, session);
    expect(exitCode(session)).toBeUndefined();
    tmux('send-keys', '-t', session, 'C-c');
    const code = await waitFor('the client to exit', () => exitCode(session), 10_000, 100).catch((e: Error) => {
      throw new Error(`${e.message}; the screen shows:\n${screen(session)}`);
    });
    expect(code).toBe(130);
  });
});
