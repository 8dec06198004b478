/**
 * The client's commands as the user types them: name, arguments, one line of help, and
 * what each does on the ClientNode. Every command returns a Result: text for people and
 * data for --json. Wrong argument counts and unknown commands say what to type instead.
 */
import type { FileRow } from '../events/queries.js';
import type { ClientNode, DownloadEntry } from './client-node.js';
import { bytes, duration, painter, rate, table } from './format.js';

export interface Result {
  readonly text: string;
  readonly data: unknown;
}

export interface CommandSpec {
  readonly name: string;
  readonly args: readonly string[];
  readonly summary: string;
  readonly example: string;
  readonly run: (node: ClientNode, args: string[], ui: Ui) => Promise<Result>;
}

export interface Ui {
  readonly color: boolean;
}

export class UsageError extends Error {
  readonly code = 'USAGE';
}

const done = (text: string, data: unknown = {}): Result => ({ text, data });

export const COMMANDS: readonly CommandSpec[] = [
  {
    name: 'create_user',
    args: ['user_id', 'password'],
    summary: 'create an account',
    example: 'create_user alice s3cret',
    run: async (node, [user, password]) => (await node.createUser(user!, password!), done(`created user ${user}; now: login ${user} <password>`, { user })),
  },
  {
    name: 'login',
    args: ['user_id', 'password'],
    summary: 'log in (the session survives a tracker failover)',
    example: 'login alice s3cret',
    run: async (node, [user, password]) => {
      const { reshared, resumed } = await node.login(user!, password!);
      const extra = [reshared && `sharing ${reshared} file(s) again`, resumed && `resuming ${resumed} download(s)`].filter(Boolean).join(', ');
      return done(`logged in as ${user}${extra ? ` (${extra})` : ''}`, { user, reshared, resumed });
    },
  },
  { name: 'logout', args: [], summary: 'end your session', example: 'logout', run: async (node) => (await node.logout(), done('logged out')) },
  {
    name: 'create_group',
    args: ['group_id'],
    summary: 'create a group; you become its owner',
    example: 'create_group movies',
    run: async (node, [group]) => (await node.createGroup(group!), done(`created group ${group}; you own it`, { group })),
  },
  {
    name: 'join_group',
    args: ['group_id'],
    summary: "ask to join a group (its owner accepts)",
    example: 'join_group movies',
    run: async (node, [group]) => (await node.joinGroup(group!), done(`asked to join ${group}; its owner has to accept`, { group })),
  },
  {
    name: 'leave_group',
    args: ['group_id'],
    summary: 'leave a group (and stop sharing its files)',
    example: 'leave_group movies',
    run: async (node, [group]) => (await node.leaveGroup(group!), done(`left ${group}`, { group })),
  },
  {
    name: 'list_requests',
    args: ['group_id'],
    summary: 'pending join requests of a group you own',
    example: 'list_requests movies',
    run: async (node, [group]) => {
      const users = await node.listRequests(group!);
      return done(users.length === 0 ? `no pending requests for ${group}` : users.join('\n'), users);
    },
  },
  {
    name: 'accept_request',
    args: ['group_id', 'user_id'],
    summary: 'let a user into a group you own',
    example: 'accept_request movies bob',
    run: async (node, [group, user]) => (await node.acceptRequest(group!, user!), done(`${user} is now a member of ${group}`, { group, user })),
  },
  {
    name: 'reject_request',
    args: ['group_id', 'user_id'],
    summary: "turn down a user's request to join",
    example: 'reject_request movies mallory',
    run: async (node, [group, user]) => (await node.rejectRequest(group!, user!), done(`rejected ${user}'s request to join ${group}`, { group, user })),
  },
  {
    name: 'list_groups',
    args: [],
    summary: 'all groups, their owners and your role',
    example: 'list_groups',
    run: async (node, _args, ui) => {
      const rows = await node.listGroups();
      if (rows.length === 0) return done('no groups yet; create one with: create_group <group_id>', rows);
      const cells = rows.map((r) => [r.group, r.owner, String(r.members), r.role ?? '']);
      return done(table(['GROUP', 'OWNER', 'MEMBERS', 'YOU'], cells, painter(ui.color)), rows);
    },
  },
  {
    name: 'list_files',
    args: ['group_id'],
    summary: 'files shared in a group you belong to',
    example: 'list_files movies',
    run: async (node, [group], ui) => {
      const rows = await node.listFiles(group!);
      if (rows.length === 0) return done(`no files in ${group} yet; share one with: upload_file <path> ${group}`, rows);
      // A seeder whose client is not connected now cannot serve: say how many can.
      const seeders = (r: FileRow) => (r.seedersOnline === r.seeders ? String(r.seeders) : `${r.seeders} (${r.seedersOnline} online)`);
      const cells = rows.map((r) => [r.name, bytes(r.size), seeders(r), String(r.leechers), r.sha1.slice(0, 12)]);
      return done(table(['NAME', 'SIZE', 'SEEDERS', 'LEECHERS', 'SHA1'], cells, painter(ui.color)), rows);
    },
  },
  {
    name: 'upload_file',
    args: ['file_path', 'group_id'],
    summary: 'share a file with a group (hashed in 512 KiB pieces)',
    example: 'upload_file ./talk.mp4 movies',
    run: async (node, [path, group]) => {
      const m = await node.uploadFile(path!, group!);
      return done(`sharing ${m.name} (${bytes(m.size)}, ${m.pieceHashes.length} piece${m.pieceHashes.length === 1 ? '' : 's'}, sha1 ${m.sha1.slice(0, 12)}) in ${group}`, m);
    },
  },
  {
    name: 'stop_share',
    args: ['group_id', 'file_name'],
    summary: 'stop sharing a file',
    example: 'stop_share movies talk.mp4',
    run: async (node, [group, name]) => (await node.stopShare(group!, name!), done(`stopped sharing ${name} in ${group}`, { group, name })),
  },
  {
    name: 'download_file',
    args: ['group_id', 'file_name', 'destination_path'],
    summary: 'download a file in the background to a file path, or into a directory (dir/ is created if missing; ~ is home)',
    example: 'download_file movies talk.mp4 ~/Downloads/',
    run: async (node, [group, name, dest]) => {
      const entry = await node.downloadFile(group!, name!, dest!);
      return done(`downloading ${name} to ${entry.path}; see show_downloads`, { group, name, path: entry.path });
    },
  },
  {
    name: 'show_shares',
    args: [],
    summary: 'files this client serves, and how much of each it has served',
    example: 'show_shares',
    run: async (node, _args, ui) => {
      const rows = node.showShares();
      if (rows.length === 0) return done('not sharing anything; share a file with: upload_file <path> <group_id>', rows);
      const cells = rows.map((r) => [r.group, r.name, String(r.piecesServed), bytes(r.bytesServed), String(r.connections)]);
      return done(table(['GROUP', 'NAME', 'PIECES SERVED', 'SERVED', 'PEERS'], cells, painter(ui.color)), rows);
    },
  },
  {
    name: 'show_downloads',
    args: [],
    summary: 'downloads: [D] in progress, [C] complete, [F] failed',
    example: 'show_downloads',
    run: async (node) => {
      const entries = node.showDownloads();
      if (entries.length === 0) return done('no downloads yet', []);
      return done(entries.map((e) => downloadLine(node, e)).join('\n'), entries.map((e) => downloadData(node, e)));
    },
  },
];

export const BY_NAME: ReadonlyMap<string, CommandSpec> = new Map(COMMANDS.map((c) => [c.name, c]));

export function usage(spec: CommandSpec): string {
  return [spec.name, ...spec.args.map((a) => `<${a}>`)].join(' ');
}

export function helpText(topic?: string): string {
  if (topic) {
    const spec = BY_NAME.get(topic);
    if (!spec) throw new UsageError(`no command ${topic}; type help for the list`);
    return `${usage(spec)}\n  ${spec.summary}\n  example: ${spec.example}`;
  }
  const width = Math.max(...COMMANDS.map((c) => usage(c).length));
  const lines = COMMANDS.map((c) => `  ${usage(c).padEnd(width)}  ${c.summary}`);
  return ['commands:', ...lines, `  ${'help [command]'.padEnd(width)}  this list, or one command in detail`, `  ${'quit'.padEnd(width)}  leave, as does Ctrl-C twice (downloads stop until the next login; shares stop being served)`].join('\n');
}

/**
 * Splits a line into words. A word that starts with " or ' runs to the matching quote and
 * may hold spaces and ';'; a quote inside a word is an ordinary character (don't.txt).
 * A quote left open is a UsageError.
 */
export function splitWords(line: string): string[] {
  return scan(line, 'in this command; close it, or quote the argument whole').words;
}

/** "a b; c 'd;e'" -> ["a b", "c 'd;e'"]: the commands of an --exec script, cut at ';' outside quotes. */
export function splitCommands(script: string): string[] {
  const { cuts } = scan(script, 'in --exec; close it, or quote the argument whole', ';');
  const bounds = [-1, ...cuts, script.length];
  return bounds.slice(1).map((end, i) => script.slice(bounds[i]! + 1, end).trim()).filter((command) => command !== '');
}

/** The words of `text`, and where `separator` stands outside them. */
function scan(text: string, where: string, separator?: string): { words: string[]; cuts: number[] } {
  const words: string[] = [];
  const cuts: number[] = [];
  const space = /\s/;
  let i = 0;
  while (i < text.length) {
    const ch = text[i]!;
    if (space.test(ch)) {
      i += 1;
    } else if (ch === separator) {
      cuts.push(i);
      i += 1;
    } else if (ch === '"' || ch === "'") {
      const end = text.indexOf(ch, i + 1);
      if (end < 0) throw new UsageError(`unterminated ${ch} ${where}`);
      words.push(text.slice(i + 1, end));
      i = end + 1;
    } else {
      let end = i + 1;
      while (end < text.length && !space.test(text[end]!) && text[end] !== separator) end += 1;
      words.push(text.slice(i, end));
      i = end;
    }
  }
  return { words, cuts };
}

/** The command and its arguments, checked against the table. */
export function parseLine(line: string): { spec: CommandSpec; args: string[] } {
  const [name, ...args] = splitWords(line);
  const spec = BY_NAME.get(name ?? '');
  if (!spec) throw new UsageError(`unknown command ${name}; type help for the list`);
  if (args.length !== spec.args.length) {
    throw new UsageError(`${spec.name} takes ${spec.args.length} argument${spec.args.length === 1 ? '' : 's'}: ${usage(spec)}`);
  }
  return { spec, args };
}

function downloadLine(node: ClientNode, e: DownloadEntry): string {
  const tag = e.status === 'complete' ? 'C' : e.status === 'failed' ? 'F' : 'D';
  const head = `[${tag}] [${e.group}] ${e.name}`;
  if (e.status === 'failed') return `${head}  failed: ${e.error}`;
  if (e.status === 'complete') return `${head}  ${e.path}`;
  const p = node.progress(e);
  const pct = p.pieceCount === 0 ? 100 : (100 * p.piecesDone) / p.pieceCount;
  const left = p.bytesPerSecond > 0 ? ((p.pieceCount - p.piecesDone) * 512 * 1024 * 1000) / p.bytesPerSecond : Infinity;
  return `${head}  ${pct.toFixed(1)}%  ${rate(p.bytesPerSecond)}  ETA ${duration(left)}  ${p.peers} peer${p.peers === 1 ? '' : 's'}`;
}

function downloadData(node: ClientNode, e: DownloadEntry): unknown {
  const base = { group: e.group, name: e.name, path: e.path, status: e.status, error: e.error };
  return e.status === 'downloading' ? { ...base, ...node.progress(e) } : base;
}
