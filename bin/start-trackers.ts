#!/usr/bin/env node
import { runAllTrackers } from '../src/tracker/run-both.js';

runAllTrackers(process.argv[2]).catch((error: unknown) => {
  console.error(`start: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
