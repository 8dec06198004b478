/**
 * tracker_info.txt: one tracker per line, `IP:PORT` or `IP PORT`. Blank lines and lines
 * starting with '#' are ignored. Line N (counting trackers from 1) is tracker N.
 */
import { readFileSync } from 'node:fs';

export interface TrackerAddress {
  readonly id: number;
  readonly host: string;
  readonly port: number;
}

export function parseTrackerInfo(text: string, source = 'tracker_info.txt'): TrackerAddress[] {
  const trackers: TrackerAddress[] = [];
  for (const [i, raw] of text.split(/\r?\n/).entries()) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const address = parseHostPort(line.replace(/\s+/, ':'));
    if (!address) throw new Error(`${source} line ${i + 1}: expected IP:PORT or "IP PORT", got "${line}"`);
    trackers.push({ id: trackers.length + 1, ...address });
  }
  if (trackers.length === 0) throw new Error(`${source} lists no trackers`);
  return trackers;
}

export function readTrackerInfo(path: string): TrackerAddress[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new Error(`cannot read ${path}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
  }
  return parseTrackerInfo(text, path);
}

/** "host:port" with a port from 1 to 65535, or undefined. */
export function parseHostPort(text: string): { host: string; port: number } | undefined {
  const m = /^([A-Za-z0-9.\-]+|\[[0-9a-fA-F:]+\]):(\d{1,5})$/.exec(text.trim());
  if (!m) return undefined;
  const port = Number(m[2]);
  if (port < 1 || port > 65535) return undefined;
  return { host: m[1]!, port };
}
