/**
 * `tracker FILE N` with an N the file does not list: refused before anything is created,
 * naming the file the operator gave. A tracker that cannot listen leaves no new data dir.
 */
import { createServer } from 'node:net';
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

  it('a port already in use is refused with a hint, and the data dir this start made is gone again', async () => {
    const busy = createServer();
    await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = busy.address() as { port: number };
      const info = join(dir, 'busy.txt');
      writeFileSync(info, `127.0.0.1:${port}\n`);
      const run = await trackerCli([info, '1', '--data-dir', join(dir, 'data-busy')], { timeoutMs: 20_000 });
      expect(run.code).toBe(1);
      expect(run.stderr).toContain(`cannot listen on 127.0.0.1:${port}: EADDRINUSE (is another tracker already running there?)`);
      expect(existsSync(join(dir, 'data-busy'))).toBe(false);
    } finally {
      busy.close();
    }
  });
});
