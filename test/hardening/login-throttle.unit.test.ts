/**
 * The login throttle slows guessing without locking out honest users: many clients on
 * one address (a machine, a NAT) may log in at once; only real failures count against
 * the address, while parallel attempts at one account count before they are checked.
 */
import { describe, expect, it } from 'vitest';
import { LoginThrottle, MAX_FAILED_LOGINS_PER_ADDRESS, MAX_FAILED_LOGINS_PER_USER } from '../../src/tracker/login-throttle.js';

describe('login throttle', () => {
  it('lets many honest users log in at once from one address', () => {
    const throttle = new LoginThrottle(() => 1_000);
    const users = Array.from({ length: MAX_FAILED_LOGINS_PER_ADDRESS * 3 }, (_, i) => `u${i}`);
    for (const u of users) expect(throttle.attempt(u, '127.0.0.1')).toBe(0); // all in flight together
    for (const u of users) throttle.succeeded(u, '127.0.0.1');
    expect(throttle.attempt('late', '127.0.0.1')).toBe(0);
  });

  it('slows an address down after real failures', () => {
    const throttle = new LoginThrottle(() => 1_000);
    for (let i = 0; i < MAX_FAILED_LOGINS_PER_ADDRESS; i++) {
      expect(throttle.attempt(`guess${i}`, '10.0.0.9')).toBe(0);
      throttle.failed(`guess${i}`, '10.0.0.9');
    }
    expect(throttle.attempt('another', '10.0.0.9')).toBeGreaterThan(0);
    expect(throttle.attempt('another', '10.0.0.10')).toBe(0);
  });

  it('counts parallel attempts at one account before they are checked', () => {
    const throttle = new LoginThrottle(() => 1_000);
    for (let i = 0; i < MAX_FAILED_LOGINS_PER_USER; i++) expect(throttle.attempt('alice', `10.0.0.${i}`)).toBe(0);
    expect(throttle.attempt('alice', '10.0.0.99')).toBeGreaterThan(0);
  });
});
