/**
 * What a tracker knows about a shared file and hands to downloaders: enough to
 * fetch every piece from peers and to verify each one, and the whole file, by SHA-1.
 */
export const PIECE_SIZE = 512 * 1024;

export interface FileManifest {
  readonly group: string;
  readonly name: string;
  readonly size: number;
  readonly pieceSize: number;
  /** Lower-case hex SHA-1 of each piece, in order. */
  readonly pieceHashes: readonly string[];
  /** Lower-case hex SHA-1 of the whole file; also the file's id on the peer wire. */
  readonly sha1: string;
}

/** A peer that can serve pieces of a file: the user behind it and its TCP address. */
export interface SwarmPeer {
  readonly user: string;
  readonly host: string;
  readonly port: number;
}

export function pieceCount(size: number, pieceSize: number = PIECE_SIZE): number {
  return Math.ceil(size / pieceSize);
}

export function pieceLength(manifest: Pick<FileManifest, 'size' | 'pieceSize'>, index: number): number {
  const start = index * manifest.pieceSize;
  return Math.max(0, Math.min(manifest.pieceSize, manifest.size - start));
}
