/**
 * Transfer benchmark (issue 4): real processes on 127.0.0.1 (two trackers, seeding
 * clients, one downloading client), download time and MB/s for random files from 1, 2
 * and 3 seeders, uncapped and with every seeder capped at 20M (20 MiB/s = 20.97 MB/s),
 * median of N runs, the 3-vs-1 scaling factor and the downloader's peak RSS.
 * Time: from `download_file` to the `download_done` event (whole-file SHA-1 checked,
 * file renamed into place). MB = 10^6 bytes.
 *
 * Options: --sizes 64,256,1024  --seeders 1,2,3  --runs N (default 3)  --capped | --uncapped
 *          --cap RATE (default 20M)  --profile DIR (the downloader writes a .cpuprofile there)
 */
import { printTable, writeResults } from './lib/stats.js';
import { parseCommonOptions, printCpuSeconds, runMatrix, scaling } from './lib/matrix.js';

/** Issue 4's targets. */
const TARGET_MBPS_1GIB_3_SEEDERS = 250;
const TARGET_CAPPED_SCALING = 2.8;
const TARGET_PEAK_RSS_MB = 200;

export default async function run(args: string[]): Promise<void> {
  const common = parseCommonOptions(args, { runs: 3 });
  const at = args.indexOf('--profile');
  const profileDir = at >= 0 ? args[at + 1] : undefined;
  const result = await runMatrix({ ...common, systems: ['ours'], profileDir });
  console.log(`\nthis system, real processes on 127.0.0.1, median of ${common.runs} run(s); MB = 10^6 bytes; cap 20M = 20 MiB/s = 20.97 MB/s per seeder`);
  printTable(
    ['size MiB', 'seeders', 'cap/seeder', 'runs', 'median s', 'MB/s', 'peak RSS MB'],
    result.rows.map((r) => [r.sizeMiB, r.seeders, r.cap ? `${r.cap} (${r.capMBps} MB/s)` : 'none', r.runs, r.medianSeconds.toFixed(2), r.medianMBps.toFixed(1), r.peakRssMB.toFixed(0)]),
  );
  printCpuSeconds(result.rows, result.limits.sha1MBps);
  const factors = scaling(result.rows);
  if (factors.length > 0) {
    console.log('\nscaling, 3 seeders vs 1 (median MB/s ratio)');
    printTable(['size MiB', 'cap/seeder', '3-vs-1'], factors.map((f) => [f.sizeMiB, f.cap ?? 'none', `${f.factor.toFixed(2)}x`]));
  }
  const big = result.rows.find((r) => r.sizeMiB === 1024 && r.seeders === 3 && r.cap === null);
  const capped = factors.filter((f) => f.cap !== null);
  const rss = Math.max(...result.rows.map((r) => r.peakRssMB));
  console.log('\ntargets');
  if (big) console.log(`  1 GiB from 3 seeders: ${big.medianMBps.toFixed(1)} MB/s (target >= ${TARGET_MBPS_1GIB_3_SEEDERS})`);
  for (const f of capped) console.log(`  capped ${f.sizeMiB} MiB, 3 vs 1 seeder: ${f.factor.toFixed(2)}x (target >= ${TARGET_CAPPED_SCALING})`);
  console.log(`  highest leecher peak RSS: ${rss.toFixed(0)} MB (target < ${TARGET_PEAK_RSS_MB})`);
  console.log(`\nwhole run: ${result.wallSeconds.toFixed(0)} s`);
  console.log(`results: ${writeResults('transfer', { ...result, scaling: factors })}`);
}
