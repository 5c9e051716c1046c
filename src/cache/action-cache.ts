/**
 * The action cache: ActionResults keyed by instance name, digest function and
 * action digest, kept in a BlobStore. A result is served only while every
 * blob it references (outputs, the files inside output Trees, stdout and
 * stderr) is still in the CAS, so a client never gets a hit it cannot use.
 * Every entry records who wrote it (see provenance.ts), and entries can be
 * purged by writer: a purged entry is overwritten with a marker that reads as
 * absent, since stores cannot delete, and the store's eviction drops it later.
 */
import { hash } from 'node:crypto';
import { status } from '@grpc/grpc-js';
import { type Digest, isEmptyDigest, makeDigest, parseDigest } from '../digest/digest.ts';
import { SHA256 } from '../digest/digest-function.ts';
import { hasCode, invalidArgument } from '../errors.ts';
import {
  type ActionResult,
  type Digest as DigestMessage,
  Tree,
} from '../gen/build/bazel/remote/execution/v2/remote_execution.js';
import { type BlobStore, putBuffer, readAll } from '../storage/blob-store.ts';
import { type DecodedEntry, decodeEntry, encodeEntry, encodePurged } from './action-cache-entry.ts';
import {
  type EntryWriter,
  type Provenance,
  provenanceOf,
  timestampOf,
  type WriterFilter,
  writerFieldsOf,
  writerMatches,
} from './provenance.ts';
import { type IndexedWrite, WriterIndex } from './writer-index.ts';

/** Options for {@link ActionCache}. */
export interface ActionCacheOptions {
  /** Where encoded ActionResults live. Not content-verified. */
  readonly store: BlobStore;
  /** The CAS that completeness checks consult. */
  readonly cas: BlobStore;
  /** Who wrote which entry, for purges; in memory only (lost at exit) when absent. */
  readonly writers?: WriterIndex;
  /** Clock in ms since the epoch, for provenance; default `Date.now`. */
  readonly now?: () => number;
}

/** An entry with who wrote it, as {@link ActionCache.lookup} returns it. */
export interface ActionCacheEntryView {
  readonly result: ActionResult;
  /** Undefined for entries written before Kiln recorded provenance. */
  readonly provenance: Provenance | undefined;
  /** Whether every output is still in the CAS, that is, whether GetActionResult serves it. */
  readonly complete: boolean;
}

/** What to purge; see {@link ActionCache.purge}. */
export interface PurgeRequest {
  readonly filter: WriterFilter;
  /** Entries of instances covered by this prefix (per path segment); "" is all. */
  readonly instancePrefix: string;
  /** The administrator's principal, recorded in the purge marker. */
  readonly by: string;
  /** Count without removing. */
  readonly dryRun?: boolean;
}

/** One purged entry. */
export interface PurgedEntryView {
  readonly instanceName: string;
  readonly action: Digest;
  readonly provenance: Provenance;
}

/** What a purge did. */
export interface PurgeOutcome {
  /** Entries removed (with `dryRun`, that would be). */
  readonly removed: number;
  /** Candidates from the writer index checked against the store. */
  readonly examined: number;
  /** The removed entries, at most {@link PURGE_LIST_LIMIT}. */
  readonly entries: readonly PurgedEntryView[];
}

/** Most entries a purge lists (it removes any number). */
export const PURGE_LIST_LIMIT = 1000;

/** Action results for every instance name. */
export class ActionCache {
  readonly #store: BlobStore;
  readonly #cas: BlobStore;
  readonly #writers: WriterIndex;
  readonly #now: () => number;
  /**
   * Store keys a purge has read and not yet overwritten; a put in between
   * marks its key, and the purge then leaves the new result alone.
   */
  readonly #purging = new Map<string, { written: boolean }>();

  constructor(options: ActionCacheOptions) {
    this.#store = options.store;
    this.#cas = options.cas;
    this.#writers = options.writers ?? WriterIndex.inMemory();
    this.#now = options.now ?? Date.now;
  }

  /** The storage key of an action: instance names and digest functions never collide. */
  static keyOf(instanceName: string, action: Digest): Digest {
    // One-shot: a Hash object per lookup cost more than the hashing itself.
    return makeDigest(
      SHA256,
      hash('sha256', `${instanceName}\u0000${action.key}`, 'hex'),
      action.size,
    );
  }

  /** The stored result, or undefined when absent or incomplete. */
  async get(instanceName: string, action: Digest): Promise<ActionResult | undefined> {
    const result = (await this.#read(instanceName, action))?.result;
    if (result === undefined) return undefined;
    return (await this.#isComplete(result, action)) ? result : undefined;
  }

  /**
   * The entry with its provenance, complete or not; undefined when absent
   * or purged. For the web UI and the admin API, not for serving hits.
   */
  async lookup(instanceName: string, action: Digest): Promise<ActionCacheEntryView | undefined> {
    const entry = await this.#read(instanceName, action);
    if (entry?.result === undefined) return undefined;
    const complete = await this.#isComplete(entry.result, action);
    return { result: entry.result, provenance: entry.provenance, complete };
  }

  /**
   * Stores a result, after validating every digest in it, with who wrote it
   * (the writer index first, so that a crash in between leaves at worst an
   * index line without its entry, never an entry a purge cannot find).
   */
  async put(
    instanceName: string,
    action: Digest,
    result: ActionResult,
    writer: EntryWriter = { source: 'upload' },
  ): Promise<void> {
    referencedDigests(result, action.fn.value);
    const provenance = provenanceOf(writer, this.#now());
    this.#writers.record({ instanceName, action, ...writerFieldsOf(provenance) });
    const key = ActionCache.keyOf(instanceName, action);
    const purging = this.#purging.get(key.key);
    if (purging !== undefined) purging.written = true;
    await putBuffer(this.#store, key, encodeEntry(result, provenance));
  }

  /**
   * Removes every entry the request's filter selects. Candidates come from
   * the writer index; each is read back and removed only when its stored
   * provenance matches too, so the count is of entries really removed.
   */
  async purge(request: PurgeRequest): Promise<PurgeOutcome> {
    const candidates = this.#writers.select(request.filter, request.instancePrefix);
    const entries: PurgedEntryView[] = [];
    let removed = 0;
    for (const candidate of candidates) {
      const provenance = await this.#purgeOne(candidate, request);
      if (provenance === undefined) continue;
      removed++;
      if (entries.length < PURGE_LIST_LIMIT) {
        entries.push({
          instanceName: candidate.instanceName,
          action: candidate.action,
          provenance,
        });
      }
    }
    return { removed, examined: candidates.length, entries };
  }

  /** Purges one candidate if its stored entry matches; returns its provenance when it did. */
  async #purgeOne(candidate: IndexedWrite, request: PurgeRequest): Promise<Provenance | undefined> {
    const { instanceName, action } = candidate;
    const key = ActionCache.keyOf(instanceName, action);
    const mark = { written: false };
    this.#purging.set(key.key, mark);
    try {
      const entry = await this.#read(instanceName, action);
      if (entry === undefined || entry.purged !== undefined) {
        if (!mark.written) this.#writers.forget(instanceName, action);
        return undefined;
      }
      const provenance = entry.provenance;
      if (provenance === undefined || !writerMatches(request.filter, writerFieldsOf(provenance))) {
        return undefined;
      }
      if (request.dryRun) return provenance;
      // A result stored since the read is someone's new write, not the one judged here.
      if (mark.written) return undefined;
      const marker = encodePurged(
        { principal: request.by, purgedAt: timestampOf(this.#now()) },
        provenance,
      );
      await putBuffer(this.#store, key, marker);
      if (!mark.written) this.#writers.forget(instanceName, action);
      return provenance;
    } finally {
      if (this.#purging.get(key.key) === mark) this.#purging.delete(key.key);
    }
  }

  /**
   * The decoded entry, or undefined when the store holds none or one that
   * does not decode (which the store's atomic writes make a foreign value,
   * never a torn one): a miss either way.
   */
  async #read(instanceName: string, action: Digest): Promise<DecodedEntry | undefined> {
    let bytes: Buffer;
    try {
      bytes = await readAll(this.#store, ActionCache.keyOf(instanceName, action));
    } catch (err) {
      if (hasCode(err, status.NOT_FOUND)) return undefined;
      throw err;
    }
    try {
      return decodeEntry(bytes);
    } catch {
      return undefined;
    }
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
