/**
 * `npm run demo`: the whole system on loopback in under a minute. Two trackers and four
 * clients, all real processes with fresh data in a temp dir; three seed one generated
 * file, the fourth downloads it from all three with a live progress bar; halfway, the
 * tracker it uses is killed to show the failover; then the file's hash is checked, the
 * killed tracker restarted and caught up, and both trackers' state hashes compared.
 * Exits 0 only if every check passed, and ends every process it started.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { styleText } from 'node:util';
import cliProgress from 'cli-progress';
import { CLIENT_BIN, Cluster, freePort, waitFor } from './local-cluster.js';
import { ScriptedClient } from './scripted-client.js';

export interface DemoOptions {
  readonly sizeMiB: number;
  /** Upload cap of each seeder, so the transfer lasts long enough to watch. */
  readonly seederRate: string;
}

const SEEDERS = ['alice', 'bob', 'carol'];
const LEECHER = 'dave';
const GROUP = 'demo';
const FILE = 'demo.bin';

const color = process.stdout.isTTY === true && !process.env.NO_COLOR;
const paint = (style: Parameters<typeof styleText>[0], text: string) => (color ? styleText(style, text) : text);
const ok = (text: string) => console.log(`${paint('green', '✓')} ${text}`);
const step = (text: string) => console.log(`${paint('cyan', '›')} ${text}`);
const warn = (text: string) => console.log(`${paint('yellow', '!')} ${text}`);

export async function runDemo(options: DemoOptions): Promise<number> {
  const started = performance.now();
  const cluster = await Cluster.create(2);
  const clients: ScriptedClient[] = [];
  try {
    console.log(paint('bold', `p2p-groups demo: 2 trackers and 4 clients on 127.0.0.1 (fresh data in ${cluster.dir})`));
    await cluster.start(1);
    await cluster.start(2);
    ok(`trackers up on 127.0.0.1:${cluster.trackers[0]!.port} and 127.0.0.1:${cluster.trackers[1]!.port}, replicating to each other`);

    const file = join(cluster.dir, FILE);
    const sha1 = await writeRandomFile(file, options.sizeMiB);
    const start = async (name: string, extra: string[] = []) => {
      const c = new ScriptedClient(CLIENT_BIN, `127.0.0.1:${await freePort()}`, cluster.infoFile, ['--state-dir', join(cluster.dir, `client-${name}`), ...extra], cluster.dir);
      clients.push(c);
      await c.must(`create_user ${name} pw-${name}`);
      await c.must(`login ${name} pw-${name}`);
      return c;
    };
    const seeders = await Promise.all(SEEDERS.map((name) => start(name, ['--max-upload-rate', options.seederRate])));
    const [owner] = seeders;
    await owner!.must(`create_group ${GROUP}`);
    const dave = await start(LEECHER);
    for (const c of [...seeders.slice(1), dave]) await c.must(`join_group ${GROUP}`);
    for (const name of [...SEEDERS.slice(1), LEECHER]) await owner!.must(`accept_request ${GROUP} ${name}`);
    for (const c of seeders) await c.must(`upload_file ${file} ${GROUP}`);
    ok(`${SEEDERS.join(', ')} seed ${FILE} (${options.sizeMiB} MiB, sha1 ${sha1.slice(0, 12)}) in group "${GROUP}", each capped at ${options.seederRate}B/s upload`);

    step(`${LEECHER} downloads ${FILE} from all three seeders`);
    const dest = join(cluster.dir, 'downloads');
    mkdirSync(dest, { recursive: true });
    const t0 = performance.now();
    await dave.must(`download_file ${GROUP} ${FILE} ${dest}`);
    const { failedOver } = await watchDownload(dave, cluster);
    const done = await dave.waitForEvent('download_done', 60_000);
    const seconds = (performance.now() - t0) / 1000;
    const switched = dave.events.find((e) => e.event === 'tracker_switched');
    if (failedOver && switched) ok(`${LEECHER}'s client switched to tracker 2 at ${switched.to as string} without logging in again`);

    const gotSha1 = await sha1Of(String(done.path));
    const checks: [string, boolean][] = [];
    checks.push([`hash check: ${gotSha1} ${gotSha1 === sha1 ? '==' : '!='} ${sha1}`, gotSha1 === sha1]);
    checks.push([`failover: tracker 1 killed mid-download, ${LEECHER} carried on with tracker 2`, failedOver && switched !== undefined]);
    const served: string[] = [];
    for (const [i, c] of seeders.entries()) {
      const rows = (await c.must('show_shares')) as { name: string; piecesServed: number }[];
      served.push(`${SEEDERS[i]} ${rows.find((r) => r.name === FILE)?.piecesServed ?? 0}`);
    }

    step('restarting tracker 1: it catches up from tracker 2');
    await cluster.start(1);
    const hashes = await waitFor(
      'both trackers to hold the same state',
      async () => {
        const [a, b] = await Promise.all([cluster.health(1), cluster.health(2)]);
        return a.stateHash === b.stateHash ? [a.stateHash, b.stateHash] : undefined;
      },
      15_000,
      100,
    ).catch(() => undefined);
    checks.push([`state hashes of both trackers equal${hashes ? `: ${hashes[0]!.slice(0, 16)}…` : ''}`, hashes !== undefined]);

    console.log('');
    console.log(paint('bold', 'summary'));
    console.log(`  downloaded ${options.sizeMiB} MiB in ${seconds.toFixed(2)} s (${((options.sizeMiB * 1048576) / seconds / 1e6).toFixed(1)} MB/s)`);
    console.log(`  pieces served: ${served.join(', ')}`);
    for (const [text, passed] of checks) (passed ? ok : warn)(text);
    const allPassed = checks.every(([, passed]) => passed);
    console.log(`\n${allPassed ? paint('green', 'all checks passed') : paint('red', 'some checks FAILED')} in ${((performance.now() - started) / 1000).toFixed(1)} s`);
    return allPassed ? 0 : 1;
  } finally {
    await Promise.all(clients.map((c) => c.kill('SIGTERM')));
    await cluster.destroy();
  }
}

/** Shows a progress bar from show_downloads; kills tracker 1 once half the file is in. */
async function watchDownload(dave: ScriptedClient, cluster: Cluster): Promise<{ failedOver: boolean }> {
  const bar = new cliProgress.SingleBar(
    { format: '  {bar} {percentage}% | {value}/{total} pieces | {rate} MB/s | {peers} peers', hideCursor: true, noTTYOutput: true, notTTYSchedule: 1000 },
    cliProgress.Presets.shades_classic,
  );
  let failedOver = false;
  let started = false;
  for (;;) {
    const r = await dave.send('show_downloads', 10_000);
    const row = (r.data as { status: string; piecesDone?: number; pieceCount?: number; bytesPerSecond?: number; peers?: number }[] | undefined)?.[0];
    if (!row || row.status !== 'downloading') break;
    const total = row.pieceCount ?? 1;
    if (!started) {
      bar.start(total, 0, { rate: '0.0', peers: 0 });
      started = true;
    }
    bar.update(row.piecesDone ?? 0, { rate: ((row.bytesPerSecond ?? 0) / 1e6).toFixed(1), peers: row.peers ?? 0 });
    if (!failedOver && (row.piecesDone ?? 0) >= total / 2) {
      failedOver = true;
      await cluster.kill(1, 'SIGKILL');
      bar.stop();
      warn('killed tracker 1 (kill -9), the one the clients were using, halfway through the download');
      bar.start(total, row.piecesDone ?? 0, { rate: '0.0', peers: row.peers ?? 0 });
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  if (started) {
    bar.update(bar.getTotal());
    bar.stop();
  }
  return { failedOver };
}

async function writeRandomFile(path: string, sizeMiB: number): Promise<string> {
  const hash = createHash('sha1');
  const out = createWriteStream(path);
  for (let i = 0; i < sizeMiB; i++) {
    const chunk = randomBytes(1024 * 1024);
    hash.update(chunk);
    if (!out.write(chunk)) await new Promise<void>((r) => out.once('drain', () => r()));
  }
  await new Promise<void>((resolve, reject) => {
    out.once('error', reject);
    out.end(() => resolve());
  });
  return hash.digest('hex');
}

async function sha1Of(path: string): Promise<string> {
  const hash = createHash('sha1');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}
