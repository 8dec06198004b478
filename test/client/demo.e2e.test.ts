/** `npm run demo` exits 0 and shows the hash check and the failover. */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/cluster.js';

describe('npm run demo', () => {
  it('exits 0 after the hash check and the failover', async () => {
    const proc = spawn(process.execPath, [join(ROOT, 'dist/bin/demo.js'), '--size', '48'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    proc.stdout.on('data', (d: Buffer) => (out += d.toString()));
    proc.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const timer = setTimeout(() => proc.kill('SIGKILL'), 90_000);
    const code = await new Promise<number | null>((r) => proc.once('exit', r));
    clearTimeout(timer);
    expect(out).toMatch(/✓ hash check: ([0-9a-f]{40}) == \1/);
    expect(out).toMatch(/✓ failover: tracker 1 killed mid-download, dave carried on with tracker 2/);
    expect(out).toMatch(/switched to tracker 2/);
    expect(out).toMatch(/✓ state hashes of both trackers equal/);
    expect(out).toContain('all checks passed');
    expect(code).toBe(0);
  }, 100_000);
});
