/**
 * Commands: what a user asks for. `decide(state, command)` checks the rules against
 * the current state and returns the events to append, or a rejection. Pure: secrets
 * arrive already hashed, random ids and the actor's identity arrive in the command.
 * Every command that a logged-in user issues names them as `actor`. Time arrives in the
 * command too (`now`, with the session lifetime `maxAgeMs`), never from a clock here.
 */
import type { DomainEvent } from './domain-events.js';
import { checkFileName, checkFileShape, checkId } from './names.js';
import { reject, type Rejection } from './rejection.js';
import { fileKey, swarmKey, type Group, type Session, type State } from './state.js';

export type Command =
  | Cmd<'create_user', { user: string; passwordHash: string }>
  /** `account`: the account whose password the tracker checked; the login fails if another now owns the name. */
  | Cmd<'login', { user: string; session: string; peer: string; account?: string }>
  | Cmd<'resume_session', { session: string; now?: number; maxAgeMs?: number }>
  | Cmd<'expire_session', { session: string; now: number; maxAgeMs: number }>
  | Cmd<'lose_session', { session: string; epoch: number }>
  | Cmd<'logout', { session: string }>
  | Cmd<'create_group', { actor: string; group: string }>
  | Cmd<'join_group', { actor: string; group: string }>
  | Cmd<'leave_group', { actor: string; group: string }>
  | Cmd<'accept_request', { actor: string; group: string; user: string }>
  | Cmd<'reject_request', { actor: string; group: string; user: string }>
  | Cmd<
      'upload_file',
      { actor: string; peer: string; group: string; name: string; size: number; pieceSize: number; pieceHashes: readonly string[]; sha1: string }
    >
  | Cmd<'stop_share', { actor: string; peer: string; group: string; name: string }>
  | Cmd<'join_swarm', { actor: string; peer: string; group: string; name: string }>;

interface Cmd<T extends string, D> {
  readonly type: T;
  readonly data: D;
}

export type CommandType = Command['type'];

export type Decision = { readonly ok: true; readonly events: DomainEvent[] } | { readonly ok: false; readonly rejection: Rejection };

const accept = (...events: DomainEvent[]): Decision => ({ ok: true, events });
const refuse = (rejection: Rejection): Decision => ({ ok: false, rejection });

export function decide(state: State, command: Command): Decision {
  switch (command.type) {
    case 'create_user': {
      const { user, passwordHash } = command.data;
      const bad = checkId('user id', user);
      if (bad) return refuse(reject('INVALID_ARGUMENT', bad));
      if (state.users.has(user)) return refuse(reject('USER_EXISTS', `user ${user} already exists; pick another name, or login`));
      return accept({ type: 'user_created', data: { user, passwordHash } });
    }
    case 'login': {
      const { user, session, peer, account } = command.data;
      const u = state.users.get(user);
      if (!u) return refuse(unknownUser(user));
      if (account !== undefined && u.account !== account) return refuse(reject('WRONG_PASSWORD', `wrong password for ${user}; try again`));
      return accept({ type: 'session_started', data: { session, user, peer, account: u.account } });
    }
    case 'resume_session': {
      const s = state.sessions.get(command.data.session);
      if (!s) return refuse(reject('SESSION_EXPIRED', 'your session has ended; login again'));
      const { now, maxAgeMs } = command.data;
      if (now !== undefined && maxAgeMs !== undefined && sessionExpired(s, now, maxAgeMs)) return refuse(sessionTooOld);
      return accept({ type: 'session_resumed', data: { session: command.data.session, epoch: s.epoch + 1 } });
    }
    case 'expire_session': {
      // Ends a session older than its lifetime; anything else (gone, still young) is a no-op.
      const { session, now, maxAgeMs } = command.data;
      const s = state.sessions.get(session);
      if (!s || !sessionExpired(s, now, maxAgeMs)) return accept();
      return accept({ type: 'session_ended', data: { session } });
    }
    case 'lose_session': {
      const s = state.sessions.get(command.data.session);
      if (!s || s.epoch !== command.data.epoch || !s.online) return accept();
      return accept({ type: 'session_lost', data: command.data });
    }
    case 'logout': {
      if (!state.sessions.has(command.data.session)) return refuse(reject('NOT_LOGGED_IN', 'you are not logged in'));
      return accept({ type: 'session_ended', data: command.data });
    }
    case 'create_group': {
      const { actor, group } = command.data;
      const bad = checkId('group id', group);
      if (bad) return refuse(reject('INVALID_ARGUMENT', bad));
      if (state.groups.has(group)) return refuse(reject('GROUP_EXISTS', `group ${group} already exists; join it with: join_group ${group}`));
      return accept({ type: 'group_created', data: { group, owner: actor, account: accountOfUser(state, actor) } });
    }
    case 'join_group': {
      const { actor, group } = command.data;
      const g = state.groups.get(group);
      if (!g) return refuse(noSuchGroup(group));
      if (g.members.includes(actor)) return refuse(reject('ALREADY_MEMBER', `you are already a member of ${group}`));
      if (g.requests.includes(actor)) {
        return refuse(reject('ALREADY_REQUESTED', `you already asked to join ${group}; its owner ${g.owner} has to accept`));
      }
      return accept({ type: 'join_requested', data: { group, user: actor, account: accountOfUser(state, actor) } });
    }
    case 'leave_group': {
      const { actor, group } = command.data;
      const g = state.groups.get(group);
      if (!g) return refuse(noSuchGroup(group));
      if (!g.members.includes(actor)) return refuse(reject('NOT_MEMBER', `you are not a member of ${group}: there is nothing to leave`));
      return accept({ type: 'member_left', data: { group, user: actor, account: accountOfUser(state, actor) } });
    }
    case 'accept_request':
    case 'reject_request': {
      const { actor, group, user } = command.data;
      const g = ownedGroup(state, group, actor);
      if ('code' in g) return refuse(g);
      if (!g.requests.includes(user)) {
        if (g.members.includes(user)) return refuse(reject('NO_SUCH_REQUEST', `${user} is already a member of ${group}`));
        return refuse(reject('NO_SUCH_REQUEST', `${user} has no pending request for ${group}; see: list_requests ${group}`));
      }
      const type = command.type === 'accept_request' ? 'join_request_accepted' : 'join_request_rejected';
      return accept({ type, data: { group, user, by: actor, account: accountOfUser(state, actor) } });
    }
    case 'upload_file': {
      const { actor, peer, group, name, size, pieceSize, pieceHashes, sha1 } = command.data;
      const bad = checkFileName(name) ?? checkFileShape(size, pieceSize, pieceHashes, sha1);
      if (bad) return refuse(reject('INVALID_ARGUMENT', bad));
      const g = memberGroup(state, group, actor);
      if ('code' in g) return refuse(g);
      const file = state.files.get(fileKey(group, name));
      if (file && file.sha1 !== sha1) {
        return refuse(reject('FILE_EXISTS', `${group} already has a different file named ${name}; rename yours and upload it again`));
      }
      if (file?.swarm.get(swarmKey(actor, peer))?.seeder) return accept(); // already seeding it: nothing changes
      return accept({ type: 'file_shared', data: { group, name, size, pieceSize, pieceHashes, sha1, user: actor, peer, account: accountOfUser(state, actor) } });
    }
    case 'stop_share': {
      const { actor, peer, group, name } = command.data;
      const g = memberGroup(state, group, actor);
      if ('code' in g) return refuse(g);
      const file = state.files.get(fileKey(group, name));
      if (!file) return refuse(noSuchFile(group, name));
      if (![...file.swarm.values()].some((m) => m.user === actor)) return refuse(reject('NOT_SEEDING', `you are not sharing ${name} in ${group}`));
      return accept({ type: 'share_stopped', data: { group, name, user: actor, peer, account: accountOfUser(state, actor) } });
    }
    case 'join_swarm': {
      const { actor, peer, group, name } = command.data;
      const g = memberGroup(state, group, actor);
      if ('code' in g) return refuse(g);
      const file = state.files.get(fileKey(group, name));
      if (!file) return refuse(noSuchFile(group, name));
      if (file.swarm.has(swarmKey(actor, peer))) return accept();
      return accept({ type: 'swarm_joined', data: { group, name, user: actor, peer, account: accountOfUser(state, actor) } });
    }
    default: {
      const unknown: never = command;
      return refuse(reject('INVALID_ARGUMENT', `unknown command ${(unknown as { type: string }).type}`));
    }
  }
}

/** The account `user` acts as, which every event of their commands names (see evolve). */
function accountOfUser(state: State, user: string): string | undefined {
  return state.users.get(user)?.account;
}

/** A session lives `maxAgeMs` from its login (its session_started hlc); `now` comes with the command. */
export function sessionExpired(session: Pick<Session, 'startedAt'>, now: number, maxAgeMs: number): boolean {
  return now - session.startedAt >= maxAgeMs;
}

const sessionTooOld = reject('SESSION_EXPIRED', 'your session is too old and has expired; login again');

/** The group, if `actor` is a member; else why not. Shared by commands and queries. */
export function memberGroup(state: State, group: string, actor: string): Group | Rejection {
  const g = state.groups.get(group);
  if (!g) return noSuchGroup(group);
  if (!g.members.includes(actor)) return notMember(g, group, actor);
  return g;
}

export function ownedGroup(state: State, group: string, actor: string): Group | Rejection {
  const g = state.groups.get(group);
  if (!g) return noSuchGroup(group);
  if (g.owner !== actor) return reject('NOT_OWNER', `only the owner of ${group} (${g.owner}) can do that`);
  return g;
}

export const unknownUser = (user: string): Rejection =>
  reject('UNKNOWN_USER', `no user ${user}; check the spelling, or create it with: create_user ${user} <password>`);
const noSuchGroup = (group: string): Rejection => reject('NO_SUCH_GROUP', `no group ${group}; see: list_groups`);
const notMember = (g: Group, group: string, actor: string): Rejection =>
  g.requests.includes(actor)
    ? reject('NOT_MEMBER', `you are not a member of ${group} yet: your request to join is pending, and its owner ${g.owner} has to accept it`)
    : reject('NOT_MEMBER', `you are not a member of ${group}; ask to join with: join_group ${group}`);
export const noSuchFile = (group: string, name: string): Rejection =>
  reject('NO_SUCH_FILE', `no file ${name} in ${group}; see: list_files ${group}`);
