/**
 * Why a command was refused: a stable code that tests and scripts match, and one
 * message for the user that says what is wrong and what to do.
 */
export type RejectionCode =
  | 'INVALID_ARGUMENT'
  | 'NOT_LOGGED_IN'
  | 'ALREADY_LOGGED_IN'
  | 'UNKNOWN_USER'
  | 'WRONG_PASSWORD'
  | 'USER_EXISTS'
  | 'SESSION_EXPIRED'
  | 'NO_SUCH_GROUP'
  | 'GROUP_EXISTS'
  | 'ALREADY_MEMBER'
  | 'ALREADY_REQUESTED'
  | 'NOT_MEMBER'
  | 'NOT_OWNER'
  | 'NO_SUCH_REQUEST'
  | 'NO_SUCH_FILE'
  | 'FILE_EXISTS'
  | 'NOT_SEEDING'
  /** Not a domain rule: the tracker holds commands while it catches up its own origin. Retryable. */
  | 'TRACKER_CATCHING_UP'
  /** Not a domain rule: the tracker read the command too long ago (it was stalled) and did not run it. Retryable. */
  | 'TIMED_OUT';

export interface Rejection {
  readonly code: RejectionCode;
  readonly message: string;
}

/** Line breaks and other control characters, which a message may echo from a name the user typed. */
const UNPRINTABLE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g;

/** The message is kept to one printable line: unprintable characters are shown escaped (\u000a). */
export function reject(code: RejectionCode, message: string): Rejection {
  return { code, message: message.replace(UNPRINTABLE, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`) };
}
