// Download tickets (Guarantee 6): only a tracker key can mint one, for one file, until it expires.
import { generateKeyPairSync, sign } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  decodePublicKey,
  encodePublicKey,
  MAX_TICKET_LENGTH,
  signingKeyFromSeed,
  signTicket,
  verifyTicket,
  type TicketClaims,
} from '../../src/wire/ticket.js';

const FILE = '0123456789abcdef0123456789abcdef01234567';
const OTHER_FILE = 'ffffffffffffffffffffffffffffffffffffffff';
const NOW = 1_700_000_000_000;
const tracker = signingKeyFromSeed(Buffer.alloc(32, 1));
const stranger = signingKeyFromSeed(Buffer.alloc(32, 2));
const claims: TicketClaims = { user: 'alice', group: 'team', fileId: FILE, expiresAt: NOW + 60_000 };

describe('download tickets', () => {
  it('accepts a ticket signed by any of the tracker keys, for its file, before expiry', () => {
    const ticket = signTicket(tracker.privateKey, claims);
    expect(verifyTicket([tracker.publicKey], ticket, FILE, NOW)).toEqual({ ok: true, claims });
    expect(verifyTicket([stranger.publicKey, tracker.publicKey], ticket, FILE, NOW).ok).toBe(true);
  });

  it('refuses a ticket signed by another key', () => {
    const ticket = signTicket(stranger.privateKey, claims);
    expect(verifyTicket([tracker.publicKey], ticket, FILE, NOW)).toEqual({ ok: false, code: 'TICKET_SIGNATURE' });
    expect(verifyTicket([], ticket, FILE, NOW)).toEqual({ ok: false, code: 'TICKET_SIGNATURE' });
  });

  it('refuses forged claims under a genuine signature', () => {
    const ticket = signTicket(tracker.privateKey, claims);
    const [, signature] = ticket.split('.');
    const forged = Buffer.from(JSON.stringify({ ...claims, group: 'admins' })).toString('base64url');
    expect(verifyTicket([tracker.publicKey], `${forged}.${signature}`, FILE, NOW)).toEqual({ ok: false, code: 'TICKET_SIGNATURE' });
  });

  it('refuses an expired ticket and a ticket for another file', () => {
    const ticket = signTicket(tracker.privateKey, claims);
    expect(verifyTicket([tracker.publicKey], ticket, FILE, claims.expiresAt)).toEqual({ ok: false, code: 'TICKET_EXPIRED' });
    expect(verifyTicket([tracker.publicKey], ticket, OTHER_FILE, NOW)).toEqual({ ok: false, code: 'TICKET_WRONG_FILE' });
  });

  it('refuses malformed tickets', () => {
    const good = signTicket(tracker.privateKey, claims);
    const [payload, signature] = good.split('.') as [string, string];
    const signed = (value: unknown): string => {
      const json = Buffer.from(JSON.stringify(value));
      // a real signature over bad claims: still malformed
      return `${json.toString('base64url')}.${sign(null, json, tracker.privateKey).toString('base64url')}`;
    };
    for (const ticket of [
      '',
      'x',
      `${payload}`,
      `${payload}.${signature}.extra`,
      `${payload}!.${signature}`,
      `${payload}.${signature.slice(0, -4)}`,
      'a'.repeat(MAX_TICKET_LENGTH + 1),
      signed({ ...claims, expiresAt: '1' }),
      signed({ ...claims, fileId: FILE.toUpperCase() }),
      signed({ ...claims, user: '' }),
      signed({ ...claims, admin: true }),
      signed([claims]),
    ]) {
      expect(verifyTicket([tracker.publicKey], ticket, FILE, NOW), ticket.slice(0, 40)).toEqual({ ok: false, code: 'TICKET_MALFORMED' });
    }
  });

  it('derives the same key from the same seed, and round-trips public keys', () => {
    const again = signingKeyFromSeed(Buffer.alloc(32, 1));
    expect(encodePublicKey(again.publicKey)).toBe(encodePublicKey(tracker.publicKey));
    const decoded = decodePublicKey(encodePublicKey(tracker.publicKey));
    expect(verifyTicket([decoded], signTicket(tracker.privateKey, claims), FILE, NOW).ok).toBe(true);
    expect(() => signingKeyFromSeed(Buffer.alloc(31))).toThrow(RangeError);
    const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey;
    expect(() => decodePublicKey(rsa.export({ format: 'der', type: 'spki' }).toString('base64'))).toThrow(TypeError);
  });
});
