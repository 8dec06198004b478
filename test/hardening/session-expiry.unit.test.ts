// Sessions expire by the time that comes with the command (the pure core reads no clock):
// a session is as old as its session_started event's hlc; past maxAgeMs it cannot resume,
// and expire_session ends it with session_ended (so both trackers forget it).
import { describe, test } from 'vitest';
import type { Command } from '../../src/events/index.js';
import { BASE_MS, given } from '../helpers/decider.js';
import { ev, sessionOf } from '../helpers/fixtures.js';

const DAY = 24 * 60 * 60 * 1000;
const startedAt = BASE_MS + 1; // the session_started below is the second event folded
const aliceLoggedIn = [ev.userCreated('alice'), ev.sessionStarted('alice')];
const resume = (now: number): Command => ({ type: 'resume_session', data: { session: sessionOf('alice'), now, maxAgeMs: 7 * DAY } });
const expire = (now: number, session = sessionOf('alice')): Command => ({ type: 'expire_session', data: { session, now, maxAgeMs: 7 * DAY } });

describe('session lifetime', () => {
  test('given a session younger than its lifetime, when it resumes, then it resumes', () => {
    given(aliceLoggedIn).when(resume(startedAt + 7 * DAY - 1)).then([ev.sessionResumed('alice', 1)]);
  });

  test('given a session as old as its lifetime, when it resumes, then SESSION_EXPIRED', () => {
    given(aliceLoggedIn).when(resume(startedAt + 7 * DAY)).thenRejects('SESSION_EXPIRED');
  });

  test('given an old session, when it is expired, then it ends', () => {
    given(aliceLoggedIn).when(expire(startedAt + 8 * DAY)).then([ev.sessionEnded('alice')]);
  });

  test('given a young session, or none, when it is expired, then nothing happens', () => {
    given(aliceLoggedIn).when(expire(startedAt + DAY)).then([]);
    given(aliceLoggedIn).when(expire(startedAt + 8 * DAY, 'no-such-session')).then([]);
  });

  test('given a resume without a time (older callers), when it resumes, then no lifetime applies', () => {
    given(aliceLoggedIn).when({ type: 'resume_session', data: { session: sessionOf('alice') } }).then([ev.sessionResumed('alice', 1)]);
  });
});
