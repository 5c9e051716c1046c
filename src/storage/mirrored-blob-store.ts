/**
 * Two copies of every blob (Buildbarn's MirroredBlobAccess): writes go to
 * both stores and succeed only when both commit; reads prefer `a` and fall
 * back to `b`; a blob found on one side only is copied to the other (on a
 * read that falls back, and on findMissing), so a replaced or wiped side
 * fills itself again from use.
 */
import { status } from '@grpc/grpc-js';
import type { Digest } from '../digest/digest.ts';
import { hasCode, KilnError, unavailable, withContext } from '../errors.ts';
import {
  type BlobStore,
  type BlobWriter,
  type MissingBlobListener,
  type ReadRange,
  readContinuingFrom,
} from './blob-store.ts';
import { closeEvery, missingInOrder } from './store-fan-out.ts';

/** Options of {@link MirroredBlobStore}. Both stores are closed by its `close`. */
export interface MirroredBlobStoreOptions {
  /** The preferred side for reads. */
  readonly a: BlobStore;
  /** The other side. */
  readonly b: BlobStore;
  /** Most repairs (whole-blob copies) running at once; 4 by default. */
  readonly repairConcurrency?: number;
}

/** Counters of what a mirror repaired, for metrics and tests. */
export interface MirrorRepairs {
  /** Blobs copied from `b` to `a`. */
  readonly toA: number;
  /** Blobs copied from `a` to `b`. */
  readonly toB: number;
  /** Copies that failed (the blob stays on one side until the next attempt). */
  readonly failed: number;
}

type Side = 'a' | 'b';

/** Keeps every blob in two stores and repairs a side that lost one. */
export class MirroredBlobStore implements BlobStore {
  readonly #a: BlobStore;
  readonly #b: BlobStore;
  readonly #repairConcurrency: number;
  /** Copies in progress by `side:key`, so that one blob is copied once at a time. */
  readonly #repairing = new Map<string, Promise<void>>();
  #counts = { toA: 0, toB: 0, failed: 0 };
  readonly stats: BlobStore['stats'];

  constructor(options: MirroredBlobStoreOptions) {
    this.#a = options.a;
    this.#b = options.b;
    this.#repairConcurrency = options.repairConcurrency ?? 4;
    this.stats = options.a.stats?.bind(options.a);
  }

  /** What was repaired since the store was opened. */
  repairs(): MirrorRepairs {
    return { ...this.#counts };
  }

  /**
   * From `a`, else from `b`. NOT_FOUND only when both say so: a side that
   * fails otherwise may hold the blob, so its error is reported instead.
   * A blob that only `b` holds is copied to `a`.
   */
  async get(digest: Digest, range?: ReadRange): Promise<AsyncIterable<Uint8Array>> {
    let errorA: unknown;
    try {
      return readContinuingFrom(await this.#a.get(digest, range), this.#b, digest, range);
    } catch (err) {
      if (hasCode(err, status.OUT_OF_RANGE) || hasCode(err, status.INVALID_ARGUMENT)) throw err;
      errorA = err;
    }
    let stream: AsyncIterable<Uint8Array>;
    try {
      stream = await this.#b.get(digest, range);
    } catch (errorB) {
      throw bothFailed(digest, errorA, errorB);
    }
    // In the background, and not beyond the repair bound: the next access tries again.
    if (hasCode(errorA, status.NOT_FOUND) && this.#repairing.size < this.#repairConcurrency) {
      void this.#repair(digest, 'a').catch(() => {});
    }
    return stream;
  }

  /** Writes both sides; the upload succeeds only when both commit. */
  async put(digest: Digest): Promise<BlobWriter> {
    const [a, b] = await Promise.allSettled([this.#a.put(digest), this.#b.put(digest)]);
    if (a.status === 'rejected' || b.status === 'rejected') {
      if (a.status === 'fulfilled') await a.value.abort().catch(() => {});
      if (b.status === 'fulfilled') await b.value.abort().catch(() => {});
      throw sideFailure(digest, 'starting the upload', a, b);
    }
    return new MirrorWriter(digest, a.value, b.value);
  }

  /** Both sides hold the blobs, so both hear of their use. */
  noteUsed(digests: readonly Digest[], onMissing?: MissingBlobListener): void {
    this.#a.noteUsed?.(digests, onMissing);
    this.#b.noteUsed?.(digests, onMissing);
  }

  /**
   * Missing only when missing on both sides. A blob on one side only is
   * copied to the other before the answer, so that after a "present" both
   * sides hold it. When one side cannot answer, the other's answer stands
   * (reads fall back to it); when neither can, the call fails.
   */
  async findMissing(digests: readonly Digest[]): Promise<Digest[]> {
    const [a, b] = await Promise.allSettled([
      this.#a.findMissing(digests),
      this.#b.findMissing(digests),
    ]);
    if (a.status === 'rejected' && b.status === 'rejected') {
      throw bothFailed(digests[0], a.reason, b.reason);
    }
    if (a.status === 'rejected') return (b as PromiseFulfilledResult<Digest[]>).value;
    if (b.status === 'rejected') return a.value;
    const missingA = new Set(a.value.map((d) => d.key));
    const missingB = new Set(b.value.map((d) => d.key));
    const repairs: Array<{ digest: Digest; to: Side }> = [];
    const seen = new Set<string>();
    for (const d of digests) {
      if (seen.has(d.key)) continue;
      seen.add(d.key);
      const inA = !missingA.has(d.key);
      const inB = !missingB.has(d.key);
      if (inA !== inB) repairs.push({ digest: d, to: inA ? 'b' : 'a' });
    }
    await this.#repairAll(repairs);
    return missingInOrder(
      digests,
      a.value.filter((d) => missingB.has(d.key)),
    );
  }

  /** Resolves when no repair is running (those started by reads run in the background). */
  async idle(): Promise<void> {
    while (this.#repairing.size > 0) await Promise.allSettled([...this.#repairing.values()]);
  }

  /** Waits for repairs in flight, then closes both sides. */
  async close(): Promise<void> {
    await this.idle();
    await closeEvery([this.#a, this.#b]);
  }

  async #repairAll(repairs: ReadonlyArray<{ digest: Digest; to: Side }>): Promise<void> {
    let next = 0;
    const lane = async () => {
      while (next < repairs.length) {
        const job = repairs[next++] as { digest: Digest; to: Side };
        await this.#repair(job.digest, job.to).catch(() => {});
      }
    };
    await Promise.all(
      Array.from({ length: Math.min(this.#repairConcurrency, repairs.length) }, lane),
    );
  }

  /** Copies the whole blob to side `to` from the other side; one copy per blob at a time. */
  #repair(digest: Digest, to: Side): Promise<void> {
    const id = `${to}:${digest.key}`;
    let copy = this.#repairing.get(id);
    if (copy === undefined) {
      const [from, into] = to === 'a' ? [this.#b, this.#a] : [this.#a, this.#b];
      copy = copyBlob(from, into, digest).then(
        () => {
          if (to === 'a') this.#counts.toA++;
          else this.#counts.toB++;
        },
        (err: unknown) => {
          this.#counts.failed++;
          throw err;
        },
      );
      const tracked = copy.finally(() => this.#repairing.delete(id));
      tracked.catch(() => {});
      this.#repairing.set(id, tracked);
      copy = tracked;
    }
    return copy;
  }
}

/** Streams a blob from one store into another. */
async function copyBlob(from: BlobStore, into: BlobStore, digest: Digest): Promise<void> {
  const source = await from.get(digest);
  const writer = await into.put(digest);
  try {
    for await (const chunk of source) await writer.write(chunk);
    await writer.commit();
  } catch (err) {
    await writer.abort().catch(() => {});
    throw err;
  }
}

/** Writes every chunk to both sides; commit succeeds only when both commit. */
class MirrorWriter implements BlobWriter {
  readonly #digest: Digest;
  readonly #a: BlobWriter;
  readonly #b: BlobWriter;

  constructor(digest: Digest, a: BlobWriter, b: BlobWriter) {
    this.#digest = digest;
    this.#a = a;
    this.#b = b;
  }

  get written(): number {
    return this.#a.written;
  }

  async write(chunk: Uint8Array): Promise<void> {
    const [a, b] = await Promise.allSettled([this.#a.write(chunk), this.#b.write(chunk)]);
    if (a.status === 'rejected' || b.status === 'rejected') {
      await this.abort();
      throw sideFailure(this.#digest, 'writing', a, b);
    }
  }

  async commit(): Promise<void> {
    const [a, b] = await Promise.allSettled([this.#a.commit(), this.#b.commit()]);
    if (a.status === 'rejected' || b.status === 'rejected') {
      // The side that committed keeps its copy: reads and findMissing repair the other.
      await this.abort();
      throw sideFailure(this.#digest, 'committing', a, b);
    }
  }

  async abort(): Promise<void> {
    await Promise.allSettled([this.#a.abort(), this.#b.abort()]);
  }
}

/** The error of an operation that failed on one side or both, naming the side(s). */
function sideFailure(
  digest: Digest,
  doing: string,
  a: PromiseSettledResult<unknown>,
  b: PromiseSettledResult<unknown>,
): KilnError {
  if (a.status === 'rejected' && b.status === 'rejected') {
    return withContext(
      a.reason,
      `mirror: ${doing} blob ${digest.key} failed on both sides (b: ${message(b.reason)})`,
    );
  }
  const [side, reason] =
    a.status === 'rejected' ? ['a', a.reason] : ['b', (b as PromiseRejectedResult).reason];
  return withContext(reason, `mirror: ${doing} blob ${digest.key} failed on side ${side}`);
}

/** NOT_FOUND when both sides lack the blob; otherwise the failure that hides it (UNAVAILABLE if unknown). */
function bothFailed(digest: Digest | undefined, errorA: unknown, errorB: unknown): KilnError {
  const what = digest === undefined ? 'the request' : `blob ${digest.key}`;
  const notFoundA = hasCode(errorA, status.NOT_FOUND);
  const notFoundB = hasCode(errorB, status.NOT_FOUND);
  if (notFoundA && notFoundB) return withContext(errorA, 'mirror');
  const failed = notFoundA ? errorB : errorA;
  if (failed instanceof KilnError) {
    return withContext(
      failed,
      `mirror: neither side could serve ${what} (a: ${message(errorA)}; b: ${message(errorB)})`,
    );
  }
  return unavailable(
    `mirror: neither side could serve ${what} (a: ${message(errorA)}; b: ${message(errorB)})`,
    failed,
  );
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
