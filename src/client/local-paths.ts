/**
 * The local paths a user types (upload_file's file, download_file's destination), read
 * the way a shell reads them: a leading `~` or `~/` is the home directory, a relative
 * path starts at the working directory, and a trailing separator means a directory.
 * Mistakes are the command's own error, with what to do instead, before anything starts.
 */
import { mkdir, stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { basename, join, resolve, sep } from 'node:path';
import { assertSafeName, resolveDestination } from './store-checks.js';

export type LocalPathErrorCode = 'NO_SUCH_LOCAL_FILE' | 'IS_A_DIRECTORY' | 'DESTINATION_UNUSABLE';

export class LocalPathError extends Error {
  constructor(
    readonly code: LocalPathErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'LocalPathError';
  }
}

const endsWithSeparator = (path: string): boolean => path.endsWith('/') || path.endsWith(sep);

/** The absolute path `typed` means: `~` expanded, resolved, a trailing separator kept. */
export function localPath(typed: string): string {
  const home = typed === '~' || typed.startsWith('~/') || typed.startsWith(`~${sep}`);
  const full = resolve(home ? join(homedir(), typed.slice(1)) : typed);
  return endsWithSeparator(typed) && !endsWithSeparator(full) ? full + sep : full;
}

/** The file upload_file shares: its absolute path, the name it is shared under, and its modification time. */
export async function fileToShare(typed: string): Promise<{ path: string; name: string; mtimeMs: number }> {
  const path = localPath(typed);
  const info = await stat(path).catch(() => undefined);
  if (info?.isDirectory()) throw new LocalPathError('IS_A_DIRECTORY', `${typed} is a directory; upload_file takes a file`);
  if (!info?.isFile()) throw new LocalPathError('NO_SUCH_LOCAL_FILE', `no file at ${typed}`);
  const name = basename(path);
  assertSafeName(name); // what downloaders check: whatever is shared can be downloaded
  return { path, name, mtimeMs: info.mtimeMs };
}

/**
 * Where download_file saves `name`: inside `destination` if it is a directory; a
 * destination ending in a separator is a directory, created if missing (mkdir -p);
 * any other destination is the file's own path.
 */
export async function downloadPath(destination: string, name: string): Promise<string> {
  const target = localPath(destination);
  if (endsWithSeparator(target)) {
    assertSafeName(name);
    await mkdir(target, { recursive: true }).catch(async (error: NodeJS.ErrnoException) => {
      const why = error.code === 'EEXIST' || error.code === 'ENOTDIR' ? await fileInTheWay(target) : error.message;
      throw new LocalPathError('DESTINATION_UNUSABLE', `cannot create the directory ${target}: ${why}`);
    });
  }
  return resolveDestination(target, name);
}

/** The first component of `dir` that exists as something other than a directory. */
async function fileInTheWay(dir: string): Promise<string> {
  let at = resolve(dir);
  const chain = [at];
  while (resolve(at, '..') !== at) chain.unshift((at = resolve(at, '..')));
  for (const path of chain) {
    const info = await stat(path).catch(() => undefined);
    if (info && !info.isDirectory()) return `${path} is a file`;
  }
  return 'a part of it is not a directory';
}
