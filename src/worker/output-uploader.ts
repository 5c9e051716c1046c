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
 * omitted. Symlinks are reported, never followed.
 *
 * Uploads ask FindMissingBlobs first; small blobs go in batches, large files
 * stream from disk.
 */
import { lstat, readFile, readlink, realpath, stat } from 'node:fs/promises';
import { dirname, join, sep } from 'node:path';
import { ConcurrencyLimiter } from '../client/concurrency-limiter.ts';
import { type Digest, toDigestMessage } from '../digest/digest.ts';
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
import { digestFile } from './digest-file.ts';
import { collectOutputDirectory } from './output-directory.ts';

/** What uploading needs from a CAS client; {@link CasClient} is one. */
export interface OutputSink {
  findMissing(digests: readonly Digest[]): Promise<Digest[]>;
  uploadBlobs(blobs: readonly { digest: Digest; data: Uint8Array }[]): Promise<void>;
  uploadFile(digest: Digest, path: string): Promise<void>;
}

/** Options for {@link OutputUploader}. */
export interface OutputUploaderOptions {
  readonly cas: OutputSink;
  readonly digestFunction: DigestFunction;
  /** Files up to this size are read into memory and uploaded in batches; 1 MiB by default. */
  readonly smallFileBytes?: number;
  /** Most file system operations (hashing, reading) at once; 16 by default. */
  readonly concurrency?: number;
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

/** Most bytes of small files read into memory for one batch upload. */
const SMALL_GROUP_BYTES = 16 * 1024 * 1024;

/** Builds ActionResults from build directories and uploads their blobs. */
export class OutputUploader {
  readonly #cas: OutputSink;
  readonly #fn: DigestFunction;
  readonly #smallFileBytes: number;
  readonly #limiter: ConcurrencyLimiter;

  constructor(options: OutputUploaderOptions) {
    this.#cas = options.cas;
    this.#fn = options.digestFunction;
    this.#smallFileBytes = options.smallFileBytes ?? 1024 * 1024;
    this.#limiter = new ConcurrencyLimiter({ limit: options.concurrency ?? 16 });
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
    const files = new Map<string, { digest: Digest; path: string }>();
    const format = request.command.outputDirectoryFormat;
    const wantDirectories =
      format === Command_OutputDirectoryFormat.DIRECTORY_ONLY ||
      format === Command_OutputDirectoryFormat.TREE_AND_DIRECTORY;
    const root = await realpath(request.inputRoot);

    await Promise.all(
      declaredOutputs(request.command).map(async (output) => {
        const collected = await this.#collect(root, output, wantDirectories);
        if (collected === undefined) return;
        if ('file' in collected) {
          result.outputFiles.push(collected.file);
          files.set(collected.blob.digest.key, collected.blob);
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
    const [stdout, stderr] = await Promise.all([
      this.#limiter.run(() => digestFile(this.#fn, request.stdoutPath)),
      this.#limiter.run(() => digestFile(this.#fn, request.stderrPath)),
    ]);
    files.set(stdout.key, { digest: stdout, path: request.stdoutPath });
    files.set(stderr.key, { digest: stderr, path: request.stderrPath });
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

  async #collect(
    root: string,
    output: DeclaredOutput,
    wantDirectories: boolean,
  ): Promise<
    | { file: OutputFile; blob: { digest: Digest; path: string } }
    | {
        directory: OutputDirectory;
        blobs: { digest: Digest; data: Buffer }[];
        files: readonly { digest: Digest; path: string }[];
      }
    | { symlink: OutputSymlink }
    | undefined
  > {
    const full = join(root, output.rootPath);
    const info = await this.#limiter.run(() => lstatOrUndefined(full));
    if (info === undefined) return undefined;
    if (output.rootPath !== '') await this.#checkInside(root, output);
    const { path, kind } = output;
    if (info.isSymbolicLink()) {
      const [target, targetInfo] = await this.#limiter.run(() =>
        Promise.all([readlink(full), stat(full).catch(() => undefined)]),
      );
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
      const digest = await this.#limiter.run(() => digestFile(this.#fn, full));
      return {
        file: {
          path,
          digest: toDigestMessage(digest),
          isExecutable: (info.mode & 0o100) !== 0,
          contents: Buffer.alloc(0),
          nodeProperties: undefined,
        },
        blob: { digest, path: full },
      };
    }
    if (info.isDirectory()) {
      if (kind === 'file') throw failedPrecondition(`output file "${path}" is a directory`);
      const dir = await collectOutputDirectory({
        fn: this.#fn,
        path: full,
        limiter: this.#limiter,
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
    return undefined;
  }

  /** Refuses outputs whose parent directories lead out of the input root through a symlink. */
  async #checkInside(root: string, output: DeclaredOutput): Promise<void> {
    const parent = await realpath(dirname(join(root, output.rootPath)));
    if (parent !== root && !parent.startsWith(root + sep)) {
      throw failedPrecondition(
        `output "${output.path}" lies outside the input root (its parent resolves to ${parent})`,
      );
    }
  }

  async #uploadMissing(
    blobs: readonly { digest: Digest; data: Buffer }[],
    files: readonly { digest: Digest; path: string }[],
  ): Promise<void> {
    const missing = new Set(
      (await this.#cas.findMissing([...blobs, ...files].map((b) => b.digest))).map((d) => d.key),
    );
    const neededBlobs = blobs.filter((b) => missing.has(b.digest.key));
    const neededFiles = files.filter((f) => missing.has(f.digest.key));
    const small = neededFiles.filter((f) => f.digest.size <= this.#smallFileBytes);
    const large = neededFiles.filter((f) => f.digest.size > this.#smallFileBytes);
    const groups: Array<typeof small> = [];
    let bytes = Number.POSITIVE_INFINITY;
    for (const f of small) {
      if (bytes + f.digest.size > SMALL_GROUP_BYTES) {
        groups.push([]);
        bytes = 0;
      }
      groups.at(-1)?.push(f);
      bytes += f.digest.size;
    }
    await Promise.all([
      this.#cas.uploadBlobs(neededBlobs),
      ...groups.map(async (group) => {
        const data = await Promise.all(
          group.map((f) =>
            this.#limiter.run(async () => {
              try {
                return { digest: f.digest, data: await readFile(f.path) };
              } catch (err) {
                throw fromFsError(err, `reading output ${f.path}`);
              }
            }),
          ),
        );
        await this.#cas.uploadBlobs(data);
      }),
      ...large.map((f) => this.#cas.uploadFile(f.digest, f.path)),
    ]);
  }
}

async function lstatOrUndefined(path: string) {
  try {
    return await lstat(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw fromFsError(err, `inspecting output ${path}`);
  }
}

function compare(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}
