/**
 * Events: facts a tracker accepted. Every state change in the system is one of these,
 * appended to the log, replicated, and folded by `evolve`. Names are past tense.
 * Secrets never appear here: passwords only as salted scrypt hashes, sessions only by
 * their random id (a client's token also needs the cluster secret, see session-tokens).
 */
import type { FileManifest } from '../wire/manifest.js';

export type DomainEvent =
  | Ev<'user_created', { user: string; passwordHash: string }>
  | Ev<'session_started', { session: string; user: string; peer: string }>
  | Ev<'session_resumed', { session: string; epoch: number }>
  | Ev<'session_lost', { session: string; epoch: number }>
  | Ev<'session_ended', { session: string }>
  | Ev<'group_created', { group: string; owner: string }>
  | Ev<'join_requested', { group: string; user: string }>
  | Ev<'join_request_accepted', { group: string; user: string; by: string }>
  | Ev<'join_request_rejected', { group: string; user: string; by: string }>
  | Ev<'member_left', { group: string; user: string }>
  | Ev<'file_shared', FileSharedData>
  | Ev<'share_stopped', { group: string; name: string; user: string; peer: string }>
  | Ev<'swarm_joined', { group: string; name: string; user: string; peer: string }>;

interface Ev<T extends string, D> {
  readonly type: T;
  readonly data: D;
}

/** A file's manifest, and the member (user at peer address) who holds all of it. */
export interface FileSharedData extends FileManifest {
  readonly user: string;
  readonly peer: string;
}

export type EventType = DomainEvent['type'];
export type EventOf<T extends EventType> = Extract<DomainEvent, { type: T }>;

export const EVENT_TYPES: readonly EventType[] = [
  'user_created',
  'session_started',
  'session_resumed',
  'session_lost',
  'session_ended',
  'group_created',
  'join_requested',
  'join_request_accepted',
  'join_request_rejected',
  'member_left',
  'file_shared',
  'share_stopped',
  'swarm_joined',
];
