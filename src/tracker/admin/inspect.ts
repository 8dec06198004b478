/**
 * `tracker inspect [summary|users|groups|files|sessions|conflicts]`: the current state as
 * the tracker holds it (newest snapshot + tail), as aligned tables or `--json`. Reads the
 * log read-only, so it works while the tracker runs. Password hashes never leave here;
 * sessions show only a short prefix of their id.
 */
import { Argument, Command } from 'commander';
import type { State } from '../../events/state.js';
import { stateHash } from '../../events/state-codec.js';
import { dataDirOf, logFileOf, openLogReadOnly, targetOptions, type TargetOptions } from './data-dir.js';
import { ago, bytes, isoOfMs, keyValues, printJson, table } from './output.js';
import { loadProjection, originLengths, readConsistently, type Projection } from './projection.js';
import { isLocked } from './run-lock.js';

export const INSPECT_VIEWS = ['summary', 'users', 'groups', 'files', 'sessions', 'conflicts'] as const;
export type InspectView = (typeof INSPECT_VIEWS)[number];

/** Characters of a session id shown: enough to tell sessions apart in the log. */
const SESSION_PREFIX = 8;
/** Group names listed per user in the table. */
const GROUPS_SHOWN = 5;

export function inspectCommand(): Command {
  return targetOptions(
    new Command('inspect')
      .description('show the current state: a summary (default), or users, groups, files, sessions or conflicts as a table')
      .addArgument(new Argument('[view]', 'what to show').choices(INSPECT_VIEWS).default('summary')),
  )
    .addHelpText('after', '\nReads the log read-only: safe while the tracker runs. Password hashes are never shown.')
    .action((view: InspectView, options: TargetOptions) => {
      const dataDir = dataDirOf(options);
      const store = openLogReadOnly(dataDir);
      try {
        const report = readConsistently(store, () => {
          const projection = loadProjection(store);
          return view === 'summary' ? summary(projection, originLengths(store), dataDir) : rows(view, projection.state);
        });
        if (options.json) printJson(report);
        else console.log(view === 'summary' ? formatSummary(report as Summary) : formatRows(view, report as Row[]));
      } finally {
        void store.close();
      }
    });
}

export interface Summary {
  readonly dataDir: string;
  readonly logFile: string;
  readonly running: boolean;
  readonly users: number;
  readonly groups: number;
  readonly files: number;
  readonly sessions: number;
  readonly sessionsOnline: number;
  readonly conflicts: number;
  readonly events: number;
  readonly origins: { origin: number; events: number; lastSeq: number }[];
  readonly snapshot: { id: number; position: string; hlc: number; eventCount: number; createdAt: string; ageMs: number } | null;
  readonly eventsSinceSnapshot: number;
  readonly stateHash: string;
}

function summary(p: Projection, origins: ReturnType<typeof originLengths>, dataDir: string): Summary {
  const { state, snapshot } = p;
  let online = 0;
  for (const s of state.sessions.values()) if (s.online) online += 1;
  return {
    dataDir,
    logFile: logFileOf(dataDir),
    running: isLocked(dataDir),
    users: state.users.size,
    groups: state.groups.size,
    files: state.files.size,
    sessions: state.sessions.size,
    sessionsOnline: online,
    conflicts: state.conflicts.length,
    events: state.eventCount,
    origins: origins.map(({ origin, events, lastSeq }) => ({ origin, events, lastSeq })),
    snapshot: snapshot
      ? {
          id: snapshot.id,
          position: `${snapshot.origin}:${snapshot.seq}`,
          hlc: snapshot.hlc,
          eventCount: snapshot.eventCount,
          createdAt: isoOfMs(snapshot.createdAt),
          ageMs: Date.now() - snapshot.createdAt,
        }
      : null,
    eventsSinceSnapshot: p.tail,
    stateHash: stateHash(state),
  };
}

function formatSummary(s: Summary): string {
  const log = s.origins.length === 0 ? ['log', 'empty'] : ['log', s.origins.map((o) => `origin ${o.origin}: ${o.events} events (seq 1..${o.lastSeq})`).join(', ')];
  const snapshot = s.snapshot
    ? `#${s.snapshot.id} at ${s.snapshot.position}, ${s.snapshot.eventCount} events, taken ${s.snapshot.createdAt} (${ago(Date.parse(s.snapshot.createdAt))}); ${s.eventsSinceSnapshot} events since`
    : `none yet (${s.eventsSinceSnapshot} events would be replayed at start)`;
  return keyValues([
    ['data dir', `${s.dataDir} (${s.running ? 'a tracker is running on it' : 'no tracker running on it'})`],
    ['users', s.users],
    ['groups', s.groups],
    ['files', s.files],
    ['sessions', `${s.sessions} (${s.sessionsOnline} online)`],
    ['conflicts', s.conflicts],
    ['events', s.events],
    [log[0]!, log[1]!],
    ['snapshot', snapshot],
    ['state hash', s.stateHash],
  ]);
}

type Row = Record<string, string | number | boolean | string[]>;

function rows(view: Exclude<InspectView, 'summary'>, state: State): Row[] {
  switch (view) {
    case 'users': {
      const member = new Map<string, string[]>();
      for (const [name, g] of state.groups) for (const u of g.members) member.set(u, [...(member.get(u) ?? []), name]);
      const sessions = new Map<string, number>();
      for (const s of state.sessions.values()) sessions.set(s.user, (sessions.get(s.user) ?? 0) + 1);
      return sorted(state.users).map(([user, u]) => ({ user, created: isoOfMs(u.createdAt), groups: member.get(user) ?? [], sessions: sessions.get(user) ?? 0 }));
    }
    case 'groups': {
      const files = new Map<string, number>();
      for (const f of state.files.values()) files.set(f.group, (files.get(f.group) ?? 0) + 1);
      return sorted(state.groups).map(([group, g]) => ({
        group,
        owner: g.owner,
        members: [...g.members],
        requests: [...g.requests],
        files: files.get(group) ?? 0,
        created: isoOfMs(g.createdAt),
      }));
    }
    case 'files':
      return [...state.files.values()]
        .sort((a, b) => a.group.localeCompare(b.group) || a.name.localeCompare(b.name))
        .map((f) => {
          let seeders = 0;
          for (const m of f.swarm.values()) if (m.seeder) seeders += 1;
          return { group: f.group, name: f.name, size: f.size, pieces: f.pieceHashes.length, sha1: f.sha1, seeders, leechers: f.swarm.size - seeders, shared: isoOfMs(f.sharedAt) };
        });
    case 'sessions':
      return [...state.sessions]
        .sort(([, a], [, b]) => a.user.localeCompare(b.user) || a.startedAt - b.startedAt)
        .map(([id, s]) => ({ session: id.slice(0, SESSION_PREFIX), user: s.user, peer: s.peer, online: s.online, started: isoOfMs(s.startedAt) }));
    case 'conflicts':
      return state.conflicts.map((c) => ({ event: `${c.origin}:${c.seq}`, type: c.type, reason: c.reason }));
  }
}

function formatRows(view: Exclude<InspectView, 'summary'>, list: Row[]): string {
  if (list.length === 0) return `no ${view}`;
  switch (view) {
    case 'users':
      return table(['USER', 'CREATED', 'SESSIONS', 'GROUPS'], list.map((r) => [r.user as string, r.created as string, r.sessions as number, names(r.groups as string[])]));
    case 'groups':
      return table(
        ['GROUP', 'OWNER', 'MEMBERS', 'PENDING', 'FILES', 'CREATED'],
        list.map((r) => [r.group as string, r.owner as string, (r.members as string[]).length, (r.requests as string[]).length, r.files as number, r.created as string]),
      );
    case 'files':
      return table(
        ['GROUP', 'NAME', 'SIZE', 'PIECES', 'SHA1', 'SEEDERS', 'LEECHERS', 'SHARED'],
        list.map((r) => [r.group as string, r.name as string, bytes(r.size as number), r.pieces as number, (r.sha1 as string).slice(0, 12), r.seeders as number, r.leechers as number, r.shared as string]),
      );
    case 'sessions':
      return table(['SESSION', 'USER', 'PEER', 'ONLINE', 'STARTED'], list.map((r) => [r.session as string, r.user as string, r.peer as string, r.online as boolean, r.started as string]));
    case 'conflicts':
      return table(['EVENT', 'TYPE', 'REASON'], list.map((r) => [r.event as string, r.type as string, r.reason as string]));
  }
}

/** At most GROUPS_SHOWN names, then how many more (--json has them all). */
function names(list: readonly string[]): string {
  const shown = list.slice(0, GROUPS_SHOWN).join(', ');
  return list.length > GROUPS_SHOWN ? `${shown}, +${list.length - GROUPS_SHOWN} more` : shown;
}

function sorted<V>(map: ReadonlyMap<string, V>): [string, V][] {
  return [...map].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}
