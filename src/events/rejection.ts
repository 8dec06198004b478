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
  | 'NOT_SEEDING';

export interface Rejection {
  readonly code: RejectionCode;
  readonly message: string;
}

export function reject(code: RejectionCode, message: string): Rejection {
  return { code, message };
}
