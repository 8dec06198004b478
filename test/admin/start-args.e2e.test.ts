/**
 * `tracker FILE N` with an N the file does not list: refused before anything is created,
 * naming the file the operator gave.
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { trackerCli } from './admin-cli.js';

const dir = mkdtempSync(join(tmpdir(), 'p2p-start-args-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('tracker start arguments', () => {
  it('a tracker number past the end of the file names that file, and creates no data dir', async () => {
    const info = join(dir, 'ti.txt');
    writeFileSync(info, '127.0.0.1:1\n127.0.0.1:2\n');
    const run = await trackerCli([info, '3', '--data-dir', join(dir, 'data-3')]);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(`tracker 3 is not listed: ${info} has 2 trackers`);
    expect(existsSync(join(dir, 'data-3'))).toBe(false);
  });
});
