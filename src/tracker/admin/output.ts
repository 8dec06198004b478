/**
 * How admin commands print: aligned tables and key/value blocks for people, JSON for
 * machines, and a line writer that respects stdout's backpressure so a million-line
 * listing through a pipe neither floods memory nor loses its tail.
 */
import { hlcToMs } from '../../events/hlc.js';

export type Cell = string | number | boolean | null | undefined;

/** Columns separated by two spaces; numbers right-aligned, everything else left. */
export function table(headers: readonly string[], rows: readonly (readonly Cell[])[]): string {
  const text = rows.map((row) => row.map(cellText));
  const widths = headers.map((h, i) => Math.max(h.length, ...text.map((r) => r[i]!.length)));
  const numeric = headers.map((_, i) => rows.length > 0 && rows.every((r) => typeof r[i] === 'number'));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (numeric[i] ? c.padStart(widths[i]!) : i === cells.length - 1 ? c : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(headers), ...text.map(line)].join('\n');
}

/** "key   value" lines with the values aligned. */
export function keyValues(pairs: readonly (readonly [string, Cell])[]): string {
  const width = Math.max(0, ...pairs.map(([k]) => k.length));
  return pairs.map(([k, v]) => `${k.padEnd(width)}  ${cellText(v)}`.trimEnd()).join('\n');
}

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

export function isoOfMs(ms: number): string {
  return new Date(ms).toISOString();
}

export function isoOfHlc(hlc: number): string {
  return isoOfMs(hlcToMs(hlc));
}

/** "3m ago", "2h ago", "5d ago". */
export function ago(ms: number, now = Date.now()): string {
  const s = Math.max(0, Math.round((now - ms) / 1000));
  if (s < 120) return `${s}s ago`;
  if (s < 7200) return `${Math.round(s / 60)}m ago`;
  if (s < 172_800) return `${Math.round(s / 3600)}h ago`;
  return `${Math.round(s / 86_400)}d ago`;
}

export function bytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u += 1;
  }
  return u === 0 ? `${n} B` : `${v.toFixed(1)} ${units[u]}`;
}

function cellText(c: Cell): string {
  if (c === null || c === undefined) return '-';
  if (typeof c === 'boolean') return c ? 'yes' : 'no';
  return String(c);
}

/** Buffered lines to stdout; `line` resolves at once unless stdout asked to wait. */
export class LineWriter {
  static readonly CHUNK = 64 * 1024;
  private buffer = '';

  line(text: string): Promise<void> | undefined {
    this.buffer += `${text}\n`;
    return this.buffer.length >= LineWriter.CHUNK ? this.flush() : undefined;
  }

  flush(): Promise<void> | undefined {
    if (this.buffer === '') return undefined;
    const chunk = this.buffer;
    this.buffer = '';
    if (process.stdout.write(chunk)) return undefined;
    return new Promise((resolve) => process.stdout.once('drain', () => resolve()));
  }
}
