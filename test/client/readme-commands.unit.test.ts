// README.md's client command table lists every command `help` lists, with the same arguments.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { COMMANDS, usage } from '../../src/client/commands.js';

const readme = readFileSync(resolve(import.meta.dirname, '../../README.md'), 'utf8');
const table = readme.slice(readme.indexOf('## Client commands'), readme.indexOf('\n## ', readme.indexOf('## Client commands') + 1));
const rows = [...table.matchAll(/^\| `([^`]+)` \|/gm)].map((m) => m[1]);

describe('README client commands', () => {
  it.each(COMMANDS.map((c) => [c.name, c] as const))('has a row for %s', (_name, spec) => {
    expect(rows).toContain(usage(spec));
  });
});
