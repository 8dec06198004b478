/**
 * The rules users expect from the tracker, one test each: decide (and the read models
 * in queries.ts) over states built by folding events.
 */
import { describe, expect, test } from 'vitest';
import { downloadInfo, listFiles, listGroups, listRequests, type State } from '../../src/events/index.js';
import { PIECE_SIZE } from '../../src/wire/manifest.js';
import { foldAll, given } from '../helpers/decider.js';
import { aliceOwnsG, bobInG, cmd, ev, fileShape, peerOf } from '../helpers/fixtures.js';

const fileNames = (state: State, actor: string, group: string): string[] => {
  const files = listFiles(state, actor, group);
  if (!files.ok) throw new Error(files.rejection.message);
  return files.value.map((f) => f.name);
};

const peersFor = (state: State, actor: string, name: string, group = 'g'): string[] => {
  const info = downloadInfo(state, actor, peerOf(actor), group, name);
  if (!info.ok) throw new Error(info.rejection.message);
  return info.value.peers.map((p) => `${p.user}@${p.host}:${p.port}`);
};
const at = (user: string): string => `${user}@${peerOf(user)}`;

describe('create_user', () => {
  test('given no users, when alice signs up, then alice is created', () => {
    given([]).when(cmd.createUser('alice', 'scrypt:salt:hash')).then([ev.userCreated('alice', 'scrypt:salt:hash')]);
  });

  test.each(['', ' alice', 'al ice', '-alice', '.alice', 'al/ice', 'al\nice', 'x'.repeat(65)])('given anything, when the user id is %j, then INVALID_ARGUMENT', (user) => {
    given([]).when(cmd.createUser(user)).thenRejects('INVALID_ARGUMENT');
  });

  test('given a 64-character id, when signing up, then it is accepted (the limit is inclusive)', () => {
    const user = 'a'.repeat(64);
    given([]).when(cmd.createUser(user)).then([ev.userCreated(user)]);
  });

  test('given alice exists, when alice signs up again, then USER_EXISTS', () => {
    given([ev.userCreated('alice')]).when(cmd.createUser('alice', 'other')).thenRejects('USER_EXISTS');
  });
});

describe('login, sessions, logout', () => {
  test('given no such user, when logging in, then UNKNOWN_USER', () => {
    given([ev.userCreated('alice')]).when(cmd.login('bob')).thenRejects('UNKNOWN_USER');
  });

  test('given alice exists, when she logs in, then a session starts at her peer address', () => {
    given([ev.userCreated('alice')]).when(cmd.login('alice')).then([ev.sessionStarted('alice')]);
  });

  test('given a session at epoch 0, when it resumes, then it resumes at epoch 1', () => {
    given([ev.userCreated('alice'), ev.sessionStarted('alice')]).when(cmd.resume('alice')).then([ev.sessionResumed('alice', 1)]);
  });

  test('given a session that ended, when it resumes, then SESSION_EXPIRED', () => {
    given([ev.userCreated('alice'), ev.sessionStarted('alice'), ev.sessionEnded('alice')]).when(cmd.resume('alice')).thenRejects('SESSION_EXPIRED');
  });

  test('given an online session at epoch 1, when the connection at epoch 1 is lost, then session_lost', () => {
    given([ev.userCreated('alice'), ev.sessionStarted('alice'), ev.sessionResumed('alice', 1)]).when(cmd.lose('alice', 1)).then([ev.sessionLost('alice', 1)]);
  });

  test('given a session resumed at epoch 1, when the old connection (epoch 0) is lost, then nothing happens', () => {
    given([ev.userCreated('alice'), ev.sessionStarted('alice'), ev.sessionResumed('alice', 1)]).when(cmd.lose('alice', 0)).then([]);
  });

  test('given a session already offline, when it is lost again, then nothing happens', () => {
    given([ev.userCreated('alice'), ev.sessionStarted('alice'), ev.sessionLost('alice', 0)]).when(cmd.lose('alice', 0)).then([]);
  });

  test('given a logged-in user, when they log out, then the session ends', () => {
    given([ev.userCreated('alice'), ev.sessionStarted('alice')]).when(cmd.logout('alice')).then([ev.sessionEnded('alice')]);
  });

  test('given no session, when logging out, then NOT_LOGGED_IN', () => {
    given([ev.userCreated('alice')]).when(cmd.logout('alice')).thenRejects('NOT_LOGGED_IN');
  });
});

describe('create_group', () => {
  test('given alice, when she creates g, then she is its owner and first member', () => {
    const state = given([ev.userCreated('alice')]).when(cmd.createGroup('alice', 'g')).then([ev.groupCreated('g', 'alice')]);
    expect(state.groups.get('g')).toMatchObject({ owner: 'alice', members: ['alice'], requests: [] });
    expect(listGroups(state, 'alice')).toEqual([{ group: 'g', owner: 'alice', members: 1, role: 'owner' }]);
    expect(listFiles(state, 'alice', 'g')).toEqual({ ok: true, value: [] });
  });

  test('given g exists, when someone creates g, then GROUP_EXISTS', () => {
    given(aliceOwnsG).when(cmd.createGroup('bob', 'g')).thenRejects('GROUP_EXISTS');
  });

  test.each(['', 'g h', '_g', 'g/h', 'g\u0000'])('given alice, when she creates group %j, then INVALID_ARGUMENT', (group) => {
    given([ev.userCreated('alice')]).when(cmd.createGroup('alice', group)).thenRejects('INVALID_ARGUMENT');
  });
});

describe('join_group', () => {
  test('given g, when bob asks to join, then his request is pending for the owner', () => {
    const state = given(aliceOwnsG).when(cmd.joinGroup('bob', 'g')).then([ev.joinRequested('g', 'bob')]);
    expect(listRequests(state, 'alice', 'g')).toEqual({ ok: true, value: ['bob'] });
    expect(listGroups(state, 'bob')[0]?.role).toBe('pending');
  });

  test('given no group h, when bob asks to join h, then NO_SUCH_GROUP', () => {
    given(aliceOwnsG).when(cmd.joinGroup('bob', 'h')).thenRejects('NO_SUCH_GROUP');
  });

  test('given alice owns g, when she asks to join it, then ALREADY_MEMBER', () => {
    given(aliceOwnsG).when(cmd.joinGroup('alice', 'g')).thenRejects('ALREADY_MEMBER');
  });

  test('given bob is a member, when he asks to join again, then ALREADY_MEMBER', () => {
    given(bobInG).when(cmd.joinGroup('bob', 'g')).thenRejects('ALREADY_MEMBER');
  });

  test('given bob already asked, when he asks again, then ALREADY_REQUESTED', () => {
    given([...aliceOwnsG, ev.joinRequested('g', 'bob')]).when(cmd.joinGroup('bob', 'g')).thenRejects('ALREADY_REQUESTED');
  });
});

describe('accept_request / reject_request', () => {
  const bobAsked = [...aliceOwnsG, ev.joinRequested('g', 'bob')];

  test('given bob asked, when the owner accepts, then bob becomes a member and the request is gone', () => {
    const state = given(bobAsked).when(cmd.accept('alice', 'g', 'bob')).then([ev.accepted('g', 'bob', 'alice')]);
    expect(state.groups.get('g')?.members).toEqual(['alice', 'bob']);
    expect(listRequests(state, 'alice', 'g')).toEqual({ ok: true, value: [] });
    expect(listFiles(state, 'bob', 'g').ok).toBe(true);
    expect(listGroups(state, 'bob')[0]?.role).toBe('member');
  });

  test('given bob asked, when the owner rejects, then the request is removed and bob is not a member', () => {
    const state = given(bobAsked).when(cmd.reject('alice', 'g', 'bob')).then([ev.rejected('g', 'bob', 'alice')]);
    expect(listRequests(state, 'alice', 'g')).toEqual({ ok: true, value: [] });
    expect(state.groups.get('g')?.members).toEqual(['alice']);
    expect(listGroups(state, 'bob')[0]?.role).toBeNull();
  });

  test('given bob was rejected, when he asks again, then a new request is pending', () => {
    given([...bobAsked, ev.rejected('g', 'bob', 'alice')]).when(cmd.joinGroup('bob', 'g')).then([ev.joinRequested('g', 'bob')]);
  });

  test('given carol asked and bob is a member, when bob (not the owner) accepts, then NOT_OWNER', () => {
    given([...bobInG, ev.joinRequested('g', 'carol')]).when(cmd.accept('bob', 'g', 'carol')).thenRejects('NOT_OWNER');
  });

  test('given carol asked, when carol rejects herself, then NOT_OWNER', () => {
    given([...aliceOwnsG, ev.joinRequested('g', 'carol')]).when(cmd.reject('carol', 'g', 'carol')).thenRejects('NOT_OWNER');
  });

  test('given no request from carol, when the owner accepts carol, then NO_SUCH_REQUEST', () => {
    given(bobAsked).when(cmd.accept('alice', 'g', 'carol')).thenRejects('NO_SUCH_REQUEST');
  });

  test('given no request from carol, when the owner rejects carol, then NO_SUCH_REQUEST', () => {
    given(bobAsked).when(cmd.reject('alice', 'g', 'carol')).thenRejects('NO_SUCH_REQUEST');
  });

  test('given no group h, when accepting into h, then NO_SUCH_GROUP', () => {
    given(bobAsked).when(cmd.accept('alice', 'h', 'bob')).thenRejects('NO_SUCH_GROUP');
  });
});

describe('list_requests', () => {
  const twoAsked = [...bobInG, ev.joinRequested('g', 'dave'), ev.joinRequested('g', 'carol')];

  test('given two pending requests, when the owner lists them, then oldest first', () => {
    expect(listRequests(foldAll(twoAsked), 'alice', 'g')).toEqual({ ok: true, value: ['dave', 'carol'] });
  });

  test('given two pending requests, when a member who is not the owner lists them, then NOT_OWNER', () => {
    const result = listRequests(foldAll(twoAsked), 'bob', 'g');
    expect(result.ok ? 'ok' : result.rejection.code).toBe('NOT_OWNER');
  });

  test('given no group h, when listing its requests, then NO_SUCH_GROUP', () => {
    const result = listRequests(foldAll(twoAsked), 'alice', 'h');
    expect(result.ok ? 'ok' : result.rejection.code).toBe('NO_SUCH_GROUP');
  });
});

describe('leave_group', () => {
  // alice owns g; bob asks first, carol second, but carol is accepted first: she has been a member longest.
  const threeMembers = [
    ...aliceOwnsG,
    ev.joinRequested('g', 'bob'),
    ev.joinRequested('g', 'carol'),
    ev.accepted('g', 'carol', 'alice'),
    ev.accepted('g', 'bob', 'alice'),
  ];

  test('given bob is a member, when he leaves, then he is no longer a member and the owner stays', () => {
    const state = given(bobInG).when(cmd.leaveGroup('bob', 'g')).then([ev.memberLeft('g', 'bob')]);
    expect(state.groups.get('g')).toMatchObject({ owner: 'alice', members: ['alice'] });
    expect(listFiles(state, 'bob', 'g').ok).toBe(false);
  });

  test('given carol is not a member, when she leaves, then NOT_MEMBER', () => {
    given(bobInG).when(cmd.leaveGroup('carol', 'g')).thenRejects('NOT_MEMBER');
  });

  test('given carol is not a member, when she leaves, then the refusal does not tell her to join', () => {
    const refusal = given(bobInG).when(cmd.leaveGroup('carol', 'g')).thenRejects('NOT_MEMBER');
    expect(refusal.message).toBe('you are not a member of g: there is nothing to leave');
  });

  test('given carol only asked to join, when she lists the files, then NOT_MEMBER says her request is pending, not to ask again', () => {
    const files = listFiles(foldAll([...bobInG, ev.joinRequested('g', 'carol')]), 'carol', 'g');
    expect(files.ok ? '' : files.rejection.message).toBe('you are not a member of g yet: your request to join is pending, and its owner alice has to accept it');
  });

  test('given bob is a member, when the owner accepts bob again, then NO_SUCH_REQUEST says he is a member already', () => {
    const refusal = given(bobInG).when(cmd.accept('alice', 'g', 'bob')).thenRejects('NO_SUCH_REQUEST');
    expect(refusal.message).toBe('bob is already a member of g');
  });

  test('given carol only asked to join, when she leaves, then NOT_MEMBER', () => {
    given([...bobInG, ev.joinRequested('g', 'carol')]).when(cmd.leaveGroup('carol', 'g')).thenRejects('NOT_MEMBER');
  });

  test('given no group h, when leaving h, then NO_SUCH_GROUP', () => {
    given(bobInG).when(cmd.leaveGroup('bob', 'h')).thenRejects('NO_SUCH_GROUP');
  });

  test('given members alice (owner), carol, bob in that order, when alice leaves, then carol (the longest-standing) owns g', () => {
    const state = given(threeMembers).when(cmd.leaveGroup('alice', 'g')).then([ev.memberLeft('g', 'alice')]);
    expect(state.groups.get('g')).toMatchObject({ owner: 'carol', members: ['carol', 'bob'] });
    expect(listGroups(state, 'carol')[0]?.role).toBe('owner');
  });

  test('given carol took over from alice, when carol leaves too, then bob owns g and can accept requests', () => {
    const state = given([...threeMembers, ev.memberLeft('g', 'alice'), ev.joinRequested('g', 'dave')])
      .when(cmd.leaveGroup('carol', 'g'))
      .then([ev.memberLeft('g', 'carol')]);
    expect(state.groups.get('g')).toMatchObject({ owner: 'bob', members: ['bob'] });
    given([...threeMembers, ev.memberLeft('g', 'alice'), ev.joinRequested('g', 'dave'), ev.memberLeft('g', 'carol')])
      .when(cmd.accept('bob', 'g', 'dave'))
      .then([ev.accepted('g', 'dave', 'bob')]);
  });

  test('given a non-owner member leaves, when the owner is unchanged, then a former owner cannot act', () => {
    given([...threeMembers, ev.memberLeft('g', 'alice'), ev.joinRequested('g', 'dave')]).when(cmd.accept('alice', 'g', 'dave')).thenRejects('NOT_OWNER');
  });

  test('given alice is the only member and shares a file, when she leaves, then g and its files are gone', () => {
    const state = given([...aliceOwnsG, ev.fileShared('g', 'a.txt', 'alice')]).when(cmd.leaveGroup('alice', 'g')).then([ev.memberLeft('g', 'alice')]);
    expect(state.groups.has('g')).toBe(false);
    expect(state.files.size).toBe(0);
    expect(listGroups(state, 'alice')).toEqual([]);
  });

  test('given g was left empty, when it is created again, then it starts with no files', () => {
    const state = given([...aliceOwnsG, ev.fileShared('g', 'a.txt', 'alice'), ev.memberLeft('g', 'alice')])
      .when(cmd.createGroup('bob', 'g'))
      .then([ev.groupCreated('g', 'bob')]);
    expect(fileNames(state, 'bob', 'g')).toEqual([]);
  });

  test('given bob alone seeds a file, when bob leaves, then the file is gone but g stays', () => {
    const state = given([...bobInG, ev.fileShared('g', 'b.txt', 'bob')]).when(cmd.leaveGroup('bob', 'g')).then([ev.memberLeft('g', 'bob')]);
    expect(fileNames(state, 'alice', 'g')).toEqual([]);
  });
});

describe('list_files', () => {
  const shared = [...bobInG, ev.joinRequested('g', 'carol'), ev.fileShared('g', 'b.txt', 'bob'), ev.fileShared('g', 'a.txt', 'alice')];

  test('given two files, when a member lists them, then both, sorted by name, with seeder counts', () => {
    const files = listFiles(foldAll(shared), 'bob', 'g');
    expect(files).toEqual({
      ok: true,
      value: [
        { name: 'a.txt', size: fileShape('a.txt').size, sha1: fileShape('a.txt').sha1, seeders: 1, leechers: 0, seedersOnline: 0 },
        { name: 'b.txt', size: fileShape('b.txt').size, sha1: fileShape('b.txt').sha1, seeders: 1, leechers: 0, seedersOnline: 0 },
      ],
    });
  });

  test('given two seeders, one logged in and one logged out, then both count as seeders and one as online', () => {
    const state = foldAll([...bobInG, ev.fileShared('g', 'a.txt', 'alice'), ev.fileShared('g', 'a.txt', 'bob'), ev.sessionStarted('alice'), ev.sessionStarted('bob'), ev.sessionEnded('bob')]);
    expect(listFiles(state, 'alice', 'g')).toMatchObject({ ok: true, value: [{ name: 'a.txt', seeders: 2, seedersOnline: 1 }] });
  });

  test.each(['carol', 'dave'])('given %s is not a member, when she lists the files, then NOT_MEMBER', (user) => {
    const files = listFiles(foldAll(shared), user, 'g');
    expect(files.ok ? 'ok' : files.rejection.code).toBe('NOT_MEMBER');
  });

  test('given another group h, when listing g, then only g files are listed', () => {
    const state = foldAll([...shared, ev.groupCreated('h', 'bob'), ev.fileShared('h', 'c.txt', 'bob')]);
    expect(fileNames(state, 'bob', 'g')).toEqual(['a.txt', 'b.txt']);
    expect(fileNames(state, 'bob', 'h')).toEqual(['c.txt']);
  });
});

describe('upload_file', () => {
  test('given bob is a member, when he uploads, then the file is shared with him as seeder', () => {
    const state = given(bobInG).when(cmd.upload('bob', 'g', 'a.txt')).then([ev.fileShared('g', 'a.txt', 'bob')]);
    expect(listFiles(state, 'alice', 'g')).toMatchObject({ ok: true, value: [{ name: 'a.txt', seeders: 1 }] });
  });

  test('given an empty file, when uploaded with no piece hashes, then it is accepted', () => {
    const empty = fileShape('', 0);
    expect(empty.pieceHashes).toEqual([]);
    given(bobInG).when(cmd.upload('bob', 'g', 'empty', empty)).then([ev.fileShared('g', 'empty', 'bob', empty)]);
  });

  test('given carol is not a member, when she uploads to g, then NOT_MEMBER', () => {
    given(bobInG).when(cmd.upload('carol', 'g', 'a.txt')).thenRejects('NOT_MEMBER');
  });

  test('given carol only asked to join, when she uploads to g, then NOT_MEMBER', () => {
    given([...bobInG, ev.joinRequested('g', 'carol')]).when(cmd.upload('carol', 'g', 'a.txt')).thenRejects('NOT_MEMBER');
  });

  test('given no group h, when uploading to h, then NO_SUCH_GROUP', () => {
    given(bobInG).when(cmd.upload('bob', 'h', 'a.txt')).thenRejects('NO_SUCH_GROUP');
  });

  test.each(['a/b', '/etc/passwd', '..', '.', 'a\\b', 'a\u0000b', 'a\nb', '', 'x'.repeat(256)])('given a member, when the file name is %j, then INVALID_ARGUMENT', (name) => {
    given(bobInG).when(cmd.upload('bob', 'g', name, fileShape('content'))).thenRejects('INVALID_ARGUMENT');
  });

  test('given a member, when a name has dots inside (..hidden, a..b), then it is accepted', () => {
    given(bobInG).when(cmd.upload('bob', 'g', 'a..b')).then([ev.fileShared('g', 'a..b', 'bob')]);
  });

  const good = fileShape('content');
  test.each([
    ['one piece hash too few', { ...good, pieceHashes: good.pieceHashes.slice(1) }],
    ['one piece hash too many', { ...good, pieceHashes: [...good.pieceHashes, good.sha1] }],
    ['a non-hex sha1', { ...good, sha1: 'z'.repeat(40) }],
    ['an upper-case sha1', { ...good, sha1: good.sha1.toUpperCase() }],
    ['a short sha1', { ...good, sha1: good.sha1.slice(1) }],
    ['a non-hex piece hash', { ...good, pieceHashes: [good.pieceHashes[0]!, 'g'.repeat(40), good.pieceHashes[2]!] }],
    ['a negative size', { ...good, size: -1, pieceHashes: [] }],
    ['a fractional size', { ...good, size: 1.5 }],
    ['a different piece size', { ...good, pieceSize: PIECE_SIZE / 2 }],
  ])('given a member, when the upload has %s, then INVALID_ARGUMENT', (_what, shape) => {
    given(bobInG).when(cmd.upload('bob', 'g', 'a.txt', shape)).thenRejects('INVALID_ARGUMENT');
  });

  test('given alice shares a.txt, when bob uploads the same content under the same name, then he is added as a second seeder', () => {
    const state = given([...bobInG, ev.fileShared('g', 'a.txt', 'alice')]).when(cmd.upload('bob', 'g', 'a.txt')).then([ev.fileShared('g', 'a.txt', 'bob')]);
    expect(listFiles(state, 'alice', 'g')).toMatchObject({ ok: true, value: [{ name: 'a.txt', seeders: 2, leechers: 0 }] });
  });

  test('given alice shares a.txt, when bob uploads different content under the same name, then FILE_EXISTS', () => {
    given([...bobInG, ev.fileShared('g', 'a.txt', 'alice')]).when(cmd.upload('bob', 'g', 'a.txt', fileShape('other content'))).thenRejects('FILE_EXISTS');
  });

  test('given alice seeds a.txt, when she uploads it again from the same peer, then nothing changes', () => {
    given([...bobInG, ev.fileShared('g', 'a.txt', 'alice')]).when(cmd.upload('alice', 'g', 'a.txt')).then([]);
  });

  test('given bob leeches a.txt, when he uploads the same file, then he becomes a seeder', () => {
    const state = given([...bobInG, ev.fileShared('g', 'a.txt', 'alice'), ev.swarmJoined('g', 'a.txt', 'bob')])
      .when(cmd.upload('bob', 'g', 'a.txt'))
      .then([ev.fileShared('g', 'a.txt', 'bob')]);
    expect(listFiles(state, 'alice', 'g')).toMatchObject({ ok: true, value: [{ seeders: 2, leechers: 0 }] });
  });

  test('given a.txt in g, when the same name is uploaded to group h, then it is a separate file', () => {
    given([...bobInG, ev.fileShared('g', 'a.txt', 'alice'), ev.groupCreated('h', 'bob')])
      .when(cmd.upload('bob', 'h', 'a.txt', fileShape('other content')))
      .then([ev.fileShared('h', 'a.txt', 'bob', fileShape('other content'))]);
  });
});

describe('stop_share', () => {
  const bothSeed = [...bobInG, ev.fileShared('g', 'a.txt', 'alice'), ev.fileShared('g', 'a.txt', 'bob')];

  test('given alice and bob seed, when bob stops, then only alice seeds', () => {
    const state = given(bothSeed).when(cmd.stopShare('bob', 'g', 'a.txt')).then([ev.shareStopped('g', 'a.txt', 'bob')]);
    expect(listFiles(state, 'bob', 'g')).toMatchObject({ ok: true, value: [{ name: 'a.txt', seeders: 1 }] });
    expect(state.files.get('g\u0000a.txt')?.swarm.has(at('bob'))).toBe(false);
  });

  test('given only alice seeds, when she stops, then the file disappears from list_files', () => {
    const state = given([...bobInG, ev.fileShared('g', 'a.txt', 'alice')]).when(cmd.stopShare('alice', 'g', 'a.txt')).then([ev.shareStopped('g', 'a.txt', 'alice')]);
    expect(fileNames(state, 'bob', 'g')).toEqual([]);
  });

  test('given alice seeds and bob only leeches, when alice stops, then the file disappears (nobody holds it whole)', () => {
    const state = given([...bobInG, ev.fileShared('g', 'a.txt', 'alice'), ev.swarmJoined('g', 'a.txt', 'bob')])
      .when(cmd.stopShare('alice', 'g', 'a.txt'))
      .then([ev.shareStopped('g', 'a.txt', 'alice')]);
    expect(fileNames(state, 'bob', 'g')).toEqual([]);
  });

  test('given bob does not share a.txt, when he stops sharing it, then NOT_SEEDING', () => {
    given([...bobInG, ev.fileShared('g', 'a.txt', 'alice')]).when(cmd.stopShare('bob', 'g', 'a.txt')).thenRejects('NOT_SEEDING');
  });

  test('given alice shares a.txt from two clients and bob seeds it, when alice stops from one, then she leaves the swarm at both', () => {
    const laptop = '10.9.9.9:1';
    const state = given([...bothSeed, ev.fileShared('g', 'a.txt', 'alice', fileShape('a.txt'), laptop)])
      .when(cmd.stopShare('alice', 'g', 'a.txt', laptop))
      .then([ev.shareStopped('g', 'a.txt', 'alice', laptop)]);
    const swarm = [...(state.files.get('g\u0000a.txt')?.swarm.values() ?? [])].map((m) => m.user);
    expect(swarm).toEqual(['bob']);
  });

  test('given no file b.txt, when stopping it, then NO_SUCH_FILE', () => {
    given(bothSeed).when(cmd.stopShare('bob', 'g', 'b.txt')).thenRejects('NO_SUCH_FILE');
  });

  test('given carol is not a member, when she stops sharing, then NOT_MEMBER', () => {
    given(bothSeed).when(cmd.stopShare('carol', 'g', 'a.txt')).thenRejects('NOT_MEMBER');
  });
});

describe('join_swarm', () => {
  const shared = [...bobInG, ev.fileShared('g', 'a.txt', 'alice')];

  test('given a shared file, when a member starts downloading, then they join the swarm as a leecher', () => {
    const state = given(shared).when(cmd.joinSwarm('bob', 'g', 'a.txt')).then([ev.swarmJoined('g', 'a.txt', 'bob')]);
    expect(listFiles(state, 'bob', 'g')).toMatchObject({ ok: true, value: [{ seeders: 1, leechers: 1 }] });
  });

  test('given bob is in the swarm, when he joins again, then nothing changes', () => {
    given([...shared, ev.swarmJoined('g', 'a.txt', 'bob')]).when(cmd.joinSwarm('bob', 'g', 'a.txt')).then([]);
  });

  test('given carol is not a member, when she joins the swarm, then NOT_MEMBER', () => {
    given(shared).when(cmd.joinSwarm('carol', 'g', 'a.txt')).thenRejects('NOT_MEMBER');
  });

  test('given no file b.txt, when joining its swarm, then NO_SUCH_FILE', () => {
    given(shared).when(cmd.joinSwarm('bob', 'g', 'b.txt')).thenRejects('NO_SUCH_FILE');
  });
});

describe('download info', () => {
  // alice and carol seed a.txt, bob leeches it; dave is a member who wants it.
  const swarm = [
    ...aliceOwnsG,
    ev.joinRequested('g', 'bob'),
    ev.accepted('g', 'bob', 'alice'),
    ev.joinRequested('g', 'carol'),
    ev.accepted('g', 'carol', 'alice'),
    ev.joinRequested('g', 'dave'),
    ev.accepted('g', 'dave', 'alice'),
    ev.fileShared('g', 'a.txt', 'alice'),
    ev.swarmJoined('g', 'a.txt', 'bob'),
    ev.fileShared('g', 'a.txt', 'carol'),
  ];
  const allOnline = [...swarm, ev.sessionStarted('alice'), ev.sessionStarted('bob'), ev.sessionStarted('carol'), ev.sessionStarted('dave')];

  test('given everyone online, when dave asks, then the whole swarm, seeders first, with the manifest', () => {
    const info = downloadInfo(foldAll(allOnline), 'dave', peerOf('dave'), 'g', 'a.txt');
    if (!info.ok) throw new Error(info.rejection.message);
    const { size, pieceSize, pieceHashes, sha1 } = fileShape('a.txt');
    expect(info.value.manifest).toEqual({ group: 'g', name: 'a.txt', size, pieceSize, pieceHashes, sha1 });
    const peers = info.value.peers.map((p) => `${p.user}@${p.host}:${p.port}`);
    expect(peers.slice(0, 2).sort()).toEqual([at('alice'), at('carol')]);
    expect(peers[2]).toBe(at('bob'));
    expect(info.value.peers[0]?.port).toBeTypeOf('number');
  });

  test("given alice is in the swarm, when alice asks, then her own peer is not handed to her", () => {
    expect(peersFor(foldAll(allOnline), 'alice', 'a.txt').sort()).toEqual([at('bob'), at('carol')]);
  });

  test('given carol never logged in, when dave asks, then carol is not handed out', () => {
    const state = foldAll([...swarm, ev.sessionStarted('alice'), ev.sessionStarted('bob'), ev.sessionStarted('dave')]);
    expect(peersFor(state, 'dave', 'a.txt')).toEqual([at('alice'), at('bob')]);
  });

  test('given carol is logged in at another address, when dave asks, then her swarm peer (not online) is not handed out', () => {
    const state = foldAll([...allOnline, ev.sessionEnded('carol'), ev.sessionStarted('carol', 'carol-2', '10.8.8.8:8000')]);
    expect(peersFor(state, 'dave', 'a.txt')).not.toContain(at('carol'));
  });

  test('given alice lost her connection, when dave asks, then alice is not handed out', () => {
    const state = foldAll([...allOnline, ev.sessionLost('alice', 0)]);
    expect(peersFor(state, 'dave', 'a.txt')).not.toContain(at('alice'));
    expect(peersFor(state, 'dave', 'a.txt')).toHaveLength(2);
  });

  test('given alice lost and then resumed her session, when dave asks, then alice is handed out again', () => {
    const state = foldAll([...allOnline, ev.sessionLost('alice', 0), ev.sessionResumed('alice', 1)]);
    expect(peersFor(state, 'dave', 'a.txt')).toContain(at('alice'));
  });

  test('given alice resumed at epoch 1, when a stale session_lost for epoch 0 arrives, then alice stays online', () => {
    const state = foldAll([...allOnline, ev.sessionResumed('alice', 1), ev.sessionLost('alice', 0)]);
    expect(peersFor(state, 'dave', 'a.txt')).toContain(at('alice'));
    const lostNow = foldAll([ev.sessionLost('alice', 1)], state);
    expect(peersFor(lostNow, 'dave', 'a.txt')).not.toContain(at('alice'));
  });

  test('given alice is online, when she logs out, then she is no longer handed out', () => {
    const state = given(allOnline).when(cmd.logout('alice')).then([ev.sessionEnded('alice')]);
    expect(peersFor(state, 'dave', 'a.txt').sort()).toEqual([at('bob'), at('carol')]);
  });

  test('given a new login from the same address, when dave asks, then alice is listed once and the old session is gone', () => {
    const state = foldAll([...allOnline, ev.sessionStarted('alice', 'alice-again')]);
    expect(state.sessions.has('session-alice')).toBe(false);
    expect(peersFor(state, 'dave', 'a.txt').filter((p) => p === at('alice'))).toHaveLength(1);
  });

  test('given a non-member, when asking for download info, then NOT_MEMBER', () => {
    const info = downloadInfo(foldAll([...allOnline, ev.userCreated('erin')]), 'erin', '10.1.1.1:1', 'g', 'a.txt');
    expect(info.ok ? 'ok' : info.rejection.code).toBe('NOT_MEMBER');
  });

  test('given no file b.txt, when asking for it, then NO_SUCH_FILE', () => {
    const info = downloadInfo(foldAll(allOnline), 'dave', peerOf('dave'), 'g', 'b.txt');
    expect(info.ok ? 'ok' : info.rejection.code).toBe('NO_SUCH_FILE');
  });
});

describe('rejection messages', () => {
  // Names reach decide as the client typed them (the wire only bounds their length);
  // whatever a message echoes back, it stays one line.
  const nasty = 'x\ny\r\nz\u2028w';
  test.each([
    ['join_group', cmd.joinGroup('bob', nasty), 'NO_SUCH_GROUP'],
    ['login', cmd.login(nasty), 'UNKNOWN_USER'],
    ['accept_request', cmd.accept('alice', 'g', nasty), 'NO_SUCH_REQUEST'],
    ['stop_share', cmd.stopShare('bob', 'g', nasty), 'NO_SUCH_FILE'],
    ['join_swarm', cmd.joinSwarm('bob', 'g', nasty), 'NO_SUCH_FILE'],
    ['leave_group', cmd.leaveGroup('bob', nasty), 'NO_SUCH_GROUP'],
  ] as const)('given names with line breaks, when %s is refused, then the message is still one line', (_op, command, code) => {
    const rejection = given(bobInG).when(command).thenRejects(code);
    expect(rejection.message).toContain('x\\u000ay\\u000d\\u000az\\u2028w');
  });
});
