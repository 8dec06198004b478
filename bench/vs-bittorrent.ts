/**
 * This system against BitTorrent (issue 6), in the same run on 127.0.0.1: for random
 * files of each size and 1, 2 and 3 seeders, uncapped and with every seeder capped at
 * 20M upload (20 MiB/s = 20.97 MB/s; aria2's K/M are powers of 1024 too), alternating
 * the two systems run by run:
 * - ours: two trackers, seeding clients, one downloading client (bench/lib/ours.ts);
 *   time from `download_file` to the verified file in place;
 * - BitTorrent: aria2c seeders and one aria2c downloader, a 512 KiB-piece torrent from
 *   mktorrent, a tiny HTTP tracker in this process (bench/lib/aria2.ts); time from
 *   spawning the downloader to its `completed` announce (every piece passed its SHA-1);
 * - the machine's limits (bench/lib/limits.ts): loopback TCP and SHA-1 throughput,
 *   measured before each block of runs; the medians are reported.
 * Installs aria2 and mktorrent from Debian if missing (apt-get; needs root). It uses its
 * own tracker, so opentracker is not needed. MB = 10^6 bytes.
 *
 * Options: --sizes 64,256,1024  --seeders 1,2,3  --runs N (default 3)  --capped | --uncapped
 *          --cap RATE (default 20M)
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { printTable, writeResults } from './lib/stats.js';
import { parseCommonOptions, printCpuSeconds, runMatrix, scaling, type Row } from './lib/matrix.js';

/** Issue 6's targets. */
const TARGET_RATIO_VS_ARIA2 = 2;
const TARGET_SHARE_OF_LIMIT = 0.5;
const TARGET_CAPPED_SCALING = 2.9;
const TARGET_PEAK_RSS_MB = 150;

export default async function run(args: string[]): Promise<void> {
  const common = parseCommonOptions(args, { runs: 3 });
  ensureTools();
  const result = await runMatrix({ ...common, systems: ['ours', 'bittorrent'] });
  const limit = Math.min(result.limits.tcpMBps, result.limits.sha1MBps);
  const tableRows: (string | number)[][] = [];
  const pairs: { ours: Row; bt: Row }[] = [];
  for (const ours of result.rows.filter((r) => r.system === 'ours')) {
    const bt = result.rows.find((r) => r.system === 'bittorrent' && r.sizeMiB === ours.sizeMiB && r.seeders === ours.seeders && r.cap === ours.cap)!;
    pairs.push({ ours, bt });
    tableRows.push([
      ours.sizeMiB,
      ours.seeders,
      ours.cap ?? 'none',
      ours.medianMBps.toFixed(1),
      bt.medianMBps.toFixed(1),
      bt.afterStartMBps?.toFixed(1) ?? '-',
      `${(ours.medianMBps / bt.medianMBps).toFixed(2)}x`,
      `${((100 * ours.medianMBps) / limit).toFixed(0)}%`,
      `${((100 * bt.medianMBps) / limit).toFixed(0)}%`,
      ours.peakRssMB.toFixed(0),
      bt.peakRssMB.toFixed(0),
    ]);
  }
  console.log(
    `\nlimits (medians of ${result.limitSamples.length} samples): loopback TCP ${result.limits.tcpMBps.toFixed(0)} MB/s, ` +
      `SHA-1 ${result.limits.sha1MBps.toFixed(0)} MB/s; "% limit" is of min = ${limit.toFixed(0)} MB/s`,
  );
  console.log(`median of ${common.runs} run(s) each, systems alternating; MB = 10^6 bytes; cap 20M = 20 MiB/s = 20.97 MB/s per seeder\n`);
  printTable(['size MiB', 'seeders', 'cap/seeder', 'ours MB/s', 'BT MB/s', 'BT MB/s*', 'ours/BT', 'ours %limit', 'BT %limit', 'ours RSS MB', 'BT RSS MB'], tableRows);
  console.log('BT MB/s*: aria2c from its first tracker announce, i.e. without its ~2 s of start-up (it works in 1 s ticks)');
  printCpuSeconds(result.rows, result.limits.sha1MBps);
  const factors = scaling(result.rows);
  if (factors.length > 0) {
    console.log('\nscaling, 3 seeders vs 1 (median MB/s ratio)');
    const keys = [...new Set(factors.map((f) => `${f.sizeMiB}|${f.cap ?? 'none'}`))];
    printTable(
      ['size MiB', 'cap/seeder', 'ours 3-vs-1', 'BT 3-vs-1'],
      keys.map((key) => {
        const [size, cap] = key.split('|');
        const of = (system: string) => factors.find((f) => f.system === system && String(f.sizeMiB) === size && (f.cap ?? 'none') === cap)?.factor;
        return [size!, cap!, `${of('ours')?.toFixed(2)}x`, `${of('bittorrent')?.toFixed(2)}x`];
      }),
    );
  }
  const big = pairs.find((p) => p.ours.sizeMiB === 1024 && p.ours.seeders === 3 && p.ours.cap === null);
  console.log('\ntargets');
  if (big) {
    console.log(`  1 GiB from 3 seeders: ${(big.ours.medianMBps / big.bt.medianMBps).toFixed(2)}x aria2c (target >= ${TARGET_RATIO_VS_ARIA2}), ${((100 * big.ours.medianMBps) / limit).toFixed(0)}% of the limit (target >= ${100 * TARGET_SHARE_OF_LIMIT}%)`);
    console.log(`  leecher peak RSS for 1 GiB: ${Math.max(...pairs.filter((p) => p.ours.sizeMiB === 1024).map((p) => p.ours.peakRssMB)).toFixed(0)} MB (target <= ${TARGET_PEAK_RSS_MB})`);
  }
  for (const f of factors.filter((f) => f.system === 'ours' && f.cap !== null)) {
    console.log(`  capped ${f.sizeMiB} MiB, 3 vs 1 seeder: ${f.factor.toFixed(2)}x (target >= ${TARGET_CAPPED_SCALING})`);
  }
  console.log(`\nwhole run: ${result.wallSeconds.toFixed(0)} s`);
  const { limits, rows, wallSeconds, limitSamples } = result;
  console.log(`results: ${writeResults('vs-bittorrent', { limits, rows, scaling: factors, limitSamples, wallSeconds })}`);
}

/** aria2c and mktorrent, from Debian if missing. */
function ensureTools(): void {
  const missing = ['aria2c', 'mktorrent'].filter((tool) => spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0);
  if (missing.length === 0) return;
  console.error(`installing ${missing.join(', ')} with apt-get (needs root)`);
  try {
    execFileSync('apt-get', ['update'], { stdio: 'inherit', timeout: 300_000 });
    execFileSync('apt-get', ['install', '-y', 'aria2', 'mktorrent'], { stdio: 'inherit', timeout: 600_000, env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  } catch (err) {
    throw new Error(`could not install aria2 and mktorrent (${(err as Error).message}); install them and run again`);
  }
}
