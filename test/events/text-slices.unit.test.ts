import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { textHash } from '../../src/events/state-codec.js';
import { textSlices, utf8Slices } from '../../src/events/text-slices.js';

const MIB = 1024 * 1024;
const oneUpdate = (text: string) => createHash('sha256').update(text).digest('hex');

describe('textSlices', () => {
  it('cuts a text into slices of at most maxChars that join back into it', () => {
    const text = 'abcdefghij'.repeat(7);
    const slices = textSlices(text, 16);
    expect(slices.join('')).toBe(text);
    expect(slices.map((s) => s.length)).toEqual([16, 16, 16, 16, 6]);
  });

  it('never cuts a surrogate pair: the slice before it ends one short', () => {
    const text = 'abc😀def'; // the emoji is 2 UTF-16 units, at 3 and 4
    const slices = textSlices(text, 4);
    expect(slices).toEqual(['abc', '😀de', 'f']);
    for (const s of slices) expect(Buffer.from(s).toString()).toBe(s); // each slice is whole characters
  });

  it('gives one empty slice for the empty text, and refuses slices too small to hold a pair', () => {
    expect(textSlices('', 8)).toEqual(['']);
    expect(() => textSlices('ab', 1)).toThrow(RangeError);
  });
});

describe('utf8Slices', () => {
  const utf8 = (text: string) => new TextEncoder().encode(text);
  const decoded = (bytes: Uint8Array) => new TextDecoder('utf-8', { fatal: true }).decode(bytes);

  it('cuts UTF-8 into slices of at most maxBytes, views of it, that join back into it', () => {
    const bytes = utf8('abcdefghij'.repeat(7));
    const slices = utf8Slices(bytes, 16);
    expect(slices.map((s) => s.length)).toEqual([16, 16, 16, 16, 6]);
    expect(Buffer.concat(slices).equals(bytes)).toBe(true);
    expect(slices.every((s) => s.buffer === bytes.buffer)).toBe(true);
  });

  it('never cuts inside a character: each slice decodes on its own', () => {
    const text = 'ab€😀cdé'; // 2 + 3 + 4 + 2 + 2 bytes
    const slices = utf8Slices(utf8(text), 4);
    expect(slices.map(decoded)).toEqual(['ab', '€', '😀', 'cdé']); // the first cut, at 4, would fall inside €
    expect(slices.map(decoded).join('')).toBe(text);
  });

  it('gives one empty slice for no bytes, and refuses slices too small to hold a character', () => {
    expect(utf8Slices(new Uint8Array(0), 8)).toHaveLength(1);
    expect(() => utf8Slices(utf8('ab'), 3)).toThrow(RangeError);
  });
});

describe('textHash', () => {
  it('gives the UTF-8 of a text the same hash as the text', () => {
    const text = 'x'.repeat(MIB) + '😀é';
    expect(textHash(new TextEncoder().encode(text))).toBe(textHash(text));
  });

  it('hashes in slices exactly as one update of the whole text would, astral characters across the cuts included', () => {
    for (const at of [MIB - 1, MIB, MIB + 1, 2 * MIB - 1]) {
      const text = 'x'.repeat(at) + '😀é' + 'y'.repeat(MIB / 2) + '😀';
      expect(textHash(text)).toBe(oneUpdate(text));
    }
    expect(textHash('')).toBe(oneUpdate(''));
  });
});
