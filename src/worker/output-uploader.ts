/**
 * Collects an action's outputs after its command ran and uploads them,
 * producing the ActionResult.
 *
 * With `output_paths` (REAPI v2.1+) each path is reported by what it turned
 * out to be: a file in `output_files`, a directory in `output_directories`,
 * a symlink in `output_symlinks`. With the legacy `output_files` and
 * `output_directories`, a symlink goes to `output_file_symlinks` or
 * `output_directory_symlinks`, and a path of the wrong type fails the action
 * with FAILED_PRECONDITION, as REAPI specifies. Outputs that do not exist are
 * omitted. Symlinks are reported, never followed. A FIFO, socket or device
 * anywhere in the outputs fails the action with FAILED_PRECONDITION.
 *
 * The action is untrusted and processes it left behind may still be changing
 * its outputs, while the worker is often root: every output is read as
 * `confined-file.ts` describes (opened without following symlinks and
 * without blocking, checked through its descriptor to be a regular file
 * inside the input root, read from that descriptor only).
 *
 * Uploads ask FindMissingBlobs first; small blobs go in batches, large files
 * stream from disk. Outputs of a few KiB in all skip the question and go in
 * one batch (see {@link OutputUploaderOptions.directUploadBytes}).
 */
import { closeSync, lstatSync, readlinkSync, realpathSync, statSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { basename, dirname, join, sep } from 'node:path';
import { collectDirectory, type LocalFileBlob } from '../client/collect-directory.ts';
import { ConcurrencyLimiter } from '../client/concurrency-limiter.ts';
import {
  descriptorPath,
  hashConfined,
  openConfinedDirectory,
  readLocalFile,
  specialFileError,
} from '../client/confined-file.ts';
import { digestFile } from '../client/digest-file.ts';
import { type BlobSink, uploadMissing } from '../client/upload-missing.ts';
import { type Digest, isEmptyDigest, makeDigest, toDigestMessage } from '../digest/digest.ts';
import type { DigestFunction } from '../digest/digest-function.ts';
import { failedPrecondition, fromFsError } from '../errors.ts';
import {
  type ActionResult,
  type Command,
  Command_OutputDirectoryFormat,
  type OutputDirectory,
  type OutputFile,
  type OutputSymlink,
} from '../gen/build/bazel/remote/execution/v2/remote_execution.js';
import { type DeclaredOutput, declaredOutputs } from './action-paths.ts';

/** What uploading needs from a CAS client; {@link CasClient} is one. */
export type OutputSink = BlobSink;

/** Options for {@link OutputUploader}. */
export interface OutputUploaderOptions {
  readonly cas: OutputSink;
  readonly digestFunction: DigestFunction;
  /** Files up to this size are read into memory and uploaded in batches; 1 MiB by default. */
  readonly smallFileBytes?: number;
  /** Most file system operations (hashing, reading) at once; 16 by default. */
  readonly concurrency?: number;
  /**
   * Outputs (stdout and stderr included) of at most this many bytes in all
   * are uploaded without asking FindMissingBlobs first: that round trip
   * costs more than sending them again. 64 KiB by default; 0 always asks.
   */
  readonly directUploadBytes?: number;
}

/** What to collect. */
export interface UploadRequest {
  /** Absolute path of the input root the command ran in. */
  readonly inputRoot: string;
  readonly command: Command;
  readonly exitCode: number;
  readonly stdoutPath: string;
  readonly stderrPath: string;
}

/** Builds ActionResults from build directories and uploads their blobs. */
export class OutputUploader {
  readonly #cas: OutputSink;
  readonly #fn: DigestFunction;
  readonly #smallFileBytes: number;
  readonly #limiter: ConcurrencyLimiter;
  readonly #directUploadBytes: number;

  constructor(options: OutputUploaderOptions) {
    this.#cas = options.cas;
    this.#fn = options.digestFunction;
    this.#smallFileBytes = options.smallFileBytes ?? 1024 * 1024;
    this.#limiter = new ConcurrencyLimiter({ limit: options.concurrency ?? 16 });
    this.#directUploadBytes = options.directUploadBytes ?? 64 * 1024;
  }

  /** Collects and uploads outputs, stdout and stderr. `executionMetadata` is left unset. */
  async upload(request: UploadRequest): Promise<ActionResult> {
    const result: ActionResult = {
      outputFiles: [],
      outputFileSymlinks: [],
      outputSymlinks: [],
      outputDirectories: [],
      outputDirectorySymlinks: [],
      exitCode: request.exitCode,
      stdoutRaw: Buffer.alloc(0),
      stdoutDigest: undefined,
      stderrRaw: Buffer.alloc(0),
      stderrDigest: undefined,
      executionMetadata: undefined,
    };
    const blobs = new Map<string, { digest: Digest; data: Buffer }>();
    const files = new Map<string, LocalFileBlob>();
    const format = request.command.outputDirectoryFormat;
    const wantDirectories =
      format === Command_OutputDirectoryFormat.DIRECTORY_ONLY ||
      format === Command_OutputDirectoryFormat.TREE_AND_DIRECTORY;
    const outputs = declaredOutputs(request.command);
    // Metadata calls (stat, lstat, realpath) are synchronous throughout: they
    // take microseconds on a directory just written, against tens of
    // microseconds of CPU for a thread-pool round trip each.
    const root = outputs.length === 0 ? request.inputRoot : realPath(request.inputRoot);
    // stdout and stderr are digested while the outputs are collected.
    const logs = Promise.all([
      this.#digestLog(request.stdoutPath),
      this.#digestLog(request.stderrPath),
    ]);
    logs.catch(() => {});

    await Promise.all(
      outputs.map(async (output) => {
        const collected = await this.#collect(root, output, wantDirectories);
        if (collected === undefined) return;
        if ('file' in collected) {
          result.outputFiles.push(collected.file);
          if ('data' in collected.blob) blobs.set(collected.blob.digest.key, collected.blob);
          else files.set(collected.blob.digest.key, collected.blob);
        } else if ('directory' in collected) {
          result.outputDirectories.push(collected.directory);
          for (const b of collected.blobs) blobs.set(b.digest.key, b);
          for (const f of collected.files) files.set(f.digest.key, f);
        } else {
          const list =
            output.kind === 'path'
              ? result.outputSymlinks
              : output.kind === 'file'
                ? result.outputFileSymlinks
                : result.outputDirectorySymlinks;
          list.push(collected.symlink);
        }
      }),
    );
    const [stdout, stderr] = await logs;
    files.set(stdout.key, { digest: stdout, path: request.stdoutPath });
    files.set(stderr.key, { digest: stderr, path: request.stderrPath });
    // The empty blob is always present; most logs and some outputs are empty.
    for (const [key, blob] of blobs) if (isEmptyDigest(blob.digest)) blobs.delete(key);
    for (const [key, file] of files) if (isEmptyDigest(file.digest)) files.delete(key);
    result.stdoutDigest = toDigestMessage(stdout);
    result.stderrDigest = toDigestMessage(stderr);
    // Deterministic order, whatever order the collection finished in.
    result.outputFiles.sort((a, b) => compare(a.path, b.path));
    result.outputDirectories.sort((a, b) => compare(a.path, b.path));
    for (const list of [
      result.outputSymlinks,
      result.outputFileSymlinks,
      result.outputDirectorySymlinks,
    ]) {
      list.sort((a, b) => compare(a.path, b.path));
    }

    await this.#uploadMissing([...blobs.values()], [...files.values()]);
    return result;
  }

  /** Digest of a stdout or stderr file; most are empty, and need no reading then. */
  async #digestLog(path: string): Promise<Digest> {
    let size: number;
    try {
      size = statSync(path).size;
    } catch (err) {
      throw fromFsError(err, `hashing ${path}`);
    }
    if (size === 0) return makeDigest(this.#fn, this.#fn.emptyHash, 0);
    return this.#limiter.run(() => digestFile(this.#fn, path));
  }

  async #collect(
    root: string,
    output: DeclaredOutput,
    wantDirectories: boolean,
  ): Promise<
    | {
        file: OutputFile;
        blob: LocalFileBlob | { digest: Digest; data: Buffer };
      }
    | {
        directory: OutputDirectory;
        blobs: { digest: Digest; data: Buffer }[];
        files: readonly LocalFileBlob[];
      }
    | { symlink: OutputSymlink }
    | undefined
  > {
    const full = join(root, output.rootPath);
    const info = lstatOrUndefined(full);
    if (info === undefined) return undefined;
    if (output.rootPath !== '') this.#checkInside(root, output);
    const { path, kind } = output;
    if (info.isSymbolicLink()) {
      const target = readLinkInside(root, full, path);
      const targetInfo = await this.#limiter.run(() => stat(full).catch(() => undefined));
      if (kind === 'file' && targetInfo?.isDirectory()) {
        throw failedPrecondition(`output file "${path}" is a symlink to a directory`);
      }
      if (kind === 'directory' && targetInfo !== undefined && !targetInfo.isDirectory()) {
        throw failedPrecondition(`output directory "${path}" is a symlink to a file`);
      }
      return { symlink: { path, target, nodeProperties: undefined } };
    }
    if (info.isFile()) {
      if (kind === 'directory') {
        throw failedPrecondition(`output directory "${path}" is a regular file`);
      }
      // A small output is read once, and its bytes are both hashed and uploaded.
      const { digest, isExecutable, source, data } = await this.#limiter.run(() =>
        hashConfined(this.#fn, full, root, path),
      );
      return {
        file: {
          path,
          digest: toDigestMessage(digest),
          isExecutable,
          contents: Buffer.alloc(0),
          nodeProperties: undefined,
        },
        blob: data === undefined ? { digest, path: full, confined: source } : { digest, data },
      };
    }
    if (info.isDirectory()) {
      if (kind === 'file') throw failedPrecondition(`output file "${path}" is a directory`);
      const dir = await collectDirectory({
        fn: this.#fn,
        path: full,
        limiter: this.#limiter,
        confine: { root, name: path },
      });
      const treeBlob = { digest: dir.treeDigest, data: dir.tree };
      return {
        directory: {
          path,
          treeDigest: toDigestMessage(dir.treeDigest),
          isTopologicallySorted: true,
          rootDirectoryDigest: wantDirectories ? toDigestMessage(dir.rootDigest) : undefined,
        },
        blobs: wantDirectories ? [treeBlob, ...dir.directories.values()] : [treeBlob],
        files: dir.files,
      };
    }
    throw (
      specialFileError(path, info) ?? failedPrecondition(`output "${path}" has an unknown type`)
    );
  }

  /** Refuses outputs whose parent directories lead out of the input root through a symlink. */
  #checkInside(root: string, output: DeclaredOutput): void {
    const parent = realPath(dirname(join(root, output.rootPath)));
    if (parent !== root && !parent.startsWith(root + sep)) {
      throw failedPrecondition(
        `output "${output.path}" lies outside the input root (its parent resolves to ${parent})`,
      );
    }
  }

  async #uploadMissing(
    blobs: readonly { digest: Digest; data: Buffer }[],
    files: readonly LocalFileBlob[],
  ): Promise<void> {
    if (blobs.length === 0 && files.length === 0) return;
    let total = 0;
    for (const b of [...blobs, ...files]) total += b.digest.size;
    if (total <= this.#directUploadBytes) {
      // Asking FindMissingBlobs first costs a round trip more than sending
      // these few bytes, which the server mostly does not hold anyway.
      const read = await Promise.all(
        files.map((f) =>
          this.#limiter.run(async () => ({ digest: f.digest, data: await readLocalFile(f) })),
        ),
      );
      await this.#cas.uploadBlobs([...blobs, ...read]);
      return;
    }
    await uploadMissing({
      cas: this.#cas,
      blobs,
      files,
      smallFileBytes: this.#smallFileBytes,
      limiter: this.#limiter,
    });
  }
}

/**
 * The target of the symlink at `full`, read through its parent directory's
 * descriptor once that is checked to lie inside `root`: a parent swapped
 * for a symlink after `#checkInside` cannot make it read a link elsewhere.
 */
function readLinkInside(root: string, full: string, path: string): string {
  const parent = openConfinedDirectory(dirname(full), root, path);
  try {
    return readlinkSync(join(descriptorPath(parent), basename(full)));
  } catch (err) {
    throw fromFsError(err, `reading output symlink "${path}"`);
  } finally {
    closeSync(parent);
  }
}

function lstatOrUndefined(path: string) {
  try {
    return lstatSync(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw fromFsError(err, `inspecting output ${path}`);
  }
}

/** The canonical path, resolved by the C library in one call. */
function realPath(path: string): string {
  try {
    return realpathSync.native(path);
  } catch (err) {
    throw fromFsError(err, `resolving ${path}`);
  }
}

function compare(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}
