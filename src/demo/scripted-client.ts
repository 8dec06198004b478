/**
 * Drives a real client process through its scripted mode: commands go to its standard
 * input one per line, results come back as --json lines. `send` resolves with the result
 * of that command; background events (download done, tracker switched) are collected.
 * Used by the demo and by end-to-end tests.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';

export interface ClientResult {
  readonly ok: boolean;
  readonly command?: string;
  readonly data?: unknown;
  readonly error?: { code: string; message: string };
  readonly event?: string;
  readonly [key: string]: unknown;
}

export class ScriptedClient {
  readonly events: ClientResult[] = [];
  private readonly waiting: ((r: ClientResult) => void)[] = [];
  private readonly listeners = new Set<(e: ClientResult) => void>();
  private readonly proc: ChildProcess;
  stderr = '';

  constructor(clientBin: string, readonly address: string, infoFile: string, extraArgs: string[] = [], cwd?: string) {
    this.proc = spawn(process.execPath, [clientBin, address, infoFile, '--json', ...extraArgs], { cwd, stdio: ['pipe', 'pipe', 'pipe'] });
    createInterface({ input: this.proc.stdout! }).on('line', (line) => this.receive(line));
    this.proc.stderr!.on('data', (d: Buffer) => (this.stderr += d.toString()));
    this.proc.once('exit', () => {
      for (const w of this.waiting.splice(0)) w({ ok: false, error: { code: 'EXITED', message: `client exited: ${this.stderr.trim()}` } });
    });
  }

  get pid(): number | undefined {
    return this.proc.pid;
  }

  /** Runs one command and resolves with its result (bounded by timeoutMs). */
  send(command: string, timeoutMs = 30_000): Promise<ClientResult> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve({ ok: false, error: { code: 'TIMEOUT', message: `no reply to "${command}" within ${timeoutMs} ms` } }), timeoutMs);
      this.waiting.push((r) => {
        clearTimeout(timer);
        resolve(r);
      });
      this.proc.stdin!.write(`${command}\n`);
    });
  }

  /** Like send, but throws unless the command succeeded. */
  async must(command: string): Promise<unknown> {
    const r = await this.send(command);
    if (!r.ok) throw new Error(`${this.address} "${command}" failed: ${r.error?.message}`);
    return r.data;
  }

  /** Resolves with the first background event of this kind (bounded). */
  waitForEvent(kind: string, timeoutMs = 60_000): Promise<ClientResult> {
    const seen = this.events.find((e) => e.event === kind);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => (this.listeners.delete(listener), reject(new Error(`${this.address}: no ${kind} within ${timeoutMs} ms`))), timeoutMs);
      const listener = (e: ClientResult) => {
        if (e.event !== kind) return;
        clearTimeout(timer);
        this.listeners.delete(listener);
        resolve(e);
      };
      this.listeners.add(listener);
    });
  }

  kill(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    return new Promise((resolve) => {
      if (this.proc.exitCode !== null || this.proc.signalCode !== null) return resolve();
      this.proc.once('exit', () => resolve());
      this.proc.kill(signal);
    });
  }

  private receive(line: string): void {
    let r: ClientResult;
    try {
      r = JSON.parse(line) as ClientResult;
    } catch {
      return;
    }
    if (r.command !== undefined) this.waiting.shift()?.(r);
    else {
      this.events.push(r);
      for (const l of this.listeners) l(r);
    }
  }
}
