/**
 * The action cache: ActionResults keyed by instance name, digest function and
 * action digest, kept in a BlobStore. A result is served only while every
 * blob it references (outputs, the files inside output Trees, stdout and
 * stderr) is still in the CAS, so a client never gets a hit it cannot use.
 */
import { createHash } from 'node:crypto';
import { status } from '@grpc/grpc-js';
import { type Digest, isEmptyDigest, makeDigest, parseDigest } from '../digest/digest.ts';
import { SHA256 } from '../digest/digest-function.ts';
import { hasCode, invalidArgument } from '../errors.ts';
import {
  ActionResult,
  type Digest as DigestMessage,
  Tree,
} from '../gen/build/bazel/remote/execution/v2/remote_execution.js';
import { type BlobStore, putBuffer, readAll } from '../storage/blob-store.ts';

/** Options for {@link ActionCache}. */
export interface ActionCacheOptions {
  /** Where encoded ActionResults live. Not content-verified. */
  readonly store: BlobStore;
  /** The CAS that completeness checks consult. */
  readonly cas: BlobStore;
}

/** Action results for every instance name. */
export class ActionCache {
  readonly #store: BlobStore;
  readonly #cas: BlobStore;

  constructor(options: ActionCacheOptions) {
    this.#store = options.store;
    this.#cas = options.cas;
  }

  /** The storage key of an action: instance names and digest functions never collide. */
  static keyOf(instanceName: string, action: Digest): Digest {
    const hash = createHash('sha256').update(`${instanceName}\u0000${action.key}`).digest('hex');
    return makeDigest(SHA256, hash, action.size);
  }

  /** The stored result, or undefined when absent or incomplete. */
  async get(instanceName: string, action: Digest): Promise<ActionResult | undefined> {
    let bytes: Buffer;
    try {
      bytes = await readAll(this.#store, ActionCache.keyOf(instanceName, action));
    } catch (err) {
      if (hasCode(err, status.NOT_FOUND)) return undefined;
      throw err;
    }
    const result = ActionResult.decode(bytes);
    return (await this.#isComplete(result, action)) ? result : undefined;
  }

  /** Stores a result after validating every digest in it. */
  async put(instanceName: string, action: Digest, result: ActionResult): Promise<void> {
    referencedDigests(result, action.fn.value);
    const bytes = ActionResult.encode(result).finish();
    await putBuffer(this.#store, ActionCache.keyOf(instanceName, action), bytes);
  }

  async #isComplete(result: ActionResult, action: Digest): Promise<boolean> {
    const fnValue = action.fn.value;
    // Results were validated when stored; a malformed one is simply unusable.
    let referenced: Digest[];
    try {
      referenced = referencedDigests(result, fnValue);
    } catch {
      return false;
    }
    for (const dir of result.outputDirectories) {
      const files = await this.#treeFiles(parseDigest(dir.treeDigest, fnValue));
      if (files === undefined) return false;
      referenced.push(...files);
    }
    const unique = new Map<string, Digest>();
    for (const d of referenced) if (!isEmptyDigest(d)) unique.set(d.key, d);
    if (unique.size === 0) return true;
    return (await this.#cas.findMissing([...unique.values()])).length === 0;
  }

  /** File digests inside a Tree, or undefined when the Tree is missing or malformed. */
  async #treeFiles(treeDigest: Digest): Promise<Digest[] | undefined> {
    if (isEmptyDigest(treeDigest)) return [];
    let bytes: Buffer;
    try {
      bytes = await readAll(this.#cas, treeDigest);
    } catch (err) {
      if (hasCode(err, status.NOT_FOUND)) return undefined;
      throw err;
    }
    try {
      const tree = Tree.decode(bytes);
      return [tree.root, ...tree.children].flatMap((dir) =>
        (dir?.files ?? []).map((f) => parseDigest(f.digest, treeDigest.fn.value)),
      );
    } catch {
      return undefined;
    }
  }
}

/** Every CAS digest an ActionResult names directly; throws INVALID_ARGUMENT on a malformed one. */
export function referencedDigests(result: ActionResult, fnValue: number): Digest[] {
  const out: Digest[] = [];
  const add = (d: DigestMessage | undefined, what: string, optional = false): void => {
    if (d === undefined) {
      if (optional) return;
      throw invalidArgument(`action_result.${what} is missing`);
    }
    out.push(parseDigest(d, fnValue, `action_result.${what}`));
  };
  result.outputFiles.forEach((f, i) => {
    add(f.digest, `output_files[${i}].digest`);
  });
  result.outputDirectories.forEach((d, i) => {
    add(d.treeDigest, `output_directories[${i}].tree_digest`);
    add(d.rootDirectoryDigest, `output_directories[${i}].root_directory_digest`, true);
  });
  add(result.stdoutDigest, 'stdout_digest', true);
  add(result.stderrDigest, 'stderr_digest', true);
  return out;
}
