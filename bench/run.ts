/**
 * `npm run bench -- <name> [options]`: runs bench/<name>.ts's default export. With no
 * name, lists what there is. Results go to stdout and bench/results/<name>.json.
 * Every module directly in bench/ is a benchmark; what they share lives in bench/lib/.
 */
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const here = fileURLToPath(new URL('.', import.meta.url));
const available = readdirSync(here)
  .filter((f) => f.endsWith('.js') && f !== 'run.js')
  .map((f) => f.slice(0, -3))
  .sort();

const [name, ...args] = process.argv.slice(2);
if (!name || !available.includes(name)) {
  console.log(`usage: npm run bench -- <name> [options]\nbenchmarks: ${available.join(', ')}`);
  process.exit(name ? 1 : 0);
}
const bench = (await import(`./${name}.js`)) as { default: (args: string[]) => Promise<void> };
await bench.default(args);
