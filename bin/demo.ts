#!/usr/bin/env node
import { Command } from 'commander';
import { runDemo } from '../src/demo/demo.js';

const program = new Command('demo')
  .description('Run the whole system on 127.0.0.1: 2 trackers, 3 seeders, 1 downloader, a tracker failover mid-download.')
  .option('--size <MiB>', 'size of the generated file in MiB', '96')
  .option('--seeder-rate <rate>', "each seeder's upload cap (k/M suffixes), so the transfer can be watched", '12M')
  .action(async (opts: { size: string; seederRate: string }) => {
    process.exitCode = await runDemo({ sizeMiB: Number(opts.size), seederRate: opts.seederRate });
  });

program.parseAsync().catch((error: unknown) => {
  console.error(`demo failed: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
});
