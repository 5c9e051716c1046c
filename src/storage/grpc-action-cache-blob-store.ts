/**
 * The action cache of another REAPI server as a BlobStore, for Kiln's action
 * cache and Remote Asset association stores (`storage.actionCache`,
 * `storage.assets`), so several Kiln frontends share them through one
 * storage node.
 *
 * These stores hold values under keys that Kiln derives (an action cache key
 * is a hash of the instance name and action digest; an association key a
 * hash of the request), and the values are Kiln's own records. Each value is
 * kept on the backend with UpdateActionResult as an ActionResult whose
 * `execution_metadata.auxiliary_metadata` carries the bytes in an Any of
 * {@link STORED_VALUE_TYPE_URL}, and read back with GetActionResult. The
 * result names no outputs, so a backend's completeness checks pass it, and
 * this Kiln checks completeness against its own CAS as always. A result
 * without that Any (written under the same key by another client) reads as
 * the bare encoded ActionResult, which Kiln's action cache decodes too.
 */
import { Metadata, status } from '@grpc/grpc-js';
import { type Digest, toDigestMessage } from '../digest/digest.ts';
import { notFound, resourceExhausted } from '../errors.ts';
import { ActionResult } from '../gen/build/bazel/remote/execution/v2/remote_execution.js';
import { type BlobStore, type BlobWriter, type ReadRange, resolveRange } from './blob-store.ts';
import {
  BufferingWriter,
  backendError,
  digestFunctionOf,
  type GrpcBackend,
} from './grpc-backend.ts';
import { missingInOrder } from './store-fan-out.ts';

/** The Any type URL of a value stored through the action cache. */
export const STORED_VALUE_TYPE_URL = 'type.googleapis.com/kiln.storage.v1.StoredValue';

/** Largest value stored (an ActionResult is a few KB; the channel's limit is 64 MiB). */
const MAX_VALUE_BYTES = 16 * 1024 * 1024;
/** Lookups in flight for one findMissing. */
const FIND_MISSING_CONCURRENCY = 16;

/** Options of {@link GrpcActionCacheBlobStore}. */
export interface GrpcActionCacheBlobStoreOptions {
  /** The connection; closed by the store's `close`. */
  readonly backend: GrpcBackend;
}

/** Values by key in a remote action cache. */
export class GrpcActionCacheBlobStore implements BlobStore {
  readonly #backend: GrpcBackend;

  constructor(options: GrpcActionCacheBlobStoreOptions) {
    this.#backend = options.backend;
  }

  async get(key: Digest, range?: ReadRange): Promise<AsyncIterable<Uint8Array>> {
    const value = await this.#lookup(key);
    if (value === undefined) {
      throw notFound(`entry ${key.key} is not in the action cache of ${this.#backend.endpoint}`);
    }
    const { start, end } = resolveRange(value.byteLength, range, key.key);
    return slices(value.subarray(start, end));
  }

  async put(key: Digest): Promise<BlobWriter> {
    return new BufferingWriter(
      key,
      MAX_VALUE_BYTES,
      () =>
        resourceExhausted(
          `entry ${key.key} exceeds ${MAX_VALUE_BYTES} bytes, the most a grpc store keeps in an action cache entry`,
        ),
      (value) => this.#update(key, value),
    );
  }

  async findMissing(keys: readonly Digest[]): Promise<Digest[]> {
    const unique = [...new Map(keys.map((k) => [k.key, k])).values()];
    const missing: Digest[] = [];
    let next = 0;
    const lane = async () => {
      while (next < unique.length) {
        const key = unique[next++] as Digest;
        if ((await this.#lookup(key)) === undefined) missing.push(key);
      }
    };
    await Promise.all(
      Array.from({ length: Math.min(FIND_MISSING_CONCURRENCY, unique.length) }, lane),
    );
    return missingInOrder(keys, missing);
  }

  /** Closes the channel. */
  async close(): Promise<void> {
    this.#backend.close();
  }

  /** The stored value, or undefined when the backend holds none. */
  async #lookup(key: Digest): Promise<Buffer | undefined> {
    const { actionCache, instanceName, rpcTimeoutMs } = this.#backend;
    let result: ActionResult;
    try {
      result = await new Promise<ActionResult>((resolve, reject) => {
        actionCache.getActionResult(
          {
            instanceName,
            actionDigest: toDigestMessage(key),
            inlineStdout: false,
            inlineStderr: false,
            inlineOutputFiles: [],
            digestFunction: digestFunctionOf(key),
          },
          new Metadata(),
          { deadline: Date.now() + rpcTimeoutMs },
          (err, response) => (err ? reject(err) : resolve(response)),
        );
      });
    } catch (err) {
      const e = backendError(this.#backend, err, `GetActionResult ${key.key}`);
      if (e.code === status.NOT_FOUND) return undefined;
      throw e;
    }
    const stored = result.executionMetadata?.auxiliaryMetadata.find(
      (any) => any.typeUrl === STORED_VALUE_TYPE_URL,
    );
    return stored === undefined
      ? Buffer.from(ActionResult.encode(result).finish())
      : Buffer.from(stored.value);
  }

  async #update(key: Digest, value: Buffer): Promise<void> {
    const { actionCache, instanceName, rpcTimeoutMs } = this.#backend;
    const actionResult = ActionResult.fromPartial({
      executionMetadata: { auxiliaryMetadata: [{ typeUrl: STORED_VALUE_TYPE_URL, value }] },
    });
    try {
      await new Promise<void>((resolve, reject) => {
        actionCache.updateActionResult(
          {
            instanceName,
            actionDigest: toDigestMessage(key),
            actionResult,
            resultsCachePolicy: undefined,
            digestFunction: digestFunctionOf(key),
          },
          new Metadata(),
          { deadline: Date.now() + rpcTimeoutMs },
          (err) => (err ? reject(err) : resolve()),
        );
      });
    } catch (err) {
      throw backendError(this.#backend, err, `UpdateActionResult ${key.key}`);
    }
  }
}

/** A value in chunks of at most 1 MiB, as the other stores stream theirs. */
async function* slices(value: Buffer): AsyncIterable<Uint8Array> {
  const size = 1024 * 1024;
  for (let at = 0; at < value.byteLength; at += size) yield value.subarray(at, at + size);
}
