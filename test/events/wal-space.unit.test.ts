import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { reserveWal } from '../../src/events/log/wal-space.js';
import { tempDir } from '../helpers/envelopes.js';

let dir: ReturnType<typeof tempDir>;
beforeEach(() => {
  dir = tempDir();
});
afterEach(() => dir.remove());

describe('reserveWal', () => {
  test('given no file, then it is created with that many zero bytes', () => {
    reserveWal(dir.file('x-wal'), 3 * 1024 * 1024 + 5);
    const bytes = readFileSync(dir.file('x-wal'));
    expect(bytes.length).toBe(3 * 1024 * 1024 + 5);
    expect(bytes.every((b) => b === 0)).toBe(true);
  });

  test('given a shorter file, then what it holds is kept and only zeros are added after it', () => {
    writeFileSync(dir.file('x-wal'), 'frames');
    reserveWal(dir.file('x-wal'), 4096);
    const bytes = readFileSync(dir.file('x-wal'));
    expect(bytes.subarray(0, 6).toString()).toBe('frames');
    expect(bytes.length).toBe(4096);
    expect(bytes.subarray(6).every((b) => b === 0)).toBe(true);
  });

  test('given a longer file (a WAL a burst grew), then it is left as it is', () => {
    writeFileSync(dir.file('x-wal'), Buffer.alloc(8192, 7));
    reserveWal(dir.file('x-wal'), 4096);
    expect(statSync(dir.file('x-wal')).size).toBe(8192);
    expect(readFileSync(dir.file('x-wal')).every((b) => b === 7)).toBe(true);
  });
});
