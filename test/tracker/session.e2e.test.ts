/**
 * A scripted session of every metadata command, through real client processes against a
 * real tracker process, checking each reply: the rules users expect and the one-line
 * errors that say what is wrong and what to do.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cluster, waitFor } from '../helpers/cluster.js';
import { commandResults, runClient, type JsonResult } from '../helpers/client-process.js';

let cluster: Cluster;

beforeAll(async () => {
  cluster = await Cluster.create(1);
  await cluster.start(1);
});
afterAll(async () => cluster?.destroy());

/** Runs commands as one client and returns one result per command. */
async function as(commands: string[]): Promise<JsonResult[]> {
  const run = await runClient(cluster.infoFile, commands, { cwd: cluster.dir });
  const results = commandResults(run);
  expect(results, run.stderr).toHaveLength(commands.length);
  return results;
}

const codes = (results: JsonResult[]) => results.map((r) => (r.ok ? 'ok' : r.error!.code));

describe('a scripted session of every command', () => {
  it('accounts: create, duplicate, wrong password, unknown user, not logged in', async () => {
    const r = await as(['create_user alice pw-a', 'create_user alice other', 'login alice nope', 'login nobody pw', 'create_group g', 'login alice pw-a', 'login alice pw-a', 'logout', 'logout']);
    expect(codes(r)).toEqual(['ok', 'USER_EXISTS', 'WRONG_PASSWORD', 'UNKNOWN_USER', 'NOT_LOGGED_IN', 'ok', 'ALREADY_LOGGED_IN', 'ok', 'NOT_LOGGED_IN']);
    for (const failed of r.filter((x) => !x.ok)) {
      expect(failed.error!.message).not.toContain('\n');
      expect(failed.error!.message.length).toBeGreaterThan(10);
    }
  });

  it('usage: wrong argument count and unknown command say what to type', async () => {
    const r = await as(['login alice', 'frobnicate x', 'help login']);
    expect(codes(r)).toEqual(['USAGE', 'USAGE', 'ok']);
    expect(r[0]!.error!.message).toBe('login takes 2 arguments: login <user_id> <password>');
    expect(r[1]!.error!.message).toContain('type help');
  });

  it('groups: owner, requests, accept, reject, membership, ownership transfer, removal', async () => {
    await as(['create_user bob pw-b', 'create_user carol pw-c', 'create_user dave pw-d']);
    let r = await as(['login alice pw-a', 'create_group team', 'create_group team', 'list_groups']);
    expect(codes(r)).toEqual(['ok', 'ok', 'GROUP_EXISTS', 'ok']);
    expect(r[3]!.data).toEqual([{ group: 'team', owner: 'alice', members: 1, role: 'owner' }]);

    r = await as(['login bob pw-b', 'join_group team', 'join_group team', 'list_requests team', 'list_files team', 'join_group nope']);
    expect(codes(r)).toEqual(['ok', 'ok', 'ALREADY_REQUESTED', 'NOT_OWNER', 'NOT_MEMBER', 'NO_SUCH_GROUP']);
    await as(['login carol pw-c', 'join_group team']);
    await as(['login dave pw-d', 'join_group team']);

    r = await as(['login alice pw-a', 'list_requests team', 'accept_request team bob', 'accept_request team carol', 'reject_request team dave', 'accept_request team dave', 'list_requests team']);
    expect(codes(r)).toEqual(['ok', 'ok', 'ok', 'ok', 'ok', 'NO_SUCH_REQUEST', 'ok']);
    expect(r[1]!.data).toEqual(['bob', 'carol', 'dave']);
    expect(r[6]!.data).toEqual([]);

    r = await as(['login bob pw-b', 'accept_request team carol', 'leave_group team', 'leave_group team']);
    expect(codes(r)).toEqual(['ok', 'NOT_OWNER', 'ok', 'NOT_MEMBER']);

    // The owner leaves: the longest-standing remaining member (carol) takes over.
    r = await as(['login alice pw-a', 'leave_group team', 'list_groups']);
    expect(codes(r)).toEqual(['ok', 'ok', 'ok']);
    expect(r[2]!.data).toEqual([{ group: 'team', owner: 'carol', members: 1, role: null }]);

    // The last member leaves: the group is gone.
    r = await as(['login carol pw-c', 'leave_group team', 'list_groups']);
    expect(r[2]!.data).toEqual([]);
  });

  it('ownership passes to the longest-standing member, in join order', async () => {
    await as(['login alice pw-a', 'create_group club']);
    for (const [user, pw] of [['dave', 'pw-d'], ['bob', 'pw-b'], ['carol', 'pw-c']]) await as([`login ${user} ${pw}`, 'join_group club']);
    await as(['login alice pw-a', 'accept_request club dave', 'accept_request club bob', 'accept_request club carol', 'leave_group club']);
    let r = await as(['login bob pw-b', 'list_groups']);
    expect(r[1]!.data).toEqual([{ group: 'club', owner: 'dave', members: 3, role: 'member' }]);
    await as(['login dave pw-d', 'leave_group club']);
    r = await as(['login carol pw-c', 'list_groups']);
    expect(r[1]!.data).toEqual([{ group: 'club', owner: 'bob', members: 2, role: 'member' }]);
  });

  it('files: only members upload and list; stop_share; a file with no seeder left disappears', async () => {
    const file = join(cluster.dir, 'notes.txt');
    writeFileSync(file, 'x'.repeat(600 * 1024));
    await as(['login alice pw-a', 'create_group docs']);
    await as(['login bob pw-b', 'join_group docs']);
    let r = await as(['login bob pw-b', `upload_file ${file} docs`, 'list_files docs']);
    expect(codes(r)).toEqual(['ok', 'NOT_MEMBER', 'NOT_MEMBER']);

    r = await as(['login alice pw-a', 'accept_request docs bob', `upload_file ${file} docs`, 'list_files docs', `upload_file ${join(cluster.dir, 'missing.bin')} docs`]);
    expect(codes(r)).toEqual(['ok', 'ok', 'ok', 'ok', 'NO_SUCH_LOCAL_FILE']);
    expect(r[3]!.data).toEqual([{ name: 'notes.txt', size: 600 * 1024, sha1: expect.stringMatching(/^[0-9a-f]{40}$/), seeders: 1, leechers: 0, seedersOnline: 1 }]);

    // Same name, different content: refused. Same content: one more seeder.
    const sameName = join(cluster.dir, 'copy');
    mkdirSync(sameName, { recursive: true });
    writeFileSync(join(sameName, 'notes.txt'), 'different content');
    r = await as(['login bob pw-b', `upload_file ${join(sameName, 'notes.txt')} docs`, `upload_file ${file} docs`, 'list_files docs', 'stop_share docs notes.txt', 'stop_share docs notes.txt']);
    expect(codes(r)).toEqual(['ok', 'FILE_EXISTS', 'ok', 'ok', 'ok', 'NOT_SEEDING']);
    expect(r[3]!.data).toEqual([expect.objectContaining({ seeders: 2, seedersOnline: 1 })]); // alice's client has exited

    r = await as(['login alice pw-a', 'stop_share docs notes.txt', 'list_files docs', 'stop_share docs notes.txt']);
    expect(codes(r)).toEqual(['ok', 'ok', 'ok', 'NO_SUCH_FILE']);
    expect(r[2]!.data).toEqual([]);
  });

  it('a command that fails changes nothing', async () => {
    // Earlier clients' disconnects (session_lost) must have landed before the baseline.
    const before = await waitFor('a quiescent tracker', async () => {
      const a = await cluster.health(1);
      await new Promise((r) => setTimeout(r, 300));
      const b = await cluster.health(1);
      return a.stateHash === b.stateHash ? b.stateHash : undefined;
    });
    await as(['login alice wrong', 'create_user alice again', 'create_group', 'join_group nowhere', 'login nobody pw', 'upload_file /nonexistent docs']);
    expect((await cluster.health(1)).stateHash).toBe(before);
  });
});
