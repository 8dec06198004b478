/**
 * Shares a client no longer serves. A file edited on disk after it was shared no longer
 * matches its piece hashes: the seeder stops serving it at once and says so, and stops
 * being listed as its seeder; a client restarted after the edit does not share it again. (A leecher that got
 * pieces of the edited file already drops the seeder for them: BAD_PEERS, see
 * test/p2p/hostile-peer.int.test.ts.) A share the tracker refuses at login for good (its
 * user left the group meanwhile) is not served either, and is forgotten.
 */
import { randomBytes } from 'node:crypto';
import { utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { freePort } from '../helpers/cluster.js';
import { oneTrackerClients } from '../helpers/one-tracker-clients.js';

const on = oneTrackerClients();

describe('a shared file edited on disk', () => {
  it('is no longer served or listed once the seeder notices, and not shared again after a restart', async () => {
    const file = join(on.cluster.dir, 'report.bin');
    writeFileSync(file, randomBytes(3 * 512 * 1024));
    const annPort = await freePort();
    const ann = on.client('ann', annPort);
    for (const c of ['create_user ann pw', 'login ann pw', 'create_group g', `upload_file ${file} g`]) await ann.must(c);
    const bob = on.client('bob', await freePort());
    for (const c of ['create_user bob pw', 'login bob pw', 'join_group g']) await bob.must(c);
    await ann.must('accept_request g bob');

    writeFileSync(file, randomBytes(3 * 512 * 1024)); // same size, other bytes
    utimesSync(file, new Date(), new Date(Date.now() + 10_000));
    await new Promise((r) => setTimeout(r, 1100)); // past CHANGE_CHECK_INTERVAL_MS since it was shared
    await bob.must(`download_file g report.bin ${join(on.cluster.dir, 'bob-report.bin')}`);

    const notice = await ann.waitForEvent('notice', 10_000);
    expect(String(notice.message)).toContain(`stopped sharing report.bin in g: ${file} was modified after it was shared; upload_file ${file} g`);
    const files = (await bob.send('list_files g')).data as { name: string; seeders: number }[];
    expect(files.find((f) => f.name === 'report.bin')?.seeders ?? 0).toBe(0);

    // Restarted: the record of the share is gone, so nothing is shared again.
    await ann.kill('SIGTERM');
    const again = on.client('ann', annPort);
    expect(await again.must('login ann pw')).toMatchObject({ reshared: 0 });
  }, 40_000);

  it('refused by the tracker at login for good (left the group meanwhile): not served, and forgotten', async () => {
    const file = join(on.cluster.dir, 'plan.bin');
    writeFileSync(file, randomBytes(1000));
    const annPort = await freePort();
    const ann = on.client('ann', annPort);
    for (const c of ['create_user ann pw', 'login ann pw', 'create_group g', `upload_file ${file} g`]) await ann.must(c);
    await ann.kill('SIGTERM');
    const bob = on.client('bob', await freePort());
    for (const c of ['create_user bob pw', 'login bob pw', 'join_group g']) await bob.must(c);
    const elsewhere = on.client('ann-elsewhere', await freePort()); // ann, on another client
    for (const c of ['login ann pw', 'accept_request g bob', 'leave_group g']) await elsewhere.must(c);

    const again = on.client('ann', annPort);
    expect(await again.must('login ann pw')).toMatchObject({ reshared: 0 });
    expect(String(again.events.find((e) => e.event === 'notice')?.message)).toContain('no longer sharing plan.bin in g: you are not a member of g');
    expect(await again.must('show_shares')).toEqual([]);
    await again.kill('SIGTERM');
    const third = on.client('ann', annPort);
    await third.must('login ann pw');
    expect(third.events.filter((e) => e.event === 'notice')).toEqual([]); // forgotten: nothing to say at the next login
  }, 40_000);

  it('while its client was not running: not shared again at the next login, and the user is told', async () => {
    const file = join(on.cluster.dir, 'notes.bin');
    writeFileSync(file, randomBytes(512 * 1024 + 7));
    const annPort = await freePort();
    const ann = on.client('ann', annPort);
    for (const c of ['create_user ann pw', 'login ann pw', 'create_group g', `upload_file ${file} g`]) await ann.must(c);
    await ann.kill('SIGTERM');
    writeFileSync(file, randomBytes(512 * 1024 + 7)); // same size: only the modification time tells
    utimesSync(file, new Date(), new Date(Date.now() + 10_000));

    const again = on.client('ann', annPort);
    expect(await again.must('login ann pw')).toMatchObject({ reshared: 0 });
    const notice = again.events.find((e) => e.event === 'notice');
    expect(String(notice?.message)).toContain(`no longer sharing notes.bin: ${file} is missing or was modified since it was shared`);
  }, 40_000);
});
