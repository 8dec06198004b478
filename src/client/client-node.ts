/**
 * One running client: its link to the trackers, the peer server on its IP:PORT, the
 * files it shares and the downloads it runs. Commands from the REPL land here. It
 * promises: a shared file is announced to the tracker and served to ticket holders; a
 * download runs in the background, joins the swarm with its first piece, becomes a
 * seeder when verified, and resumes after a restart once the same user logs in again.
 */
import { EventEmitter } from 'node:events';
import { stat } from 'node:fs/promises';
import type { KeyObject } from 'node:crypto';
import type { FileRow, GroupRow } from '../events/queries.js';
import type { FileManifest, SwarmPeer } from '../wire/manifest.js';
import { decodePublicKey } from '../wire/ticket.js';
import type { TrackerAddress } from '../wire/tracker-info.js';
import { ClientState } from './client-state.js';
import { Download, DownloadError, type DownloadProgress } from './downloader.js';
import { hashFile } from './file-hasher.js';
import { downloadPath, fileToShare } from './local-paths.js';
import { PeerServer } from './peer-server.js';
import { TrackerConnection, TrackerError } from './tracker-connection.js';

/** Why a tracker refuses a share that asking again will not change (unlike a tracker that is away). */
const REFUSED_FOR_GOOD = new Set(['NOT_MEMBER', 'NO_SUCH_GROUP', 'FILE_EXISTS']);

export interface ClientOptions {
  readonly host: string;
  readonly port: number;
  readonly trackers: readonly TrackerAddress[];
  readonly stateDir: string;
  readonly maxUploadRate?: number;
  readonly maxDownloadRate?: number;
  /** Peers served at once (concurrent uploads); default the peer server's MAX_CONNECTIONS. */
  readonly maxUploadConnections?: number;
}

export interface DownloadInfo {
  readonly manifest: FileManifest;
  readonly peers: SwarmPeer[];
  readonly ticket: string;
  readonly publicKeys: string[];
}

export interface ShareRow {
  readonly group: string;
  readonly name: string;
  readonly piecesServed: number;
  readonly bytesServed: number;
  readonly connections: number;
}

export type DownloadStatus = 'downloading' | 'complete' | 'failed';

export interface DownloadEntry {
  readonly group: string;
  readonly name: string;
  readonly path: string;
  status: DownloadStatus;
  error?: string;
  readonly startedAt: number;
  finishedAt?: number;
  readonly download: Download;
  /** Resolves once the download is over and what follows is done: registered as seeded here, 'download-done' or 'download-failed' emitted. */
  readonly settled: Promise<void>;
}

export class ClientNode extends EventEmitter {
  readonly tracker: TrackerConnection;
  readonly peers: PeerServer;
  readonly state: ClientState;
  private keys: KeyObject[] = [];
  private user: string | undefined;
  private readonly downloads: DownloadEntry[] = [];

  constructor(readonly options: ClientOptions) {
    super();
    this.tracker = new TrackerConnection(options.trackers);
    this.peers = new PeerServer({ host: options.host, port: options.port, publicKeys: () => this.keys, maxUploadRate: options.maxUploadRate, maxConnections: options.maxUploadConnections });
    this.state = new ClientState(options.stateDir);
    this.tracker.on('up', () => this.learnKeys());
    this.peers.on('source-changed', (manifest: FileManifest, path: string) => void this.sourceChanged(manifest, path));
    this.tracker.on('session-expired', () => {
      this.user = undefined;
      this.emit('notice', 'your session has ended; login again');
    });
  }

  get address(): string {
    return `${this.options.host}:${this.options.port}`;
  }

  get loggedInAs(): string | undefined {
    return this.user;
  }

  /** Starts the peer server and connects to a tracker. */
  async start(): Promise<void> {
    await this.peers.listen();
    // With no tracker up, the link keeps retrying and says so once ('down').
    await this.tracker.connect().catch(() => undefined);
  }

  async stop(): Promise<void> {
    for (const d of this.downloads) if (d.status === 'downloading') d.download.abort();
    this.tracker.close();
    await this.peers.close();
  }

  async createUser(user: string, password: string): Promise<void> {
    await this.tracker.request('create_user', { user, password });
  }

  /** Logs in, then re-announces this user's shares and resumes their downloads. */
  async login(user: string, password: string): Promise<{ reshared: number; resumed: number }> {
    await this.tracker.request('login', { user, password, peer: this.address });
    this.user = user;
    return this.restore(user);
  }

  async logout(): Promise<void> {
    await this.tracker.request('logout', {});
    for (const d of this.downloads) if (d.status === 'downloading') d.download.abort();
    for (const s of this.state.shares(this.user ?? '')) this.peers.unshare(s.manifest.sha1);
    this.user = undefined;
  }

  createGroup(group: string): Promise<unknown> {
    return this.tracker.request('create_group', { group });
  }
  joinGroup(group: string): Promise<unknown> {
    return this.tracker.request('join_group', { group });
  }
  async leaveGroup(group: string): Promise<void> {
    await this.tracker.request('leave_group', { group });
    for (const s of this.state.shares(this.requireUser())) if (s.manifest.group === group) this.forgetShare(s.manifest);
  }
  listRequests(group: string): Promise<string[]> {
    return this.tracker.request('list_requests', { group }) as Promise<string[]>;
  }
  acceptRequest(group: string, user: string): Promise<unknown> {
    return this.tracker.request('accept_request', { group, user });
  }
  rejectRequest(group: string, user: string): Promise<unknown> {
    return this.tracker.request('reject_request', { group, user });
  }
  listGroups(): Promise<GroupRow[]> {
    return this.tracker.request('list_groups', {}) as Promise<GroupRow[]>;
  }
  listFiles(group: string): Promise<FileRow[]> {
    return this.tracker.request('list_files', { group }) as Promise<FileRow[]>;
  }

  /** Hashes the file, registers it in the group with this client as seeder, serves it. */
  async uploadFile(path: string, group: string): Promise<FileManifest> {
    const user = this.requireUser();
    const { path: full, name, mtimeMs } = await fileToShare(path);
    const hashes = await hashFile(full);
    const manifest: FileManifest = { group, name, ...hashes };
    await this.announce(manifest);
    await this.peers.share(manifest, full, mtimeMs);
    this.state.addShare({ user, manifest, path: full, mtimeMs });
    return manifest;
  }

  async stopShare(group: string, name: string): Promise<void> {
    const user = this.requireUser();
    await this.tracker.request('stop_share', { group, name });
    const share = this.state.shares(user).find((s) => s.manifest.group === group && s.manifest.name === name);
    if (share) this.forgetShare(share.manifest);
  }

  /** Starts a download in the background; resolves once it is under way. */
  async downloadFile(group: string, name: string, destination: string): Promise<DownloadEntry> {
    const user = this.requireUser();
    const info = (await this.tracker.request('download_file', { group, name })) as DownloadInfo;
    const path = await downloadPath(destination, info.manifest.name);
    if (this.downloads.some((d) => d.path === path && d.status === 'downloading')) {
      throw new ClientError('ALREADY_DOWNLOADING', `${path} is already being downloaded; see show_downloads`);
    }
    if (await stat(path).catch(() => undefined)) throw new ClientError('DESTINATION_EXISTS', `${path} already exists; give another destination, or move that file away`);
    if (info.peers.length === 0) {
      throw new ClientError('NO_PEERS_ONLINE', `nobody who has ${name} is online now (list_files ${group} counts its seeders online); try again when one is`);
    }
    this.state.addDownload({ user, manifest: info.manifest, destination: path });
    return this.run(info, path);
  }

  /** What this client serves now (shared files, and downloads it already has pieces of), with what it has served. */
  showShares(): ShareRow[] {
    const groups = new Map<string, string>();
    for (const s of this.state.shares(this.user ?? '')) groups.set(s.manifest.sha1, s.manifest.group);
    for (const d of this.downloads) groups.set(d.download.options.manifest.sha1, d.group);
    return this.peers.stats().files.map((f) => ({
      group: groups.get(f.fileId) ?? '',
      name: f.name,
      piecesServed: f.piecesServed,
      bytesServed: f.bytesServed,
      connections: f.connections,
    }));
  }

  showDownloads(): readonly DownloadEntry[] {
    return this.downloads;
  }

  progress(entry: DownloadEntry): DownloadProgress {
    return entry.download.progress();
  }

  private run(info: DownloadInfo, path: string): DownloadEntry {
    const { manifest } = info;
    const download = new Download({
      manifest,
      peers: info.peers,
      ticket: info.ticket,
      destination: path,
      self: { host: this.options.host, port: this.options.port },
      maxDownloadRate: this.options.maxDownloadRate,
      peerServer: this.peers,
      refreshPeers: async () => ((await this.tracker.request('download_file', { group: manifest.group, name: manifest.name })) as DownloadInfo).peers,
    });
    download.once('first-piece', () => {
      this.tracker.request('join_swarm', { group: manifest.group, name: manifest.name }).catch((e: Error) => this.emit('notice', `could not join the swarm of ${manifest.name}: ${e.message}`));
    });
    const user = this.requireUser();
    const settled = download.start().then(
      async (finalPath) => {
        entry.status = 'complete';
        entry.finishedAt = Date.now();
        this.state.removeDownload(user, path);
        this.state.addShare({ user, manifest, path: finalPath, mtimeMs: (await stat(finalPath).catch(() => undefined))?.mtimeMs });
        await this.announce(manifest).catch((e: Error) => this.emit('notice', `downloaded ${manifest.name} but could not register as its seeder: ${e.message}`));
        this.emit('download-done', entry);
      },
      (error: Error) => {
        entry.finishedAt = Date.now();
        if (entry.status !== 'downloading') return;
        entry.status = 'failed';
        entry.error = error.message;
        // Only a download interrupted here (logout, quit) resumes at the next login. A failed
        // one is over; what it has stays in its .part file, and download_file again resumes it.
        if (!(error instanceof DownloadError && error.code === 'ABORTED')) {
          this.state.removeDownload(user, path);
          const { piecesDone, pieceCount } = download.progress();
          if (piecesDone > 0) entry.error += `; ${piecesDone} of ${pieceCount} pieces are kept in ${path}.part, and download_file ${manifest.group} ${manifest.name} again resumes from them`;
        }
        this.emit('download-failed', entry);
      },
    ).catch((error: Error) => {
      this.emit('notice', `${manifest.name}: ${error.message}`); // the state file could not be written, say
    });
    const entry: DownloadEntry = { group: manifest.group, name: manifest.name, path, status: 'downloading', startedAt: Date.now(), download, settled };
    this.downloads.push(entry);
    return entry;
  }

  private announce(manifest: FileManifest): Promise<unknown> {
    const { group, name, size, pieceSize, pieceHashes, sha1 } = manifest;
    return this.tracker.request('upload_file', { group, name, size, pieceSize, pieceHashes: [...pieceHashes], sha1 });
  }

  private forgetShare(manifest: FileManifest): void {
    this.peers.unshare(manifest.sha1);
    this.state.removeShare(this.requireUser(), manifest.group, manifest.name);
  }

  /** After login: serve and re-announce what this user shared here, resume their downloads. */
  private async restore(user: string): Promise<{ reshared: number; resumed: number }> {
    let reshared = 0;
    for (const share of this.state.shares(user)) {
      const info = await stat(share.path).catch(() => undefined);
      if (!info || info.size !== share.manifest.size || (share.mtimeMs !== undefined && info.mtimeMs !== share.mtimeMs)) {
        this.emit('notice', `no longer sharing ${share.manifest.name}: ${share.path} is missing or was modified since it was shared; upload_file ${share.path} ${share.manifest.group} shares what it holds now`);
        this.state.removeShare(user, share.manifest.group, share.manifest.name);
        continue;
      }
      try {
        await this.peers.share(share.manifest, share.path, share.mtimeMs);
        await this.announce(share.manifest);
        reshared += 1;
      } catch (error) {
        this.peers.unshare(share.manifest.sha1); // served only while the tracker lists it
        const refused = error instanceof TrackerError && REFUSED_FOR_GOOD.has(error.code);
        if (refused) this.state.removeShare(user, share.manifest.group, share.manifest.name);
        this.emit('notice', `${refused ? 'no longer sharing' : 'could not share'} ${share.manifest.name} in ${share.manifest.group}${refused ? '' : ' again'}: ${(error as Error).message}`);
      }
    }
    let resumed = 0;
    for (const record of this.state.downloads(user)) {
      try {
        const info = (await this.tracker.request('download_file', { group: record.manifest.group, name: record.manifest.name })) as DownloadInfo;
        await this.run(info, record.destination).download.ready; // show_downloads right after login counts the pieces already here
        resumed += 1;
      } catch (error) {
        this.emit('notice', `could not resume ${record.manifest.name}: ${(error as Error).message}`);
      }
    }
    return { reshared, resumed };
  }

  /** A shared file was modified on disk: it is no longer served, and no longer listed with this client as its seeder. */
  private async sourceChanged(manifest: FileManifest, path: string): Promise<void> {
    const user = this.user;
    if (!user || !this.state.shares(user).some((s) => s.manifest.sha1 === manifest.sha1)) return;
    this.state.removeShare(user, manifest.group, manifest.name);
    await this.tracker.request('stop_share', { group: manifest.group, name: manifest.name }).catch(() => undefined);
    this.emit('notice', `stopped sharing ${manifest.name} in ${manifest.group}: ${path} was modified after it was shared; upload_file ${path} ${manifest.group} shares what it holds now`);
  }

  private learnKeys(): void {
    const encoded = this.tracker.info?.publicKeys ?? [];
    try {
      this.keys = encoded.map(decodePublicKey);
    } catch {
      this.emit('notice', 'the tracker sent an unreadable ticket key');
    }
  }

  private requireUser(): string {
    if (!this.user) throw new ClientError('NOT_LOGGED_IN', 'you are not logged in; login with: login <user_id> <password>');
    return this.user;
  }
}

export class ClientError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}
