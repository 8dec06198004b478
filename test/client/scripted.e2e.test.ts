/**
 * The client's non-interactive modes, for scripts: --exec, commands piped on stdin (each
 * waiting for its reply, exit after the last), --json, and the exit code.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLIENT_BIN, Cluster, freePort } from '../helpers/cluster.js';
import { runClient } from '../helpers/client-process.js';

let cluster: Cluster;

beforeAll(async () => {
  cluster = await Cluster.create(1);
  await cluster.start(1);
});
afterAll(async () => cluster?.destroy());

async function piped(input: string, args: string[] = []): Promise<{ code: number | null; stdout: string }> {
  const proc = spawn(process.execPath, [CLIENT_BIN, `127.0.0.1:${await freePort()}`, cluster.infoFile, ...args], { cwd: cluster.dir, stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  proc.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  proc.stdin.end(input);
  const timer = setTimeout(() => proc.kill('SIGKILL'), 20_000);
  const code = await new Promise<number | null>((r) => proc.once('exit', r));
  clearTimeout(timer);
  return { code, stdout };
}

describe('scripted client', () => {
  it('--exec runs commands in order and exits 0 when all succeed', async () => {
    const run = await runClient(cluster.infoFile, ['create_user ann pw', 'login ann pw', 'create_group books', 'list_groups'], { cwd: cluster.dir });
    expect(run.code).toBe(0);
    expect(run.results.map((r) => r.command)).toEqual(['create_user', 'login', 'create_group', 'list_groups']);
    expect(run.results[3]!.data).toEqual([{ group: 'books', owner: 'ann', members: 1, role: 'owner' }]);
  });

  it('--json reports a failure as ok:false with a code, and the exit code is non-zero', async () => {
    const run = await runClient(cluster.infoFile, ['login ann wrong', 'login ann pw', 'create_group books'], { cwd: cluster.dir });
    expect(run.code).toBe(1);
    expect(run.results.map((r) => (r.ok ? 'ok' : r.error!.code))).toEqual(['WRONG_PASSWORD', 'ok', 'GROUP_EXISTS']);
  });

  it('reads commands from piped stdin, one per line, each waiting for its reply', async () => {
    const { code, stdout } = await piped('# comments and blank lines are skipped\n\nlogin ann pw\nlist_groups\nlist_requests books\n');
    expect(code).toBe(0);
    expect(stdout).toMatch(/^logged in as ann\nGROUP\s+OWNER\s+MEMBERS\s+YOU\nbooks\s+ann\s+1\s+owner\nno pending requests for books\n$/);
  });

  it('piped stdin with --json: one object per line; quit stops early', async () => {
    const { code, stdout } = await piped('login ann pw\nquit\nlist_groups\n', ['--json']);
    expect(code).toBe(0);
    const lines = stdout.trim().split('\n').map((l) => JSON.parse(l) as { ok: boolean; command: string });
    expect(lines).toEqual([{ ok: true, command: 'login', data: { user: 'ann', reshared: 0, resumed: 0 } }]);
  });

  it('--help explains the invocation and the options', async () => {
    const { stdout } = await piped('', ['--help']);
    expect(stdout).toContain('Usage: client [options] <ip:port> <tracker_info>');
    expect(stdout).toContain('--max-upload-rate');
    expect(stdout).toContain('--exec');
  });
});

describe('unterminated quotes', () => {
  it('--exec with a quote left open runs nothing and says why', async () => {
    const run = await runClient(cluster.infoFile, ['create_user quinn pw', 'upload_file "/tmp/my file.bin movies', 'create_group quinns'], { cwd: cluster.dir });
    expect(run.code).toBe(1);
    expect(run.results).toEqual([]);
    expect(run.stderr).toMatch(/^error: unterminated " in --exec/);
    const again = await runClient(cluster.infoFile, ['create_user quinn pw'], { cwd: cluster.dir });
    expect(again.results.map((r) => r.ok)).toEqual([true]); // the first run created nobody
  });

  it('a piped line with a quote left open is that line\'s error; the next lines run', async () => {
    const { code, stdout } = await piped('login ann pw\nupload_file "my file.bin books\nlist_requests books\n');
    expect(code).toBe(1);
    expect(stdout).toMatch(/^logged in as ann\nerror: unterminated " in this command; close it, or quote the argument whole\nno pending requests for books\n$/);
  });
});

describe('a client that cannot listen', () => {
  it('exits with the reason, and leaves no state dir behind', async () => {
    const busy = createServer();
    await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = busy.address() as { port: number };
      const stateDir = join(cluster.dir, 'never-made');
      const run = await runClient(cluster.infoFile, ['list_groups'], { cwd: cluster.dir, port, stateDir });
      expect(run.code).not.toBe(0);
      expect(run.stderr).toContain('EADDRINUSE');
      expect(existsSync(stateDir)).toBe(false);
    } finally {
      busy.close();
    }
  });
});
