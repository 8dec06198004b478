/**
 * Builders for the events and commands that tests talk about, so a test reads as the
 * story it tells ("alice created g, bob asked to join") rather than as JSON.
 */
import { createHash } from 'node:crypto';
import { accountOf, type Command, type DomainEvent, type FileSharedData } from '../../src/events/index.js';
import { PIECE_SIZE, pieceCount } from '../../src/wire/manifest.js';

export const sha1Hex = (text: string): string => createHash('sha1').update(text).digest('hex');

/** Each user's client address ("host:port") and session id in the tests. */
export const peerOf = (user: string): string => `10.0.0.${user.length}:${7000 + user.charCodeAt(0)}`;
export const sessionOf = (user: string): string => `session-${user}`;
/** Each user's password hash in the tests, and the account it makes. */
export const passwordHashOf = (user: string): string => `scrypt:${user}`;
export const accountOfUser = (user: string): string => accountOf(passwordHashOf(user));

export interface FileShape {
  readonly size: number;
  readonly pieceSize: number;
  readonly pieceHashes: readonly string[];
  readonly sha1: string;
}

/** A well-formed file of `size` bytes whose hashes are derived from `content`. */
export function fileShape(content: string, size = 2 * PIECE_SIZE + 10): FileShape {
  const pieceHashes = Array.from({ length: pieceCount(size, PIECE_SIZE) }, (_, i) => sha1Hex(`${content}#${i}`));
  return { size, pieceSize: PIECE_SIZE, pieceHashes, sha1: sha1Hex(content) };
}

export const ev = {
  userCreated: (user: string, passwordHash = passwordHashOf(user)): DomainEvent => ({ type: 'user_created', data: { user, passwordHash } }),
  sessionStarted: (user: string, session = sessionOf(user), peer = peerOf(user)): DomainEvent => ({
    type: 'session_started',
    data: { session, user, peer, account: accountOfUser(user) },
  }),
  sessionResumed: (user: string, epoch: number, session = sessionOf(user)): DomainEvent => ({ type: 'session_resumed', data: { session, epoch } }),
  sessionLost: (user: string, epoch: number, session = sessionOf(user)): DomainEvent => ({ type: 'session_lost', data: { session, epoch } }),
  sessionEnded: (user: string, session = sessionOf(user)): DomainEvent => ({ type: 'session_ended', data: { session } }),
  groupCreated: (group: string, owner: string): DomainEvent => ({ type: 'group_created', data: { group, owner, account: accountOfUser(owner) } }),
  joinRequested: (group: string, user: string): DomainEvent => ({ type: 'join_requested', data: { group, user, account: accountOfUser(user) } }),
  accepted: (group: string, user: string, by: string): DomainEvent => ({
    type: 'join_request_accepted',
    data: { group, user, by, account: accountOfUser(by) },
  }),
  rejected: (group: string, user: string, by: string): DomainEvent => ({
    type: 'join_request_rejected',
    data: { group, user, by, account: accountOfUser(by) },
  }),
  memberLeft: (group: string, user: string): DomainEvent => ({ type: 'member_left', data: { group, user, account: accountOfUser(user) } }),
  fileShared: (group: string, name: string, user: string, shape: FileShape = fileShape(name), peer = peerOf(user)): DomainEvent => ({
    type: 'file_shared',
    data: { group, name, ...shape, user, peer, account: accountOfUser(user) } satisfies FileSharedData,
  }),
  shareStopped: (group: string, name: string, user: string, peer = peerOf(user)): DomainEvent => ({
    type: 'share_stopped',
    data: { group, name, user, peer, account: accountOfUser(user) },
  }),
  swarmJoined: (group: string, name: string, user: string, peer = peerOf(user)): DomainEvent => ({
    type: 'swarm_joined',
    data: { group, name, user, peer, account: accountOfUser(user) },
  }),
};

export const cmd = {
  createUser: (user: string, passwordHash = passwordHashOf(user)): Command => ({ type: 'create_user', data: { user, passwordHash } }),
  login: (user: string, session = sessionOf(user), peer = peerOf(user)): Command => ({ type: 'login', data: { user, session, peer } }),
  resume: (user: string, session = sessionOf(user)): Command => ({ type: 'resume_session', data: { session } }),
  lose: (user: string, epoch: number, session = sessionOf(user)): Command => ({ type: 'lose_session', data: { session, epoch } }),
  logout: (user: string, session = sessionOf(user)): Command => ({ type: 'logout', data: { session } }),
  createGroup: (actor: string, group: string): Command => ({ type: 'create_group', data: { actor, group } }),
  joinGroup: (actor: string, group: string): Command => ({ type: 'join_group', data: { actor, group } }),
  leaveGroup: (actor: string, group: string): Command => ({ type: 'leave_group', data: { actor, group } }),
  accept: (actor: string, group: string, user: string): Command => ({ type: 'accept_request', data: { actor, group, user } }),
  reject: (actor: string, group: string, user: string): Command => ({ type: 'reject_request', data: { actor, group, user } }),
  upload: (actor: string, group: string, name: string, shape: FileShape = fileShape(name), peer = peerOf(actor)): Command => ({
    type: 'upload_file',
    data: { actor, peer, group, name, ...shape },
  }),
  stopShare: (actor: string, group: string, name: string, peer = peerOf(actor)): Command => ({
    type: 'stop_share',
    data: { actor, peer, group, name },
  }),
  joinSwarm: (actor: string, group: string, name: string, peer = peerOf(actor)): Command => ({
    type: 'join_swarm',
    data: { actor, peer, group, name },
  }),
};

/** alice, bob, carol and dave exist; alice owns group g. */
export const aliceOwnsG: readonly DomainEvent[] = [
  ev.userCreated('alice'),
  ev.userCreated('bob'),
  ev.userCreated('carol'),
  ev.userCreated('dave'),
  ev.groupCreated('g', 'alice'),
];

/** ...and bob is a member of g. */
export const bobInG: readonly DomainEvent[] = [...aliceOwnsG, ev.joinRequested('g', 'bob'), ev.accepted('g', 'bob', 'alice')];
