#!/usr/bin/env node
import { trackerProgram } from '../src/tracker/cli.js';

trackerProgram()
  .parseAsync()
  .catch((error: unknown) => {
    console.error(`tracker: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  });
