/**
 * The machine's limits for moving and checking pieces, measured in the same run as the
 * transfers they bound:
 * - loopback TCP: a Node sender process pushes 1 MiB buffers to a Node receiver (this
 *   process) over 127.0.0.1 for ~2 s; two processes, as between a seeder and a leecher.
 * - SHA-1: one thread hashing 512 KiB buffers (one piece each) for ~1.5 s.
 */
import { spawn } from 'node:child_process';
import { hash, randomBytes } from 'node:crypto';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { PIECE_SIZE } from '../../src/wire/manifest.js';

export interface Limits {
  readonly tcpMBps: number;
  readonly sha1MBps: number;
}

export async function measureLimits(): Promise<Limits> {
  return { tcpMBps: await loopbackTcpMBps(), sha1MBps: sha1MBps() };
}

const SENDER = `
const net = require('node:net');
const chunk = Buffer.alloc(1024 * 1024, 7);
const socket = net.connect(Number(process.argv[1]), '127.0.0.1');
const pump = () => { while (socket.write(chunk)); };
socket.on('connect', pump);
socket.on('drain', pump);
socket.on('error', () => process.exit(0));
socket.on('close', () => process.exit(0));
`;

export async function loopbackTcpMBps(warmupMs = 300, measureMs = 2000): Promise<number> {
  let socket: Socket | undefined;
  const server = createServer((s) => (socket = s));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const sender = spawn(process.execPath, ['-e', SENDER, String(port)], { stdio: 'ignore' });
  try {
    const result = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('loopback TCP measurement did not finish')), 10_000);
      server.once('connection', (s: Socket) => {
        let bytes = 0;
        let t0 = 0;
        s.on('data', (d: Buffer) => {
          const now = performance.now();
          if (t0 === 0) {
            t0 = now + warmupMs;
            return;
          }
          if (now < t0) return;
          bytes += d.length;
          if (now - t0 >= measureMs) {
            clearTimeout(timer);
            resolve(bytes / 1e6 / ((now - t0) / 1000));
            s.destroy();
          }
        });
      });
    });
    return result;
  } finally {
    socket?.destroy();
    sender.kill('SIGKILL');
    server.close();
  }
}

export function sha1MBps(measureMs = 1500): number {
  const buffers = [randomBytes(PIECE_SIZE), randomBytes(PIECE_SIZE)];
  let bytes = 0;
  const t0 = performance.now();
  let now = t0;
  for (let i = 0; now - t0 < measureMs; i++) {
    hash('sha1', buffers[i & 1]!);
    bytes += PIECE_SIZE;
    if ((i & 7) === 7) now = performance.now();
  }
  return bytes / 1e6 / ((now - t0) / 1000);
}
