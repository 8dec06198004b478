#!/usr/bin/env node
import { clientProgram } from '../src/client/cli.js';

clientProgram()
  .parseAsync()
  .catch((error: unknown) => {
    console.error(`client: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  });
