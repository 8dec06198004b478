/**
 * Read models over the state: what the list_* and download commands show. Pure; the
 * same membership rules as `decide` (only members see a group's files).
 */
import type { FileManifest, SwarmPeer } from '../wire/manifest.js';
import { memberGroup, noSuchFile, ownedGroup } from './commands.js';
import type { Rejection } from './rejection.js';
import { fileKey, swarmKey, type State } from './state.js';

export type QueryResult<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly rejection: Rejection };

export interface GroupRow {
  readonly group: string;
  readonly owner: string;
  readonly members: number;
  /** The asking user's relation to the group. */
  readonly role: 'owner' | 'member' | 'pending' | null;
}

export interface FileRow {
  readonly name: string;
  readonly size: number;
  readonly sha1: string;
  readonly seeders: number;
  readonly leechers: number;
  /** Of the seeders, those whose session is online now (the ones a download is handed). */
  readonly seedersOnline: number;
}

export interface DownloadInfo {
  readonly manifest: FileManifest;
  /** Online swarm members other than the asking client, seeders first. */
  readonly peers: SwarmPeer[];
}

const ok = <T>(value: T): QueryResult<T> => ({ ok: true, value });
const fail = <T>(rejection: Rejection): QueryResult<T> => ({ ok: false, rejection });

export function listGroups(state: State, actor: string | null): GroupRow[] {
  const rows: GroupRow[] = [];
  for (const [group, g] of state.groups) {
    const role = actor === null ? null : g.owner === actor ? 'owner' : g.members.includes(actor) ? 'member' : g.requests.includes(actor) ? 'pending' : null;
    rows.push({ group, owner: g.owner, members: g.members.length, role });
  }
  return rows.sort((a, b) => a.group.localeCompare(b.group));
}

export function listRequests(state: State, actor: string, group: string): QueryResult<string[]> {
  const g = ownedGroup(state, group, actor);
  return 'code' in g ? fail(g) : ok([...g.requests]);
}

export function listFiles(state: State, actor: string, group: string): QueryResult<FileRow[]> {
  const g = memberGroup(state, group, actor);
  if ('code' in g) return fail(g);
  const rows: FileRow[] = [];
  for (const file of state.files.values()) {
    if (file.group !== group) continue;
    let seeders = 0;
    let seedersOnline = 0;
    for (const m of file.swarm.values()) {
      if (!m.seeder) continue;
      seeders += 1;
      if (isOnline(state, m.user, m.peer)) seedersOnline += 1;
    }
    rows.push({ name: file.name, size: file.size, sha1: file.sha1, seeders, leechers: file.swarm.size - seeders, seedersOnline });
  }
  return ok(rows.sort((a, b) => a.name.localeCompare(b.name)));
}

export function downloadInfo(state: State, actor: string, actorPeer: string, group: string, name: string): QueryResult<DownloadInfo> {
  const g = memberGroup(state, group, actor);
  if ('code' in g) return fail(g);
  const file = state.files.get(fileKey(group, name));
  if (!file) return fail(noSuchFile(group, name));
  const members = [...file.swarm.values()]
    .filter((m) => m.peer !== actorPeer && isOnline(state, m.user, m.peer))
    .sort((a, b) => Number(b.seeder) - Number(a.seeder));
  const peers = members.map(({ user, peer }) => ({ user, ...splitPeer(peer) }));
  const { size, pieceSize, pieceHashes, sha1 } = file;
  return ok({ manifest: { group, name, size, pieceSize, pieceHashes, sha1 }, peers });
}

/** The swarm member (user at peer address) has a session that is online now. */
function isOnline(state: State, user: string, peer: string): boolean {
  const id = state.sessionAt.get(swarmKey(user, peer));
  return id !== undefined && state.sessions.get(id)!.online;
}

function splitPeer(peer: string): { host: string; port: number } {
  const at = peer.lastIndexOf(':');
  return { host: peer.slice(0, at), port: Number(peer.slice(at + 1)) };
}
