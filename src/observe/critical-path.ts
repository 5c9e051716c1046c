/**
 * Estimates a build's critical path from what the server sees: an executed
 * action depends on the executed actions whose outputs are among its inputs.
 *
 * The server never sees Bazel's action graph, but it sees each action's input
 * tree and each result's outputs, keyed by digest. When action B completes,
 * its path length is its own execution time plus the longest path among the
 * producers of its input files (or input directories, for output
 * directories); its outputs then carry that length to whoever consumes them.
 * Actions Bazel ran locally or found in a cache count as zero, so this is a
 * lower bound of the real critical path, and exact for a build executed
 * entirely on Kiln.
 */
import { type Digest, isEmptyDigest, makeDigest } from '../digest/digest.ts';
import {
  type ActionResult,
  Directory,
} from '../gen/build/bazel/remote/execution/v2/remote_execution.js';
import { type BlobStore, readAll } from '../storage/blob-store.ts';

/** Options of {@link CriticalPaths}. */
export interface CriticalPathsOptions {
  /** The CAS holding the input trees. */
  readonly cas: BlobStore;
  /**
   * Most Directory messages read per action; a larger input tree is looked at
   * only this far (its producers beyond are not seen). Default 2,000.
   */
  readonly maxDirectories?: number;
  /** Most output digests remembered per build; the oldest go first. Default 200,000. */
  readonly maxOutputs?: number;
  /** Most builds followed at once; the least recently active go first. Default 200. */
  readonly maxBuilds?: number;
  /** Most Directory messages kept decoded between actions. Default 20,000. */
  readonly maxCachedDirectories?: number;
}

interface CachedDirectory {
  /** Keys of its files and subdirectories, as outputs are keyed. */
  readonly keys: readonly string[];
  readonly children: readonly Digest[];
}

/** One executed action, as the scheduler reports it. */
export interface ExecutedAction {
  readonly invocationId: string;
  /** The action's input root, in the action digest's function. */
  readonly inputRoot: Digest;
  readonly result: ActionResult | undefined;
  /** The action's own execution time. */
  readonly executionMs: number;
}

/** Per-build critical path lengths, fed with executed actions. */
export class CriticalPaths {
  readonly #cas: BlobStore;
  readonly #maxDirectories: number;
  readonly #maxOutputs: number;
  readonly #maxBuilds: number;
  readonly #maxCachedDirectories: number;
  /** Per build: output digest key → length of the longest path ending in its producer. */
  readonly #builds = new Map<string, Map<string, number>>();
  /**
   * Recently read Directory messages, as the keys of their entries and their
   * subdirectories: consecutive actions share most of their input trees
   * (toolchains, sources), which are then not read and decoded again.
   */
  readonly #directories = new Map<string, CachedDirectory>();

  constructor(options: CriticalPathsOptions) {
    this.#cas = options.cas;
    this.#maxDirectories = options.maxDirectories ?? 2000;
    this.#maxOutputs = options.maxOutputs ?? 200_000;
    this.#maxBuilds = options.maxBuilds ?? 200;
    this.#maxCachedDirectories = options.maxCachedDirectories ?? 20_000;
  }

  /**
   * Records an executed action; resolves with the length of the longest path
   * of the build that ends in it (its execution time plus its producers').
   */
  async record(action: ExecutedAction): Promise<number> {
    const produced = this.#build(action.invocationId);
    let start = 0;
    for (const key of await this.#inputKeys(action.inputRoot)) {
      start = Math.max(start, produced.get(key) ?? 0);
    }
    const length = start + Math.max(0, action.executionMs);
    const fn = action.inputRoot.fn;
    for (const file of action.result?.outputFiles ?? []) {
      if (file.digest) this.#produce(produced, keyOf(fn, file.digest), length);
    }
    for (const dir of action.result?.outputDirectories ?? []) {
      if (dir.rootDirectoryDigest)
        this.#produce(produced, keyOf(fn, dir.rootDirectoryDigest), length);
    }
    return length;
  }

  #build(invocationId: string): Map<string, number> {
    let produced = this.#builds.get(invocationId);
    if (produced !== undefined) {
      this.#builds.delete(invocationId);
    } else {
      produced = new Map();
      if (this.#builds.size >= this.#maxBuilds) {
        const oldest = this.#builds.keys().next().value;
        if (oldest !== undefined) this.#builds.delete(oldest);
      }
    }
    this.#builds.set(invocationId, produced);
    return produced;
  }

  #produce(produced: Map<string, number>, key: string, length: number): void {
    produced.set(key, Math.max(produced.get(key) ?? 0, length));
    if (produced.size > this.#maxOutputs) {
      const oldest = produced.keys().next().value;
      if (oldest !== undefined) produced.delete(oldest);
    }
  }

  /** Keys of every file and directory digest in the input tree, as far as it can be read. */
  async #inputKeys(root: Digest): Promise<string[]> {
    const keys: string[] = [];
    const queue: Digest[] = [root];
    const seen = new Set<string>([root.key]);
    for (let read = 0; read < queue.length && read < this.#maxDirectories; read++) {
      const directory = await this.#directory(queue[read] as Digest);
      if (directory === undefined) continue; // Evicted or not a Directory: producers unseen.
      keys.push(...directory.keys);
      for (const child of directory.children) {
        if (!seen.has(child.key)) {
          seen.add(child.key);
          queue.push(child);
        }
      }
    }
    return keys;
  }

  async #directory(digest: Digest): Promise<CachedDirectory | undefined> {
    const cached = this.#directories.get(digest.key);
    if (cached !== undefined) return cached;
    let directory: Directory;
    try {
      directory = isEmptyDigest(digest)
        ? Directory.create({})
        : Directory.decode(await readAll(this.#cas, digest));
    } catch {
      return undefined;
    }
    const fn = digest.fn;
    const keys: string[] = [];
    const children: Digest[] = [];
    for (const file of directory.files) {
      if (file.digest) keys.push(keyOf(fn, file.digest));
    }
    for (const child of directory.directories) {
      if (child.digest === undefined) continue;
      keys.push(keyOf(fn, child.digest));
      children.push(makeDigest(fn, child.digest.hash, child.digest.sizeBytes, child.name));
    }
    const entry = { keys, children };
    this.#directories.set(digest.key, entry);
    if (this.#directories.size > this.#maxCachedDirectories) {
      const oldest = this.#directories.keys().next().value;
      if (oldest !== undefined) this.#directories.delete(oldest);
    }
    return entry;
  }
}

function keyOf(fn: Digest['fn'], digest: { hash: string; sizeBytes: number }): string {
  return `${fn.name}/${digest.hash}/${digest.sizeBytes}`;
}
