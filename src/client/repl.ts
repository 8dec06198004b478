/**
 * Runs commands against a ClientNode, either at an interactive prompt (history, tab
 * completion, notices printed above the prompt without garbling the line being typed)
 * or from a script (stdin that is not a terminal, or --exec "cmd; cmd"): in order, each
 * waiting for its reply; after the last one it waits for running downloads, then exits
 * non-zero if anything failed. --json prints one JSON object per result.
 */
import { createInterface, type Interface } from 'node:readline';
import type { ClientNode, DownloadEntry } from './client-node.js';
import { BY_NAME, COMMANDS, helpText, parseLine, type Result } from './commands.js';
import { painter, rate } from './format.js';

/** How often the interactive prompt's download progress is refreshed. */
export const PROMPT_REFRESH_MS = 1000;
/** The exit code after Ctrl-C twice at the prompt: what a shell shows for SIGINT. */
export const EXIT_INTERRUPTED = 130;

export interface ReplOptions {
  readonly json: boolean;
  readonly color: boolean;
  readonly input: NodeJS.ReadableStream;
  readonly output: NodeJS.WritableStream;
  readonly interactive: boolean;
}

interface Outcome {
  readonly ok: boolean;
  readonly quit?: boolean;
}

export class Repl {
  private failures = 0;
  private rl: Interface | undefined;
  private readonly paint;
  private readonly seen = new Set<string>();
  /** True while a command runs: the prompt is not redrawn under its output. */
  private busy = false;
  /** "no tracker reachable" was said: the next tracker that answers is announced as back. */
  private trackerDown = false;
  /** Ctrl-C at the prompt: 'warned' after the first on an empty line, 'quit' after the second. */
  private interrupt: 'none' | 'warned' | 'quit' = 'none';

  constructor(
    private readonly node: ClientNode,
    private readonly options: ReplOptions,
  ) {
    this.paint = painter(options.color);
    node.on('notice', (text: string) => this.notice(text, { event: 'notice', message: text }));
    node.on('download-done', (e: DownloadEntry) => this.notice(`download complete: [${e.group}] ${e.name} -> ${e.path} (sha1 verified)`, { event: 'download_done', group: e.group, name: e.name, path: e.path }));
    node.on('download-failed', (e: DownloadEntry) => {
      this.failures += 1;
      this.notice(`download failed: [${e.group}] ${e.name}: ${e.error}`, { event: 'download_failed', group: e.group, name: e.name, error: e.error });
    });
    node.tracker.on('switched', (from: { port: number; host: string }, to: { port: number; host: string }, reason: 'gone' | 'catching-up') => {
      if (this.trackerDown) return; // 'up' follows, and says it is back
      const why = reason === 'catching-up' ? 'is catching up with its twin' : 'is gone';
      this.notice(`tracker ${from.host}:${from.port} ${why}; switched to ${to.host}:${to.port}${this.sessionKept()}`, { event: 'tracker_switched', to: `${to.host}:${to.port}`, reason });
    });
    node.tracker.on('down', (why: string) => {
      this.trackerDown = true;
      this.notice(`${why}; retrying in the background`, { event: 'tracker_down', message: why });
    });
    node.tracker.on('up', (at: { port: number; host: string }) => {
      if (!this.trackerDown) return;
      this.trackerDown = false;
      this.notice(`tracker ${at.host}:${at.port} is reachable again; using it${this.sessionKept()}`, { event: 'tracker_back', to: `${at.host}:${at.port}` });
    });
  }

  /** Runs these commands (from --exec) and returns the exit code. */
  async runScript(lines: readonly string[]): Promise<number> {
    for (const line of lines) {
      if ((await this.execute(line)).quit) break;
    }
    return this.finish();
  }

  /** Reads commands from the input until quit or end of input; returns the exit code. */
  async runInput(): Promise<number> {
    const rl = createInterface({
      input: this.options.input,
      output: this.options.interactive ? this.options.output : undefined,
      terminal: this.options.interactive,
      historySize: 500,
      completer: this.options.interactive ? (line: string) => this.complete(line) : undefined,
    });
    this.rl = rl;
    let ticker: NodeJS.Timeout | undefined;
    if (this.options.interactive) {
      const at = this.node.tracker.tracker;
      const link = at ? `using tracker ${at.host}:${at.port}` : 'no tracker reachable yet, retrying';
      this.write(`serving pieces on ${this.node.address}; ${link}; type help for commands\n`);
      rl.setPrompt(this.prompt());
      rl.prompt();
      ticker = setInterval(() => this.refreshPrompt(), PROMPT_REFRESH_MS);
      rl.on('SIGINT', () => this.interrupted(rl));
    }
    for await (const line of rl) {
      this.interrupt = 'none';
      this.busy = true;
      const outcome = await this.execute(line);
      this.busy = false;
      if (outcome.quit) break;
      if (this.options.interactive) {
        rl.setPrompt(this.prompt());
        rl.prompt();
      }
    }
    clearInterval(ticker);
    rl.close();
    this.rl = undefined;
    if (this.interrupt === 'quit') return EXIT_INTERRUPTED;
    return this.options.interactive ? 0 : this.finish();
  }

  /**
   * Ctrl-C at the prompt, as in other REPLs: it clears the line being typed; on an empty
   * line it says how to leave (and what happens to running downloads); a second Ctrl-C
   * right after ends the input, and the client stops the way quit stops it.
   */
  private interrupted(rl: Interface): void {
    if (rl.line !== '') {
      this.interrupt = 'none';
      rl.write(null, { ctrl: true, name: 'e' });
      rl.write(null, { ctrl: true, name: 'u' });
      return;
    }
    if (this.interrupt === 'warned') {
      this.interrupt = 'quit';
      rl.close();
      return;
    }
    this.interrupt = 'warned';
    const running = this.node.showDownloads().filter((d) => d.status === 'downloading').length;
    const downloads = running === 0 ? '' : `; ${running} download${running === 1 ? '' : 's'} running will resume at the next login`;
    this.notice(`(press Ctrl-C again or type quit to exit${downloads})`, { event: 'exit_hint', running });
  }

  /** Runs one line; prints its result or its one-line error. */
  async execute(line: string): Promise<Outcome> {
    const trimmed = line.trim();
    if (trimmed === '' || trimmed.startsWith('#')) return { ok: true };
    const [word, topic] = trimmed.split(/\s+/);
    if (word === 'quit' || word === 'exit') return { ok: true, quit: true };
    try {
      if (word === 'help') {
        this.print(word, { text: helpText(topic), data: { help: helpText(topic) } });
        return { ok: true };
      }
      const { spec, args } = parseLine(trimmed);
      const result = await spec.run(this.node, args, { color: this.options.color });
      this.remember(spec.name, args, result.data);
      this.print(spec.name, result);
      return { ok: true };
    } catch (error) {
      this.failures += 1;
      const code = (error as { code?: string }).code ?? 'ERROR';
      const message = error instanceof Error ? error.message : String(error);
      if (this.options.json) this.write(`${JSON.stringify({ ok: false, command: word, error: { code, message } })}\n`);
      else this.write(`${this.paint('red', 'error:')} ${message}\n`);
      return { ok: false };
    }
  }

  /** After a script: wait for the downloads it started to be over and announced, then report. */
  private async finish(): Promise<number> {
    await Promise.all(this.node.showDownloads().map((d) => d.settled));
    return this.failures === 0 ? 0 : 1;
  }

  private print(command: string, result: Result): void {
    if (this.options.json) this.write(`${JSON.stringify({ ok: true, command, data: result.data })}\n`);
    else this.write(`${result.text}\n`);
  }

  /** After a change of tracker: whether the session came along (a session that ended says so itself). */
  private sessionKept(): string {
    return this.node.loggedInAs ? ` (session kept: still logged in as ${this.node.loggedInAs})` : '';
  }

  /** A line from the background, above the prompt, keeping what the user is typing. */
  private notice(text: string, data: Record<string, unknown>): void {
    if (this.options.json) {
      this.write(`${JSON.stringify(data)}\n`);
      return;
    }
    const rl = this.rl;
    if (rl && this.options.interactive) {
      this.options.output.write(`\r\x1b[K${this.paint('yellow', text)}\n`);
      rl.prompt(true);
    } else {
      this.write(`${text}\n`);
    }
  }

  private write(text: string): void {
    this.options.output.write(text);
  }

  /** user@tracker, and a compact progress of running downloads: "[↓ 2 files 43% 120.5 MB/s]". */
  private prompt(): string {
    const who = this.node.loggedInAs ?? 'guest';
    const at = this.node.tracker.tracker;
    let progress = '';
    const running = this.node.showDownloads().filter((d) => d.status === 'downloading');
    if (running.length > 0) {
      let done = 0;
      let total = 0;
      let speed = 0;
      for (const d of running) {
        const p = this.node.progress(d);
        done += p.piecesDone;
        total += p.pieceCount;
        speed += p.bytesPerSecond;
      }
      const what = running.length === 1 ? running[0]!.name : `${running.length} files`;
      progress = this.paint('cyan', ` [↓ ${what} ${total === 0 ? 0 : Math.floor((100 * done) / total)}% ${rate(speed)}]`);
    }
    return `${this.paint('green', who)}${this.paint('gray', at ? `@${at.host}:${at.port}` : '@offline')}${progress}> `;
  }

  /** Redraws the prompt in place (keeping the line being typed) when its text changed. */
  private refreshPrompt(): void {
    const rl = this.rl;
    if (!rl || this.busy) return;
    const next = this.prompt();
    if (next === rl.getPrompt()) return;
    rl.setPrompt(next);
    rl.prompt(true);
  }

  /** Learns group and file names from results, for tab completion. */
  private remember(command: string, args: string[], data: unknown): void {
    for (const a of args) this.seen.add(a);
    if (Array.isArray(data)) {
      for (const row of data) {
        const r = row as { group?: string; name?: string };
        if (typeof r.group === 'string') this.seen.add(r.group);
        if (typeof r.name === 'string') this.seen.add(r.name);
      }
    }
    void command;
  }

  private complete(line: string): [string[], string] {
    const words = line.split(/\s+/);
    const current = words[words.length - 1] ?? '';
    const pool = words.length <= 1 ? [...BY_NAME.keys(), 'help', 'quit'] : [...this.seen, ...(words[0] === 'help' ? COMMANDS.map((c) => c.name) : [])];
    const hits = pool.filter((w) => w.startsWith(current)).sort();
    return [hits, current];
  }
}
