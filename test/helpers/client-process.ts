/**
 * Runs the real client binary with --json and a script, and returns one parsed result
 * per command, so tests check each reply the way a script would.
 */
import { spawn } from 'node:child_process';
import { CLIENT_BIN, freePort } from './cluster.js';

export interface JsonResult {
  readonly ok: boolean;
  readonly command?: string;
  readonly data?: unknown;
  readonly error?: { code: string; message: string };
  readonly event?: string;
}

export interface ClientRun {
  readonly code: number | null;
  readonly results: JsonResult[];
  readonly stderr: string;
}

/** `client 127.0.0.1:<port> <infoFile> --json --exec "<commands>"`, bounded in time. */
export async function runClient(infoFile: string, commands: string[], options: { port?: number; cwd?: string; stateDir?: string; timeoutMs?: number; args?: string[]; env?: NodeJS.ProcessEnv } = {}): Promise<ClientRun> {
  const port = options.port ?? (await freePort());
  const args = [CLIENT_BIN, `127.0.0.1:${port}`, infoFile, '--json', '--exec', commands.join('; ')];
  if (options.stateDir) args.push('--state-dir', options.stateDir);
  args.push(...(options.args ?? []));
  const proc = spawn(process.execPath, args, { cwd: options.cwd, env: { ...process.env, ...options.env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  proc.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  proc.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const timer = setTimeout(() => proc.kill('SIGKILL'), options.timeoutMs ?? 20_000);
  const code = await new Promise<number | null>((resolve) => proc.once('exit', (c) => resolve(c)));
  clearTimeout(timer);
  const results = stdout
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as JsonResult);
  return { code, results, stderr };
}

/** The command results only (not background notices). */
export function commandResults(run: ClientRun): JsonResult[] {
  return run.results.filter((r) => r.command !== undefined);
}
