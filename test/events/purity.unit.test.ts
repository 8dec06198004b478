/**
 * "The pure core imports nothing that does I/O": every module in src/events (not its log/
 * folder) and every module it reaches may import only other core modules, the shared
 * manifest types (src/wire/manifest.ts) and node:crypto; and none of them reads the clock,
 * randomness or the process.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const CORE = join(ROOT, 'src/events');
const MANIFEST = join(ROOT, 'src/wire/manifest.ts');
const ALLOWED_PACKAGES = new Set(['node:crypto']);

/** Sources without comments, so a comment that mentions Date.now() is not a finding. */
function code(source: string): string {
  return source.replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:\\'"`])\/\/.*$/gm, '$1');
}

/** Every module specifier: static imports and re-exports, side-effect imports, import(), require(). */
function importsOf(source: string): string[] {
  const text = code(source);
  const found: string[] = [];
  const patterns = [
    /\b(?:import|export)\s+(?:type\s+)?[^'"`;]*?\bfrom\s*['"]([^'"]+)['"]/g,
    /\bimport\s*['"]([^'"]+)['"]/g,
    /\bimport\s*\(\s*['"`]?([^'"`)]*)['"`]?\s*\)/g,
    /\brequire\s*\(\s*['"`]?([^'"`)]*)['"`]?\s*\)/g,
  ];
  for (const pattern of patterns) for (const m of text.matchAll(pattern)) found.push(m[1]!);
  return found;
}

const FORBIDDEN_CALLS: [string, RegExp][] = [
  ['Date.now', /\bDate\.now\b/],
  ['new Date', /\bnew\s+Date\b/],
  ['Math.random', /\bMath\.random\b/],
  ['performance', /\bperformance\./],
  ['process', /\bprocess\./],
  ['timers', /\b(?:setTimeout|setInterval|setImmediate)\s*\(/],
  ['globalThis', /\bglobalThis\b/],
];

const coreFiles = readdirSync(CORE)
  .filter((f) => f.endsWith('.ts'))
  .map((f) => join(CORE, f));

/** The core files and every module they reach through relative imports. */
function reachable(): Map<string, string[]> {
  const seen = new Map<string, string[]>();
  const todo = [...coreFiles];
  while (todo.length > 0) {
    const file = todo.pop()!;
    if (seen.has(file)) continue;
    const specs = importsOf(readFileSync(file, 'utf8'));
    seen.set(file, specs);
    for (const spec of specs) if (spec.startsWith('.')) todo.push(resolve(dirname(file), spec).replace(/\.js$/, '.ts'));
  }
  return seen;
}

describe('the import scanner', () => {
  test('given every form of import, when scanned, then each specifier is found', () => {
    const source = [
      "import Database from 'better-sqlite3';",
      "import { readFileSync } from 'node:fs';",
      "import type { Socket } from 'node:net';",
      "export * from './state.js';",
      "export { x } from \"../wire/x.js\";",
      "import 'ws';",
      "const m = await import('node:http');",
      "const r = require('node:child_process');",
      '// import nothing from a comment',
    ].join('\n');
    expect(importsOf(source)).toEqual(
      expect.arrayContaining(['better-sqlite3', 'node:fs', 'node:net', './state.js', '../wire/x.js', 'ws', 'node:http', 'node:child_process']),
    );
    expect(importsOf(source)).toHaveLength(8);
  });

  test('given the real core, when scanned, then it finds the imports we know are there', () => {
    const graph = reachable();
    expect(graph.get(join(CORE, 'commands.ts'))).toEqual(expect.arrayContaining(['./names.js', './state.js']));
    expect(graph.get(join(CORE, 'state-codec.ts'))).toContain('node:crypto');
    expect(graph.has(MANIFEST)).toBe(true);
  });
});

describe('the pure core imports nothing that does I/O', () => {
  test('src/events has core modules to check, and src/events/log is not among them', () => {
    expect(coreFiles.length).toBeGreaterThanOrEqual(9);
    expect(coreFiles.some((f) => f.includes('/log/'))).toBe(false);
  });

  test('every reachable module imports only core modules, src/wire/manifest.ts and node:crypto', () => {
    const offences: string[] = [];
    for (const [file, specs] of reachable()) {
      for (const spec of specs) {
        const target = spec.startsWith('.') ? resolve(dirname(file), spec).replace(/\.js$/, '.ts') : undefined;
        const ok = target === undefined ? ALLOWED_PACKAGES.has(spec) : (dirname(target) === CORE || target === MANIFEST) && spec.endsWith('.js');
        if (!ok) offences.push(`${relative(ROOT, file)} imports ${spec}`);
      }
    }
    expect(offences).toEqual([]);
  });

  test('no reachable module reads the clock, randomness, timers or the process', () => {
    const offences: string[] = [];
    for (const file of reachable().keys()) {
      const text = code(readFileSync(file, 'utf8'));
      for (const [name, pattern] of FORBIDDEN_CALLS) if (pattern.test(text)) offences.push(`${relative(ROOT, file)} uses ${name}`);
    }
    expect(offences).toEqual([]);
  });

  test('the forbidden-call check notices a clock read', () => {
    const text = code('export const now = () => Date.now(); // Math.random in a comment is fine');
    expect(FORBIDDEN_CALLS.filter(([, p]) => p.test(text)).map(([n]) => n)).toEqual(['Date.now']);
  });
});
