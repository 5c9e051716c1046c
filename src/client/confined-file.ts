/**
 * Reading the files of a tree that an untrusted process wrote and may still
 * be changing: an action's outputs, which the worker (often root) collects
 * after the action's command exited, while processes it left behind may
 * still run.
 *
 * A path checked and then read by path leaves a gap: a leftover process can
 * swap a parent directory for a symlink in between and make the worker read,
 * say, /etc/shadow into the CAS. So a file is opened with O_NOFOLLOW (a
 * symlink in its place is refused), O_NONBLOCK (opening a FIFO never waits
 * for a writer) and O_NOCTTY (a terminal device never becomes the worker's),
 * and then checked through the descriptor: fstat says it is a regular file,
 * and its link in /proc/self/fd (the path the kernel opened, whatever
 * symlinks led there) lies inside the root. Its contents are read from that
 * descriptor only; to read it again later (to upload it), it is opened and
 * checked again, and must be the same file (device and inode). Linux only:
 * the check needs /proc.
 *
 * A hard link inside the root to a file outside it passes: a hard link has no
 * "outside" path, and /proc names it by its path inside the root. That is
 * acceptable: making the link needed access to that file (Linux's
 * fs.protected_hardlinks, on by default, allows linking only files one owns
 * or may read and write), so the action could have copied its contents itself.
 */
import {
  closeSync,
  constants,
  fstatSync,
  openSync,
  readFile as readFileCallback,
  readFileSync,
  readlinkSync,
  type Stats,
} from 'node:fs';
import { readFile } from 'node:fs/promises';
import { sep } from 'node:path';
import { promisify } from 'node:util';
import { type Digest, digestOf } from '../digest/digest.ts';
import type { DigestFunction } from '../digest/digest-function.ts';
import {
  failedPrecondition,
  fromFsError,
  internal,
  type KilnError,
  withContext,
} from '../errors.ts';
import { digestDescriptor } from './digest-file.ts';

/** Device and inode: which file a descriptor refers to, whatever its path. */
export interface FileIdentity {
  readonly dev: number;
  readonly ino: number;
}

/** How to open a file of an untrusted tree again, and check it is the file hashed. */
export interface ConfinedSource {
  /** Canonical path (realpath) of the directory the file must lie in: the input root. */
  readonly root: string;
  /** The file's output path, as errors name it. */
  readonly name: string;
  /** The file that was hashed. */
  readonly identity: FileIdentity;
}

/** A file on disk to read: by path, or, when `confined` is set, as {@link openConfined} does. */
export interface LocalFile {
  readonly path: string;
  readonly confined?: ConfinedSource;
}

/** A regular file opened and checked by {@link openConfined}; the caller closes `fd`. */
export interface OpenedFile {
  readonly fd: number;
  readonly size: number;
  readonly mode: number;
  readonly identity: FileIdentity;
}

/** A file hashed by {@link hashConfined}. */
export interface HashedFile {
  readonly digest: Digest;
  readonly isExecutable: boolean;
  readonly source: ConfinedSource;
  /** The contents, for a file of at most {@link SMALL_FILE_BYTES}. */
  readonly data?: Buffer;
}

/** Files up to this size are read whole, with one synchronous call. */
export const SMALL_FILE_BYTES = 64 * 1024;

const { O_RDONLY, O_NOFOLLOW, O_NONBLOCK, O_NOCTTY, O_DIRECTORY } = constants;
const FILE_FLAGS = O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY;
const DIRECTORY_FLAGS = FILE_FLAGS | O_DIRECTORY;

const readDescriptor = promisify(readFileCallback);

/** The path that names what descriptor `fd` refers to; opening it opens that very file. */
export function descriptorPath(fd: number): string {
  return `/proc/self/fd/${fd}`;
}

/**
 * Opens the regular file at `path`, which must lie inside `root` (a
 * canonical path), and, when `expected` is given, be that file. Fails with
 * FAILED_PRECONDITION otherwise; never blocks on a FIFO, never follows a
 * symlink in the last component, never reads a device. (Callers look at an
 * entry's type first, so a listed FIFO or device is not even opened; this
 * catches one swapped in after the listing.)
 */
export function openConfined(
  path: string,
  root: string,
  name: string,
  expected?: FileIdentity,
): OpenedFile {
  const fd = openChecked(path, FILE_FLAGS, name);
  try {
    const info = fstatSync(fd);
    if (!info.isFile()) {
      throw (
        specialFileError(name, info) ??
        failedPrecondition(`output "${name}" changed while it was collected: not a file now`)
      );
    }
    checkInside(fd, root, name);
    if (expected !== undefined && (info.dev !== expected.dev || info.ino !== expected.ino)) {
      throw failedPrecondition(`output "${name}" changed while it was being uploaded`);
    }
    return { fd, size: info.size, mode: info.mode, identity: { dev: info.dev, ino: info.ino } };
  } catch (err) {
    closeSync(fd);
    throw err;
  }
}

/**
 * Opens the directory at `path`, which must lie inside `root` (or be it), and
 * returns its descriptor; the caller closes it. Listing {@link descriptorPath}
 * of it lists that directory, whatever is renamed or swapped meanwhile.
 */
export function openConfinedDirectory(path: string, root: string, name: string): number {
  const fd = openChecked(path, DIRECTORY_FLAGS, name);
  try {
    checkInside(fd, root, name);
    return fd;
  } catch (err) {
    closeSync(fd);
    throw err;
  }
}

/**
 * Hashes the regular file at `path` inside `root`, reading only from the
 * descriptor {@link openConfined} checked; a small file is read whole, and
 * its contents returned, a larger one streams.
 */
export async function hashConfined(
  fn: DigestFunction,
  path: string,
  root: string,
  name: string,
): Promise<HashedFile> {
  const file = openConfined(path, root, name);
  try {
    // A small file is read with one synchronous call: streaming it would take
    // a dozen thread-pool trips for a few bytes.
    const data = file.size <= SMALL_FILE_BYTES ? readWholeSync(file.fd, name) : undefined;
    const digest =
      data === undefined
        ? await digestDescriptor(fn, file.fd, file.size).catch((err: unknown) => {
            throw fromFsError(err, `hashing output "${name}"`);
          })
        : await digestOf(fn, data);
    return {
      digest,
      isExecutable: (file.mode & 0o100) !== 0,
      source: { root, name, identity: file.identity },
      data,
    };
  } finally {
    closeSync(file.fd);
  }
}

/** Reads a whole file: by path, or, confined, from a descriptor checked as {@link openConfined} does. */
export async function readLocalFile(file: LocalFile): Promise<Buffer> {
  const { confined } = file;
  if (confined === undefined) {
    try {
      return await readFile(file.path);
    } catch (err) {
      throw fromFsError(err, `reading ${file.path}`);
    }
  }
  const opened = openConfined(file.path, confined.root, confined.name, confined.identity);
  try {
    return await readDescriptor(opened.fd);
  } catch (err) {
    throw fromFsError(err, `reading output "${confined.name}"`);
  } finally {
    closeSync(opened.fd);
  }
}

/**
 * Runs `use` with a path to open the file by: its own, or, confined, the
 * {@link descriptorPath} of a descriptor opened and checked as
 * {@link openConfined} does, held open until `use` settles. For code that
 * takes a path (a CAS client streaming a file); opening that path opens the
 * checked file, without walking the tree again.
 */
export async function withFilePath<T>(
  file: LocalFile,
  use: (path: string) => Promise<T>,
): Promise<T> {
  const { confined } = file;
  if (confined === undefined) return use(file.path);
  const opened = openConfined(file.path, confined.root, confined.name, confined.identity);
  try {
    return await use(descriptorPath(opened.fd));
  } catch (err) {
    throw withContext(err, `uploading output "${confined.name}"`);
  } finally {
    closeSync(opened.fd);
  }
}

/**
 * The error for an output that is a FIFO, socket or device, which REAPI
 * cannot represent and the worker must not read; undefined for anything else.
 */
export function specialFileError(
  name: string,
  entry: Pick<Stats, 'isFIFO' | 'isSocket' | 'isCharacterDevice' | 'isBlockDevice'>,
): KilnError | undefined {
  const what = entry.isFIFO()
    ? 'a FIFO'
    : entry.isSocket()
      ? 'a socket'
      : entry.isCharacterDevice()
        ? 'a character device'
        : entry.isBlockDevice()
          ? 'a block device'
          : undefined;
  if (what === undefined) return undefined;
  return failedPrecondition(
    `output "${name}" is ${what}; outputs must be regular files, directories or symlinks`,
  );
}

function openChecked(path: string, flags: number, name: string): number {
  try {
    return openSync(path, flags);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    // A symlink (ELOOP) or non-directory (ENOTDIR) where a listing showed
    // something else: the tree changed after it was listed.
    if (code === 'ELOOP' || code === 'ENOTDIR') {
      throw failedPrecondition(`output "${name}" changed while it was collected (${code})`);
    }
    // Opening a socket fails so: the listing said it was a file, a swap made it a socket.
    if (code === 'ENXIO') {
      throw failedPrecondition(
        `output "${name}" is a socket or device; outputs must be regular files, directories or symlinks`,
      );
    }
    throw fromFsError(err, `opening output "${name}"`);
  }
}

/** Refuses a descriptor whose file the kernel names by a path outside `root`. */
function checkInside(fd: number, root: string, name: string): void {
  let where: string;
  try {
    where = readlinkSync(descriptorPath(fd));
  } catch (err) {
    throw internal(`locating output "${name}" needs /proc/self/fd (Linux)`, err);
  }
  const prefix = root.endsWith(sep) ? root : root + sep;
  if (where !== root && !where.startsWith(prefix)) {
    throw failedPrecondition(`output "${name}" resolves outside the input root`);
  }
}

function readWholeSync(fd: number, name: string): Buffer {
  try {
    return readFileSync(fd);
  } catch (err) {
    throw fromFsError(err, `reading output "${name}"`);
  }
}
