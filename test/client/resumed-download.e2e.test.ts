/**
 * A download interrupted by a crash resumes at the next login, and show_downloads right
 * after that login counts the pieces already on disk (it used to show 0% until the
 * .part file had been opened again).
 */
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { freePort, waitFor } from '../helpers/cluster.js';
import { oneTrackerClients } from '../helpers/one-tracker-clients.js';

const on = oneTrackerClients();

interface DownloadRow {
  readonly status: string;
  readonly piecesDone?: number;
}

describe('a download resumed after a crash', () => {
  it('shows the pieces it already has in show_downloads right after login', async () => {
    const file = join(on.cluster.dir, 'movie.bin');
    writeFileSync(file, randomBytes(6 * 512 * 1024));
    const ann = on.client('ann', await freePort());
    for (const c of ['create_user ann pw', 'login ann pw', 'create_group g', `upload_file ${file} g`]) await ann.must(c);
    const bobPort = await freePort();
    const bob = on.client('bob', bobPort, ['--max-download-rate', '1M']);
    for (const c of ['create_user bob pw', 'login bob pw', 'join_group g']) await bob.must(c);
    await ann.must('accept_request g bob');
    await bob.must(`download_file g movie.bin ${join(on.cluster.dir, 'movie-copy.bin')}`);
    await waitFor('two pieces on disk', async () => (((await bob.must('show_downloads')) as DownloadRow[])[0]!.piecesDone! >= 2 ? true : undefined), 15_000);
    await new Promise((r) => setTimeout(r, 600)); // its progress record is written every 250 ms
    await bob.kill('SIGKILL');

    const again = on.client('bob', bobPort, ['--max-download-rate', '1M']);
    const [login, shown] = await Promise.all([again.send('login bob pw'), again.send('show_downloads')]); // the second right after the first
    expect(login.data).toMatchObject({ resumed: 1 });
    const [row] = shown.data as DownloadRow[];
    expect(row).toMatchObject({ status: 'downloading' });
    expect(row!.piecesDone).toBeGreaterThanOrEqual(2);
  }, 40_000);
});
