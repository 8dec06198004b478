/**
 * What a client remembers across restarts, in its state dir (one per IP:PORT): the files
 * it shares and the downloads in progress, per user. Written atomically (tmp + rename),
 * so a crash leaves the old record or the new one, never half of one.
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FileManifest } from '../wire/manifest.js';

export interface ShareRecord {
  readonly user: string;
  readonly manifest: FileManifest;
  readonly path: string;
  /** The file's modification time when it was hashed (absent in records of older versions). */
  readonly mtimeMs?: number;
}

export interface DownloadRecord {
  readonly user: string;
  readonly manifest: FileManifest;
  readonly destination: string;
}

interface Saved {
  shares: ShareRecord[];
  downloads: DownloadRecord[];
}

export class ClientState {
  private saved: Saved;
  private readonly file: string;

  /** The dir is made on the first save: a client that never got going leaves nothing behind. */
  constructor(readonly dir: string) {
    this.file = join(dir, 'client-state.json');
    this.saved = load(this.file);
  }

  shares(user: string): ShareRecord[] {
    return this.saved.shares.filter((s) => s.user === user);
  }

  downloads(user: string): DownloadRecord[] {
    return this.saved.downloads.filter((d) => d.user === user);
  }

  addShare(record: ShareRecord): void {
    this.removeShare(record.user, record.manifest.group, record.manifest.name, false);
    this.saved.shares.push(record);
    this.save();
  }

  removeShare(user: string, group: string, name: string, save = true): void {
    this.saved.shares = this.saved.shares.filter((s) => !(s.user === user && s.manifest.group === group && s.manifest.name === name));
    if (save) this.save();
  }

  addDownload(record: DownloadRecord): void {
    this.saved.downloads.push(record);
    this.save();
  }

  removeDownload(user: string, destination: string): void {
    this.saved.downloads = this.saved.downloads.filter((d) => !(d.user === user && d.destination === destination));
    this.save();
  }

  private save(): void {
    mkdirSync(this.dir, { recursive: true });
    const tmp = `${this.file}.tmp`;
    writeFileSync(tmp, JSON.stringify(this.saved, null, 1));
    renameSync(tmp, this.file);
  }
}

function load(file: string): Saved {
  try {
    const saved = JSON.parse(readFileSync(file, 'utf8')) as Partial<Saved>;
    return { shares: saved.shares ?? [], downloads: saved.downloads ?? [] };
  } catch {
    return { shares: [], downloads: [] };
  }
}
