/**
 * Writing blobs from a CAS to disk: files with their executable bit, and
 * whole directory trees (directories, empty ones included, files and
 * symlinks). Small files are read in batches, large ones stream to disk; a
 * blob that appears at several paths is fetched once. Every file appears
 * atomically (written under a temporary name, then renamed), so a file that
 * already exists is replaced whole or not at all.
 */
import { randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, readdir, rename, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Digest } from '../digest/digest.ts';
import { failedPrecondition, fromFsError } from '../errors.ts';
import { ConcurrencyLimiter } from './concurrency-limiter.ts';
import { type FetchedTree, walkTree } from './fetched-tree.ts';

/** What downloading needs from a CAS client; {@link CasClient} is one. */
export interface DownloadSource {
  batchRead(digests: readonly Digest[]): Promise<Map<string, Buffer>>;
  downloadToFile(
    digest: Digest,
    path: string,
    options?: { mode?: number; onProgress?: (bytes: number) => void },
  ): Promise<void>;
}

/** A file to write. */
export interface FileToWrite {
  /** Absolute path; its parent directory must exist. */
  readonly path: string;
  readonly digest: Digest;
  readonly executable: boolean;
}

/** Options for {@link downloadFiles}. */
export interface DownloadFilesOptions {
  readonly cas: DownloadSource;
  readonly files: readonly FileToWrite[];
  /** Blobs up to this size are read in batches, larger ones streamed; 1 MiB by default. */
  readonly smallFileBytes?: number;
  /** Most file writes and downloads at once; 16 by default. */
  readonly concurrency?: number;
  /** Called with each increment of downloaded bytes, for progress reports. */
  readonly onProgress?: (bytes: number) => void;
}

/** Options for {@link materializeTree}. */
export interface MaterializeOptions extends Omit<DownloadFilesOptions, 'files'> {
  readonly tree: FetchedTree;
  /** Directory to create (its parents too); it may exist if it is empty. */
  readonly destination: string;
  /** Called before any file is written, with the content bytes of all files. */
  readonly onStart?: (bytes: number) => void;
}

/** What a tree download wrote. */
export interface MaterializedTree {
  readonly files: number;
  /** Directories below the root. */
  readonly directories: number;
  readonly symlinks: number;
  /** Content bytes of all files (a blob at two paths counts twice). */
  readonly bytes: number;
}

/** Most bytes of small blobs held in memory for one batch read. */
const SMALL_GROUP_BYTES = 16 * 1024 * 1024;

/** Writes each file from the CAS. Rejects with MissingBlobsError naming absent blobs. */
export async function downloadFiles(options: DownloadFilesOptions): Promise<void> {
  const { cas } = options;
  const progress = options.onProgress ?? (() => {});
  const smallFileBytes = options.smallFileBytes ?? 1024 * 1024;
  const limiter = new ConcurrencyLimiter({ limit: options.concurrency ?? 16 });
  const byDigest = new Map<string, FileToWrite[]>();
  for (const f of options.files) {
    const list = byDigest.get(f.digest.key);
    if (list === undefined) byDigest.set(f.digest.key, [f]);
    else list.push(f);
  }
  const small: FileToWrite[][] = [];
  const large: FileToWrite[][] = [];
  for (const copies of byDigest.values()) {
    ((copies[0] as FileToWrite).digest.size <= smallFileBytes ? small : large).push(copies);
  }
  const groups: FileToWrite[][][] = [];
  let bytes = Number.POSITIVE_INFINITY;
  for (const copies of small) {
    const size = (copies[0] as FileToWrite).digest.size;
    if (bytes + size > SMALL_GROUP_BYTES) {
      groups.push([]);
      bytes = 0;
    }
    groups.at(-1)?.push(copies);
    bytes += size;
  }
  await Promise.all([
    ...groups.map(async (group) => {
      const data = await cas.batchRead(group.map((copies) => (copies[0] as FileToWrite).digest));
      await limiter.map(group.flat(), async (f) => {
        await writeAtomically(f, data.get(f.digest.key) ?? Buffer.alloc(0));
        progress(f.digest.size);
      });
    }),
    ...large.map((copies) =>
      limiter.run(async () => {
        const [first, ...others] = copies as [FileToWrite, ...FileToWrite[]];
        await cas.downloadToFile(first.digest, first.path, {
          mode: modeOf(first),
          onProgress: progress,
        });
        for (const f of others) {
          await copyAtomically(first.path, f);
          progress(f.digest.size);
        }
      }),
    ),
  ]);
}

/**
 * Recreates a tree under `destination`: directories (empty ones too), files
 * with their executable bit, symlinks with their targets as stored.
 */
export async function materializeTree(options: MaterializeOptions): Promise<MaterializedTree> {
  const { destination } = options;
  const entries = walkTree(options.tree);
  await prepareDestination(destination);
  const files: FileToWrite[] = [];
  let directories = 0;
  let symlinks = 0;
  let bytes = 0;
  // Pre-order: every directory comes after its parent.
  for (const entry of entries) {
    const path = join(destination, entry.path);
    if (entry.kind === 'directory') {
      directories++;
      try {
        await mkdir(path);
      } catch (err) {
        throw fromFsError(err, `creating directory ${path}`);
      }
    } else if (entry.kind === 'file') {
      files.push({ path, digest: entry.digest, executable: entry.executable });
      bytes += entry.digest.size;
    }
  }
  options.onStart?.(bytes);
  const limiter = new ConcurrencyLimiter({ limit: 64 });
  await Promise.all([
    downloadFiles({ ...options, files }),
    limiter.map(entries, async (entry) => {
      if (entry.kind !== 'symlink') return;
      symlinks++;
      try {
        await symlink(entry.target, join(destination, entry.path));
      } catch (err) {
        throw fromFsError(err, `creating symlink ${entry.path}`);
      }
    }),
  ]);
  return { files: files.length, directories, symlinks, bytes };
}

/** Creates `destination` and its parents, or accepts it if it is an empty directory. */
async function prepareDestination(destination: string): Promise<void> {
  try {
    await mkdir(dirname(destination), { recursive: true });
    await mkdir(destination);
    return;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') {
      throw fromFsError(err, `creating ${destination}`);
    }
  }
  const info = await stat(destination);
  if (!info.isDirectory() || (await readdir(destination)).length > 0) {
    throw failedPrecondition(`${destination} already exists and is not an empty directory`);
  }
}

function modeOf(f: FileToWrite): number {
  return f.executable ? 0o755 : 0o644;
}

async function writeAtomically(f: FileToWrite, data: Buffer): Promise<void> {
  const temp = `${f.path}.tmp-${randomUUID()}`;
  try {
    await writeFile(temp, data, { flag: 'wx', mode: modeOf(f) });
    await rename(temp, f.path);
  } catch (err) {
    await rm(temp, { force: true });
    throw fromFsError(err, `writing ${f.path}`);
  }
}

async function copyAtomically(from: string, f: FileToWrite): Promise<void> {
  const temp = `${f.path}.tmp-${randomUUID()}`;
  try {
    // Not copyFile: it copies the source's mode, and the copy's executable bit may differ.
    await pipeline(
      createReadStream(from),
      createWriteStream(temp, { flags: 'wx', mode: modeOf(f) }),
    );
    await rename(temp, f.path);
  } catch (err) {
    await rm(temp, { force: true });
    throw fromFsError(err, `writing ${f.path}`);
  }
}
