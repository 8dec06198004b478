// Positional reads and writes on a real file: they finish what one system call may leave
// short, and a read stops at the end of the file, saying how much it got.
import { mkdtempSync, rmSync } from 'node:fs';
import { open, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { readFully, writeFully } from '../../src/client/positional-io.js';

describe('positional io', () => {
  let dir: string;
  beforeEach(() => void (dir = mkdtempSync(join(tmpdir(), 'positional-io-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('reads all of a buffer from the middle of a file', async () => {
    const path = join(dir, 'ten');
    await writeFile(path, '0123456789');
    const handle = await open(path, 'r');
    try {
      const target = Buffer.alloc(4);
      expect(await readFully(handle, target, 3)).toBe(4);
      expect(target.toString()).toBe('3456');
    } finally {
      await handle.close();
    }
  });

  it('stops at the end of the file and returns what it read', async () => {
    const path = join(dir, 'ten');
    await writeFile(path, '0123456789');
    const handle = await open(path, 'r');
    try {
      const target = Buffer.alloc(8, '.');
      expect(await readFully(handle, target, 6)).toBe(4);
      expect(target.toString()).toBe('6789....');
      expect(await readFully(handle, target, 10)).toBe(0);
    } finally {
      await handle.close();
    }
  });

  it('writes at an offset and reads back the same bytes', async () => {
    const path = join(dir, 'big');
    const data = Buffer.alloc(3 * 1024 * 1024 + 17);
    for (let i = 0; i < data.length; i++) data[i] = (i * 31) & 0xff;
    const handle = await open(path, 'w+');
    try {
      await writeFully(handle, data, 4096);
      const back = Buffer.alloc(data.length);
      expect(await readFully(handle, back, 4096)).toBe(data.length);
      expect(back.equals(data)).toBe(true);
      expect((await handle.stat()).size).toBe(4096 + data.length);
    } finally {
      await handle.close();
    }
  });
});
