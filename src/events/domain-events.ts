/**
 * Events: facts a tracker accepted. Every state change in the system is one of these,
 * appended to the log, replicated, and folded by `evolve`. Names are past tense.
 * Secrets never appear here: passwords only as salted scrypt hashes, sessions only by
 * their id (a client's token also needs the cluster secret, see session-tokens).
 *
 * `account` names the account that did it: two trackers cut off from each other may
 * each create a user of the same name, and only the first creation in fold order owns
 * the name (see `Account` in state.ts). What the other account's sessions did is then
 * void, not done in the winner's name. Events written before accounts existed lack it.
 */
import type { FileManifest } from '../wire/manifest.js';

export type DomainEvent =
  | Ev<'user_created', { user: string; passwordHash: string }>
  | Ev<'session_started', Acted<{ session: string; user: string; peer: string }>>
  | Ev<'session_resumed', { session: string; epoch: number }>
  | Ev<'session_lost', { session: string; epoch: number }>
  | Ev<'session_ended', { session: string }>
  | Ev<'group_created', Acted<{ group: string; owner: string }>>
  | Ev<'join_requested', Acted<{ group: string; user: string }>>
  | Ev<'join_request_accepted', Acted<{ group: string; user: string; by: string }>>
  | Ev<'join_request_rejected', Acted<{ group: string; user: string; by: string }>>
  | Ev<'member_left', Acted<{ group: string; user: string }>>
  | Ev<'file_shared', FileSharedData>
  | Ev<'share_stopped', Acted<{ group: string; name: string; user: string; peer: string }>>
  | Ev<'swarm_joined', Acted<{ group: string; name: string; user: string; peer: string }>>;

/** Data of an event a logged-in user's command made. */
type Acted<D> = D & { account?: string };

interface Ev<T extends string, D> {
  readonly type: T;
  readonly data: D;
}

/** A file's manifest, and the member (user at peer address) who holds all of it. */
export interface FileSharedData extends FileManifest {
  readonly user: string;
  readonly peer: string;
  readonly account?: string;
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
