/**
 * Test helpers for the peer layer: temp dirs, random files with their manifests,
 * a tracker signing key and tickets, seeders on 127.0.0.1 with free ports.
 * Everything created here is registered for `cleanup()`.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, open, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hashFile } from '../../src/client/file-hasher.js';
import { PeerServer } from '../../src/client/peer-server.js';
import type { FileManifest, SwarmPeer } from '../../src/wire/manifest.js';
import { signingKeyFromSeed, signTicket } from '../../src/wire/ticket.js';

export const trackerKey = signingKeyFromSeed(Buffer.alloc(32, 7));
export const otherKey = signingKeyFromSeed(Buffer.alloc(32, 9));
export const publicKeys = (): readonly import('node:crypto').KeyObject[] => [trackerKey.publicKey];

export class Swarm {
  private readonly servers: PeerServer[] = [];
  private readonly dirs: string[] = [];

  async dir(): Promise<string> {
    const dir = await mkdtemp(join(tmpdir(), 'p2p-test-'));
    this.dirs.push(dir);
    return dir;
  }

  /** A file of `size` random bytes and its manifest. */
  async file(size: number, name = 'payload.bin'): Promise<{ path: string; manifest: FileManifest }> {
    const path = join(await this.dir(), name);
    const handle = await open(path, 'w');
    try {
      const chunk = 4 * 1024 * 1024;
      for (let at = 0; at < size; at += chunk) await handle.write(randomBytes(Math.min(chunk, size - at)));
    } finally {
      await handle.close();
    }
    const hashes = await hashFile(path);
    return { path, manifest: { group: 'g', name, ...hashes } };
  }

  async server(options: { maxUploadRate?: number } = {}): Promise<PeerServer> {
    const server = new PeerServer({ host: '127.0.0.1', port: 0, publicKeys, ...options });
    await server.listen();
    this.servers.push(server);
    return server;
  }

  async seeder(manifest: FileManifest, path: string, options: { maxUploadRate?: number } = {}): Promise<PeerServer> {
    const server = await this.server(options);
    await server.share(manifest, path);
    return server;
  }

  async cleanup(): Promise<void> {
    await Promise.all(this.servers.map((s) => s.close()));
    await Promise.all(this.dirs.map((d) => rm(d, { recursive: true, force: true })));
  }
}

export function peerOf(server: PeerServer, user = 'peer'): SwarmPeer {
  return { user, ...server.address() };
}

export function ticketFor(manifest: FileManifest, options: { ttlMs?: number; key?: typeof trackerKey; fileId?: string } = {}): string {
  return signTicket((options.key ?? trackerKey).privateKey, {
    user: 'alice',
    group: manifest.group,
    fileId: options.fileId ?? manifest.sha1,
    expiresAt: Date.now() + (options.ttlMs ?? 60_000),
  });
}

export async function sameBytes(a: string, b: string): Promise<boolean> {
  return (await readFile(a)).equals(await readFile(b));
}

export function once<T extends unknown[]>(emitter: import('node:events').EventEmitter, event: string): Promise<T> {
  return new Promise((resolve) => emitter.once(event, (...args: unknown[]) => resolve(args as T)));
}
