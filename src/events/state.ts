/**
 * The tracker's state and `evolve`, the fold of events into it.
 *
 * `evolve` is deterministic and total: any event in any state gives a defined result,
 * using only the event (its data and its hlc as the time) and the state. An event whose
 * preconditions no longer hold when it is folded (a second `user_created` for a taken
 * name, accepted by the other tracker during a partition) changes nothing but is
 * recorded as a conflict, so the operator can list it. Two more rules make it safe
 * for what a partition and failover produce:
 * - a command applies once: an event carrying the idempotency key of a command already
 *   applied from the other tracker (a retry that both ran) is a conflict;
 * - a name belongs to its first account: events a logged-in user made name the account
 *   they acted as, and those of an account that lost its name are conflicts.
 *
 * For speed over millions of events, `evolve` updates the state it is given and
 * returns it: callers own the state linearly and never keep the previous value.
 */
import { hash } from 'node:crypto';
import { CommandMemory } from './command-memory.js';
import type { DomainEvent, FileSharedData } from './domain-events.js';
import { hlcToMs } from './hlc.js';

export interface User {
  readonly passwordHash: string;
  readonly createdAt: number;
  /** Which creation of this name it is: see accountOf. */
  readonly account: string;
}

/**
 * How long (in HLC time) the fold remembers the key of a command it applied. Both copies
 * of a retried command are stamped within this of each other: our client sends a command
 * again only within RETRY_SPAN_MS (45 s) of its first sending, and a tracker runs a
 * command within COMMAND_DEADLINE_MS (30 s) of reading it or not at all, which leaves
 * 45 s for the trackers' clocks to disagree. Longer costs memory and fold time for every command: at 10,000 commands/s
 * the fold holds 1.2 million keys.
 */
export const COMMAND_MEMORY_MS = 2 * 60_000;

export interface Session {
  readonly user: string;
  /** The client's peer address, "host:port", where it serves pieces. */
  readonly peer: string;
  readonly startedAt: number;
  /** Bumped on every resume, so a stale `session_lost` cannot take a resumed session offline. */
  epoch: number;
  online: boolean;
}

export interface Group {
  owner: string;
  /** Members in the order they joined; the owner is one of them. */
  members: string[];
  /** Pending join requests, oldest first. */
  requests: string[];
  readonly createdAt: number;
}

export interface SwarmMember {
  readonly user: string;
  readonly peer: string;
  /** true once it holds the whole file (uploaded it, or finished downloading it). */
  seeder: boolean;
}

export interface SharedFile extends Omit<FileSharedData, 'user' | 'peer'> {
  readonly sharedAt: number;
  /** Keyed by swarmKey(user, peer). */
  readonly swarm: Map<string, SwarmMember>;
}

export interface Conflict {
  readonly origin: number;
  readonly seq: number;
  readonly type: string;
  readonly reason: string;
}

export interface State {
  readonly users: Map<string, User>;
  readonly sessions: Map<string, Session>;
  readonly groups: Map<string, Group>;
  /** Keyed by fileKey(group, name). */
  readonly files: Map<string, SharedFile>;
  readonly conflicts: Conflict[];
  /** Recently applied commands by idempotency key (see COMMAND_MEMORY_MS). */
  readonly commands: CommandMemory;
  /**
   * Names a second user_created claimed (it lost): only events naming one of these can
   * come from a losing account, so only they are checked (see lostName).
   */
  readonly claimedTwice: Set<string>;
  /** How many events have been folded into this state. */
  eventCount: number;
  /** Derived indexes, kept in step by evolve, not part of the canonical form: the session of
   * each user at each peer (swarmKey), and the files of each group (fileKey). */
  readonly sessionAt: Map<string, string>;
  readonly groupFiles: Map<string, Set<string>>;
}

/** Where an event sits in the log: enough to name it in a conflict. */
export interface EventPosition {
  readonly origin: number;
  readonly seq: number;
  readonly hlc: number;
}

/** What the fold reads of an event's envelope besides the event: its position, and the key of the command that made it. */
export interface EventStamp extends EventPosition {
  readonly idem?: string | null;
}

export function initialState(): State {
  return {
    users: new Map(),
    sessions: new Map(),
    groups: new Map(),
    files: new Map(),
    conflicts: [],
    commands: new CommandMemory(),
    claimedTwice: new Set(),
    eventCount: 0,
    sessionAt: new Map(),
    groupFiles: new Map(),
  };
}

export function fileKey(group: string, name: string): string {
  return `${group}\u0000${name}`;
}

export function swarmKey(user: string, peer: string): string {
  return `${user}@${peer}`;
}

/**
 * The account a password hash makes: a short digest of it. Two users created under one
 * name are two accounts (each hash has its own salt), unless they are two copies of one
 * retried create_user (the tracker derives the salt from the command's key).
 */
export function accountOf(passwordHash: string): string {
  return hash('sha256', passwordHash, 'hex').slice(0, 16);
}

/** Folds one event, found at `at` in the log (an Envelope will do). */
export function evolve(state: State, event: DomainEvent, at: EventStamp): State {
  state.eventCount += 1;
  const now = hlcToMs(at.hlc);
  const idem = at.idem ?? null;
  const reason = (idem === null ? undefined : repeatedCommand(state, idem, at, now)) ?? fold(state, event, now);
  if (reason !== undefined) {
    state.conflicts.push({ origin: at.origin, seq: at.seq, type: event.type, reason });
  }
  return state;
}

/**
 * Remembers the command `idem` names; if it was applied already from the other tracker
 * (a retry that both trackers ran), says so: this copy is a conflict and changes nothing.
 */
function repeatedCommand(state: State, idem: string, at: EventPosition, now: number): string | undefined {
  state.commands.forgetUpTo(now - COMMAND_MEMORY_MS);
  const first = state.commands.get(idem);
  if (!first) {
    state.commands.remember(idem, at.origin, at.seq, now);
    return undefined;
  }
  if (first.origin === at.origin) return undefined; // a later event of the same run
  return `a retry of a command already applied (event ${first.origin}/${first.seq})`;
}

/** Why an event some account made is void: its user's name now belongs to another account. */
function lostName(state: State, user: string, account: string | undefined): string | undefined {
  // A losing account's events fold after its user_created (they were made after it), which
  // put its name here: most folds never look further.
  if (state.claimedTwice.size === 0 || account === undefined || !state.claimedTwice.has(user)) return undefined;
  const u = state.users.get(user);
  if (!u) return `unknown user ${user}`;
  return u.account === account ? undefined : `made by an account of ${user} that lost the name to another ${user} created first`;
}

/** Applies one event; returns a conflict reason when it had to be a no-op. */
function fold(state: State, event: DomainEvent, now: number): string | undefined {
  switch (event.type) {
    case 'user_created': {
      const { user, passwordHash } = event.data;
      if (state.users.has(user)) {
        state.claimedTwice.add(user);
        return `user ${user} already exists`;
      }
      state.users.set(user, { passwordHash, createdAt: now, account: accountOf(passwordHash) });
      return undefined;
    }
    case 'session_started': {
      const { session, user, peer } = event.data;
      if (!state.users.has(user)) return `unknown user ${user}`;
      const lost = lostName(state, user, event.data.account);
      if (lost) return lost;
      if (state.sessions.has(session)) return `session ${session} already exists`;
      // A new login from the same client address replaces the old session there.
      const replaced = state.sessionAt.get(swarmKey(user, peer));
      if (replaced !== undefined) removeSession(state, replaced);
      addSession(state, session, { user, peer, startedAt: now, epoch: 0, online: true });
      return undefined;
    }
    case 'session_resumed': {
      const s = state.sessions.get(event.data.session);
      if (!s) return `unknown session ${event.data.session}`;
      if (event.data.epoch > s.epoch) s.epoch = event.data.epoch;
      s.online = true;
      return undefined;
    }
    case 'session_lost': {
      const s = state.sessions.get(event.data.session);
      if (!s) return undefined; // ended meanwhile: nothing to take offline
      if (event.data.epoch === s.epoch) s.online = false;
      return undefined;
    }
    case 'session_ended': {
      removeSession(state, event.data.session);
      return undefined;
    }
    case 'group_created': {
      const { group, owner } = event.data;
      if (state.groups.has(group)) return `group ${group} already exists`;
      if (!state.users.has(owner)) return `unknown user ${owner}`;
      const lost = lostName(state, owner, event.data.account);
      if (lost) return lost;
      state.groups.set(group, { owner, members: [owner], requests: [], createdAt: now });
      return undefined;
    }
    case 'join_requested': {
      const { group, user } = event.data;
      const g = state.groups.get(group);
      if (!g) return `no group ${group}`;
      if (!state.users.has(user)) return `unknown user ${user}`;
      const lost = lostName(state, user, event.data.account);
      if (lost) return lost;
      if (g.members.includes(user)) return `${user} is already a member of ${group}`;
      if (g.requests.includes(user)) return `${user} already asked to join ${group}`;
      g.requests.push(user);
      return undefined;
    }
    case 'join_request_accepted':
    case 'join_request_rejected': {
      const { group, user, by } = event.data;
      const g = state.groups.get(group);
      if (!g) return `no group ${group}`;
      if (g.owner !== by) return `${by} is not the owner of ${group}`;
      const lost = lostName(state, by, event.data.account);
      if (lost) return lost;
      const at = g.requests.indexOf(user);
      if (at < 0) return `no pending request from ${user} in ${group}`;
      g.requests.splice(at, 1);
      if (event.type === 'join_request_accepted') g.members.push(user);
      return undefined;
    }
    case 'member_left':
      return lostName(state, event.data.user, event.data.account) ?? leaveGroup(state, event.data.group, event.data.user);
    case 'file_shared':
      return lostName(state, event.data.user, event.data.account) ?? shareFile(state, event.data, now);
    case 'share_stopped': {
      // The user stops sharing the file from every client they shared it from.
      const { group, name, user } = event.data;
      const lost = lostName(state, user, event.data.account);
      if (lost) return lost;
      const file = state.files.get(fileKey(group, name));
      if (!file || dropFromSwarm(file, user) === 0) return `${user} was not sharing ${name} in ${group}`;
      dropFileIfUnseeded(state, group, name, file);
      return undefined;
    }
    case 'swarm_joined': {
      const { group, name, user, peer } = event.data;
      const lost = lostName(state, user, event.data.account);
      if (lost) return lost;
      const file = state.files.get(fileKey(group, name));
      if (!file) return `no file ${name} in ${group}`;
      if (!state.groups.get(group)?.members.includes(user)) return `${user} is not a member of ${group}`;
      const key = swarmKey(user, peer);
      if (!file.swarm.has(key)) file.swarm.set(key, { user, peer, seeder: false });
      return undefined;
    }
    default: {
      const unknown: never = event;
      return `unknown event type ${(unknown as { type: string }).type}`;
    }
  }
}

function leaveGroup(state: State, group: string, user: string): string | undefined {
  const g = state.groups.get(group);
  if (!g) return `no group ${group}`;
  const at = g.members.indexOf(user);
  if (at < 0) return `${user} is not a member of ${group}`;
  g.members.splice(at, 1);
  // Whoever leaves stops sharing the group's files.
  for (const key of [...(state.groupFiles.get(group) ?? [])]) {
    const file = state.files.get(key)!;
    dropFromSwarm(file, user);
    dropFileIfUnseeded(state, group, file.name, file, key);
  }
  if (g.members.length === 0) {
    state.groups.delete(group);
    for (const key of [...(state.groupFiles.get(group) ?? [])]) removeFile(state, key);
  } else if (g.owner === user) {
    g.owner = g.members[0]!; // the longest-standing member
  }
  return undefined;
}

function shareFile(state: State, data: FileSharedData, now: number): string | undefined {
  const { group, name, user, peer } = data;
  if (!state.groups.get(group)?.members.includes(user)) return `${user} is not a member of ${group}`;
  const key = fileKey(group, name);
  let file = state.files.get(key);
  if (file && file.sha1 !== data.sha1) return `${group} already has a different file named ${name}`;
  if (!file) {
    const { size, pieceSize, pieceHashes, sha1 } = data;
    file = { group, name, size, pieceSize, pieceHashes, sha1, sharedAt: now, swarm: new Map() };
    addFile(state, key, file);
  }
  const member = file.swarm.get(swarmKey(user, peer));
  if (member) member.seeder = true;
  else file.swarm.set(swarmKey(user, peer), { user, peer, seeder: true });
  return undefined;
}

function dropFromSwarm(file: SharedFile, user: string): number {
  let dropped = 0;
  for (const [key, m] of file.swarm) {
    if (m.user === user) dropped += Number(file.swarm.delete(key));
  }
  return dropped;
}

/** A file nobody holds whole any more is gone: it disappears from list_files. */
function dropFileIfUnseeded(state: State, group: string, name: string, file: SharedFile, key = fileKey(group, name)): void {
  for (const m of file.swarm.values()) if (m.seeder) return;
  removeFile(state, key);
}

function addSession(state: State, id: string, session: Session): void {
  state.sessions.set(id, session);
  state.sessionAt.set(swarmKey(session.user, session.peer), id);
}

function removeSession(state: State, id: string): void {
  const s = state.sessions.get(id);
  if (!s) return;
  state.sessions.delete(id);
  if (state.sessionAt.get(swarmKey(s.user, s.peer)) === id) state.sessionAt.delete(swarmKey(s.user, s.peer));
}

function addFile(state: State, key: string, file: SharedFile): void {
  state.files.set(key, file);
  let keys = state.groupFiles.get(file.group);
  if (!keys) state.groupFiles.set(file.group, (keys = new Set()));
  keys.add(key);
}

function removeFile(state: State, key: string): void {
  const file = state.files.get(key);
  if (!file) return;
  state.files.delete(key);
  const keys = state.groupFiles.get(file.group);
  keys?.delete(key);
  if (keys?.size === 0) state.groupFiles.delete(file.group);
}

/** Rebuilds the derived indexes of a state whose maps were filled directly (from a snapshot). */
export function indexState(state: State): State {
  state.sessionAt.clear();
  state.groupFiles.clear();
  for (const [id, s] of state.sessions) state.sessionAt.set(swarmKey(s.user, s.peer), id);
  for (const [key, f] of state.files) {
    let keys = state.groupFiles.get(f.group);
    if (!keys) state.groupFiles.set(f.group, (keys = new Set()));
    keys.add(key);
  }
  return state;
}
