/**
 * Stages an Action's input root into an empty build directory: directories
 * (empty ones included), files hardlinked from the file cache with their
 * executable bit, symlinks, the working directory, and the parent directories
 * of every declared output.
 *
 * Symlink targets are created as given, absolute ones included (Kiln
 * advertises SymlinkAbsolutePathStrategy ALLOWED); staging itself never
 * follows a symlink, because every path it writes is a child of a directory
 * it created. A symlink may still point anywhere for the action itself.
 */
import { chmodSync } from 'node:fs';
import { mkdir, rmdir, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { ConcurrencyLimiter } from '../client/concurrency-limiter.ts';
import { expandedTreeSize } from '../client/expanded-tree-size.ts';
import {
  childDigest,
  DirectoryCache,
  fetchDirectoryTree,
  type TreeSource,
} from '../client/fetch-directory-tree.ts';
import { MissingBlobsError } from '../client/missing-blobs-error.ts';
import { type Digest, makeDigest } from '../digest/digest.ts';
import { fromFsError, invalidArgument, type KilnError } from '../errors.ts';
import type {
  Command,
  Directory,
} from '../gen/build/bazel/remote/execution/v2/remote_execution.js';
import {
  declaredOutputs,
  makeDirectoriesInside,
  resolveActionPath,
  validateNodeName,
} from './action-paths.ts';
import type { FileCache, LinkedFiles, LinkRequest } from './file-cache.ts';

/** What staging needs from a CAS client; {@link CasClient} is one. */
export interface InputSource extends TreeSource {
  /** The digests among `digests` that the CAS does not hold. */
  findMissing(digests: readonly Digest[]): Promise<Digest[]>;
}

/** Options for {@link InputStager}. */
export interface InputStagerOptions {
  /** Where Directory messages come from. */
  readonly cas: InputSource;
  /** Where files come from. */
  readonly fileCache: FileCache;
  /**
   * Most files and directories the expanded input tree may hold (a small
   * Directory DAG can expand to a huge tree); 1,000,000 by default.
   */
  readonly maxEntries?: number;
  /** Most directory and symlink creations at once; 64 by default. */
  readonly concurrency?: number;
  /**
   * Permission bits of the directories staging creates, whatever the umask:
   * privilege separation needs 0o777, so that the action's user (who owns
   * only the input root) can write in every directory of its tree. The
   * umask decides when absent.
   */
  readonly directoryMode?: number;
}

/** What to stage. */
export interface StageRequest {
  readonly inputRootDigest: Digest;
  /**
   * Absolute path of an existing directory that becomes the input root,
   * empty but for the empty directories in `existingDirectories`.
   */
  readonly inputRoot: string;
  /**
   * Empty directories already in the input root, relative to it, parents
   * first: those the action needs are kept, the others removed before
   * anything is staged.
   */
  readonly existingDirectories?: readonly string[];
  /** The Command, for its working directory and declared outputs. */
  readonly command: Command;
}

/** What was staged. */
export interface StagedInputs {
  readonly files: number;
  /** Directories of the input tree, the root included. */
  readonly directories: number;
  readonly symlinks: number;
  /** Content bytes of all staged files (duplicates counted each time). */
  readonly bytes: number;
}

interface Layout {
  /** Paths relative to the input root, parents first; '' (the root) excluded. */
  readonly directories: string[];
  readonly files: LinkRequest[];
  readonly symlinks: Array<{ path: string; target: string }>;
  bytes: number;
}

/** Materializes input roots from the CAS through a {@link FileCache}. */
export class InputStager {
  readonly #cas: InputSource;
  readonly #fileCache: FileCache;
  readonly #maxEntries: number;
  readonly #limiter: ConcurrencyLimiter;
  readonly #directoryMode: number | undefined;
  /** Input directories already decoded, shared by this worker's actions. */
  readonly #directories = new DirectoryCache();

  constructor(options: InputStagerOptions) {
    this.#directoryMode = options.directoryMode;
    this.#cas = options.cas;
    this.#fileCache = options.fileCache;
    this.#maxEntries = options.maxEntries ?? 1_000_000;
    this.#limiter = new ConcurrencyLimiter({ limit: options.concurrency ?? 64 });
  }

  /**
   * Stages the input root. Rejects with MissingBlobsError (NOT_FOUND) naming
   * every absent Directory and file blob, INVALID_ARGUMENT for a malformed
   * tree or Command, or the file system's error.
   */
  async stage(request: StageRequest): Promise<StagedInputs> {
    return (await this.stageTracked(request)).staged;
  }

  /**
   * {@link stage}, also returning the cache files it linked, for
   * {@link FileCache.verifyUnchanged} once the command ran.
   */
  async stageTracked(
    request: StageRequest,
  ): Promise<{ staged: StagedInputs; linked: LinkedFiles }> {
    const { command, inputRoot, inputRootDigest } = request;
    // Validate the Command before any download.
    const workingDirectory = resolveActionPath('', command.workingDirectory, 'working directory');
    const outputs = declaredOutputs(command);

    const tree = await fetchDirectoryTree(this.#cas, inputRootDigest, this.#directories);
    // Counted per distinct directory first: a tree of a few dozen directories that share
    // subdirectories can name 2^40 paths, and expanding it to find out costs as much.
    if (expandedTreeSize(inputRootDigest, tree.directories, this.#maxEntries) > this.#maxEntries) {
      throw this.#tooLarge();
    }
    const layout = this.#layout(inputRootDigest, inputRoot, tree.directories);
    if (tree.missing.length > 0) {
      // Files under missing directories stay unknown; name every other absent blob too.
      const absentFiles = await this.#cas.findMissing(layout.files.map((f) => f.digest));
      throw new MissingBlobsError([...tree.missing, ...absentFiles], 'staging inputs');
    }

    const created = await this.#prepareDirectories(request, layout.directories, [
      workingDirectory,
      ...outputs.map((o) => parentOf(o.rootPath)),
    ]);
    const settled = await Promise.allSettled([
      this.#fileCache.linkAll(layout.files),
      this.#limiter.map(layout.symlinks, async (s) => {
        try {
          await symlink(s.target, join(inputRoot, s.path));
        } catch (err) {
          throw fromFsError(err, `creating symlink ${s.path}`);
        }
      }),
    ]);
    for (const s of settled) {
      if (s.status === 'rejected') {
        if (s.reason instanceof MissingBlobsError) {
          throw new MissingBlobsError(s.reason.missing, 'staging inputs');
        }
        throw s.reason;
      }
    }
    const mode = this.#directoryMode;
    await makeDirectoriesInside(inputRoot, workingDirectory, created, mode);
    for (const output of outputs) {
      await makeDirectoriesInside(inputRoot, parentOf(output.rootPath), created, mode);
    }
    const staged: StagedInputs = {
      files: layout.files.length,
      directories: layout.directories.length + 1,
      symlinks: layout.symlinks.length,
      bytes: layout.bytes,
    };
    // Fulfilled: a rejection was thrown above.
    const linked = settled[0] as PromiseFulfilledResult<LinkedFiles>;
    return { staged, linked: linked.value };
  }

  /** Expands the Directory DAG into paths, validating names and digests. */
  #layout(root: Digest, inputRoot: string, directories: ReadonlyMap<string, Directory>): Layout {
    const layout: Layout = { directories: [], files: [], symlinks: [], bytes: 0 };
    const queue: Array<{ digest: Digest; path: string }> = [{ digest: root, path: '' }];
    // Plain concatenation: the root is absolute and every name one checked segment.
    const rootPrefix = inputRoot.endsWith('/') ? inputRoot : `${inputRoot}/`;
    let entries = 0;
    for (let i = 0; i < queue.length; i++) {
      const { digest, path } = queue[i] as { digest: Digest; path: string };
      const directory = directories.get(digest.key);
      if (directory === undefined) continue;
      const where = path === '' ? 'input root' : `input directory "${path}"`;
      const names = new Set<string>();
      const claim = (name: string) => {
        validateNodeName(name, where);
        if (names.has(name)) throw invalidArgument(`${where}: "${name}" appears more than once`);
        names.add(name);
        if (++entries > this.#maxEntries) throw this.#tooLarge();
        return path === '' ? name : `${path}/${name}`;
      };
      for (const file of directory.files) {
        const filePath = claim(file.name);
        if (file.digest === undefined)
          throw invalidArgument(`input file "${filePath}" has no digest`);
        const fileDigest = makeDigest(
          root.fn,
          file.digest.hash,
          file.digest.sizeBytes,
          `input file "${filePath}"`,
        );
        layout.files.push({
          digest: fileDigest,
          executable: file.isExecutable,
          path: rootPrefix + filePath,
        });
        layout.bytes += fileDigest.size;
      }
      for (const child of directory.directories) {
        const childPath = claim(child.name);
        layout.directories.push(childPath);
        queue.push({ digest: childDigest(root, childPath, child.digest), path: childPath });
      }
      for (const link of directory.symlinks) {
        const linkPath = claim(link.name);
        if (link.target === '' || link.target.includes('\0')) {
          throw invalidArgument(`input symlink "${linkPath}" has an empty or invalid target`);
        }
        layout.symlinks.push({ path: linkPath, target: link.target });
      }
    }
    return layout;
  }

  #tooLarge(): KilnError {
    return invalidArgument(`the input tree expands to more than ${this.#maxEntries} entries`);
  }

  /**
   * Makes the input root's directories exactly the tree's: removes the
   * existing ones that neither the tree nor `alsoNeeded` (directories whose
   * parents staging creates later) has, deepest first, and creates the
   * tree's missing ones, level by level (`tree` is breadth-first). Returns
   * the directories now present.
   */
  async #prepareDirectories(
    { inputRoot, existingDirectories = [] }: StageRequest,
    tree: readonly string[],
    alsoNeeded: readonly string[],
  ): Promise<Set<string>> {
    const present = new Set(tree);
    if (existingDirectories.length > 0) {
      const needed = new Set(tree);
      for (const path of alsoNeeded) for (const prefix of prefixes(path)) needed.add(prefix);
      const unneeded = existingDirectories.filter((d) => !needed.has(d));
      await this.#byLevel(unneeded, 'removing', true, (p) => rmdir(join(inputRoot, p)));
      for (const d of existingDirectories) if (needed.has(d)) present.add(d);
    }
    const existing = new Set(existingDirectories);
    const missing = tree.filter((d) => !existing.has(d));
    const mode = this.#directoryMode;
    await this.#byLevel(missing, 'creating', false, async (p) => {
      await mkdir(join(inputRoot, p));
      if (mode !== undefined) chmodSync(join(inputRoot, p), mode);
    });
    return present;
  }

  /** Runs `op` on directory paths one depth at a time, shallowest (or deepest) first. */
  async #byLevel(
    paths: readonly string[],
    verb: string,
    deepestFirst: boolean,
    op: (path: string) => Promise<unknown>,
  ): Promise<void> {
    const levels = new Map<number, string[]>();
    for (const p of paths) {
      const depth = p.split('/').length;
      const level = levels.get(depth);
      if (level === undefined) levels.set(depth, [p]);
      else level.push(p);
    }
    const depths = [...levels.keys()].sort((a, b) => (deepestFirst ? b - a : a - b));
    for (const depth of depths) {
      await this.#limiter.map(levels.get(depth) as string[], async (p) => {
        try {
          await op(p);
        } catch (err) {
          throw fromFsError(err, `${verb} input directory ${p}`);
        }
      });
    }
  }
}

/** The parent of a path relative to the input root ('' for the root's children). */
function parentOf(path: string): string {
  return path.includes('/') ? path.slice(0, path.lastIndexOf('/')) : '';
}

/** `a`, `a/b`, `a/b/c` for `a/b/c`; nothing for ''. */
function prefixes(path: string): string[] {
  if (path === '') return [];
  const parts = path.split('/');
  return parts.map((_, i) => parts.slice(0, i + 1).join('/'));
}
