/**
 * Stand-in for dist/bin/client.js when profiling (--cpu-prof is not allowed in
 * NODE_OPTIONS): runs the real client under `node --cpu-prof`, with the same arguments
 * and standard streams, forwards SIGTERM/SIGINT and exits with its code. The profile goes
 * to $P2P_CPU_PROF_DIR; $P2P_PROFILED_BIN picks another build of the client.
 */
import { spawn } from 'node:child_process';
import { CLIENT_BIN } from '../../src/demo/local-cluster.js';

const dir = process.env.P2P_CPU_PROF_DIR ?? '.';
const bin = process.env.P2P_PROFILED_BIN ?? CLIENT_BIN;
const child = spawn(process.execPath, ['--cpu-prof', `--cpu-prof-dir=${dir}`, bin, ...process.argv.slice(2)], { stdio: 'inherit' });
for (const signal of ['SIGTERM', 'SIGINT'] as const) process.on(signal, () => child.kill(signal));
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
