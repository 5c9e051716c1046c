/**
 * The work FindMissingBlobs does for a request of 400,000 digests against
 * the default CAS (a disk store behind verification), counted rather than
 * timed: every digest is looked up once, as a packed digest (one object, its
 * hash in a table shared by its slice), in slices of a bounded length; and a
 * call that arrives meanwhile is looked up after one slice of the large one.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Digest } from '../../src/digest/digest.ts';
import { digestOf } from '../../src/digest/digest.ts';
import { SHA256 } from '../../src/digest/digest-function.ts';
import { PackedDigest } from '../../src/digest/packed-digest.ts';
import {
  type Digest as DigestMessage,
  FindMissingBlobsRequest,
  FindMissingBlobsResponse,
} from '../../src/gen/build/bazel/remote/execution/v2/remote_execution.js';
import { LazyFindMissingBlobsRequest } from '../../src/rpc/cas-codec.ts';
import { EncodedFindMissingBlobsResponse } from '../../src/rpc/missing-digest-writer.ts';
import type { RpcContext } from '../../src/rpc/rpc.ts';
import {
  createFindMissing,
  MAX_SLICE,
  MIN_SLICE,
  nextSliceLength,
} from '../../src/services/find-missing.ts';
import type { BlobStore, BlobWriter, ReadRange } from '../../src/storage/blob-store.ts';
import { DiskBlobStore } from '../../src/storage/disk-blob-store.ts';
import { VerifyingBlobStore } from '../../src/storage/verifying-blob-store.ts';
import { ByteBudget } from '../../src/util/byte-budget.ts';
import { silentLogger } from '../../src/util/logger.ts';
import { mixedDigests, randomDigest } from '../support/blobs.ts';

/** One findMissing call the CAS received. */
interface Lookup {
  readonly call: string;
  readonly digests: readonly Digest[];
}

/** Passes everything to the real store and writes down each findMissing call. */
class RecordingStore implements BlobStore {
  readonly lookups: Lookup[] = [];
  /** Names the calls: set by the test before each starts a slice. */
  call = '';
  onLookup: ((lookup: Lookup) => void) | undefined;
  readonly #backend: BlobStore;

  constructor(backend: BlobStore) {
    this.#backend = backend;
  }

  get(digest: Digest, range?: ReadRange): Promise<AsyncIterable<Uint8Array>> {
    return this.#backend.get(digest, range);
  }

  put(digest: Digest): Promise<BlobWriter> {
    return this.#backend.put(digest);
  }

  findMissing(digests: readonly Digest[]): Promise<Digest[]> {
    // The call is told by its size: the small one asks for 3 digests.
    const lookup = { call: digests.length === 3 ? 'small' : 'large', digests: [...digests] };
    this.lookups.push(lookup);
    this.onLookup?.(lookup);
    return this.#backend.findMissing(digests);
  }

  close(): Promise<void> {
    return this.#backend.close();
  }
}

function context(): RpcContext {
  return {
    log: silentLogger(),
    requestMetadata: undefined,
    cancelled: () => false,
    signal: new AbortController().signal,
    deadlineMs: undefined,
    identity: undefined,
  };
}

function encode(blobDigests: DigestMessage[]): LazyFindMissingBlobsRequest {
  return new LazyFindMissingBlobsRequest(
    Buffer.from(
      FindMissingBlobsRequest.encode({ instanceName: '', blobDigests, digestFunction: 0 }).finish(),
    ),
  );
}

describe('FindMissingBlobs of 400,000 digests against a disk store', () => {
  const DIGESTS = 400_000;
  let dir: string;
  let disk: DiskBlobStore;
  let cas: RecordingStore;
  let present: DigestMessage[];

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kiln-find-missing-'));
    disk = await DiskBlobStore.open({ path: dir, maxBytes: 64 * 1024 * 1024 });
    await disk.whenIndexed();
    present = [];
    for (let i = 0; i < 200; i++) {
      const data = randomBytes(64);
      const digest = await digestOf(SHA256, data);
      const writer = await disk.put(digest);
      await writer.write(data);
      await writer.commit();
      present.push({ hash: digest.hash, sizeBytes: digest.size });
    }
    cas = new RecordingStore(new VerifyingBlobStore({ backend: disk }));
  });
  after(async () => {
    await disk.close();
    await rm(dir, { recursive: true, force: true });
  });

  const handler = () =>
    createFindMissing({
      cas,
      budget: new ByteBudget({ name: 'FindMissingBlobs requests', maxBytes: 1e9, maxWaitMs: 1000 }),
    });

  it('looks each digest up once, packed, in slices of a bounded length, and answers like the generated encoder', async () => {
    // A quarter present (each stored blob asked about 500 times), the rest missing, and the
    // first missing ones asked about again at the end, many slices after their first mention.
    const { digests, missing } = mixedDigests(present, DIGESTS);
    cas.lookups.length = 0;
    const reply = await handler()(encode(digests), context());

    assert.ok(reply instanceof EncodedFindMissingBlobsResponse);
    const expected = FindMissingBlobsResponse.encode({ missingBlobDigests: missing }).finish();
    assert.ok(Buffer.from(expected).equals(reply.bytes), 'the reply differs');

    const lengths = cas.lookups.map((l) => l.digests.length);
    assert.equal(
      lengths.reduce((a, b) => a + b, 0),
      DIGESTS,
      'every digest is looked up exactly once',
    );
    assert.equal(lengths[0], MIN_SLICE);
    assert.ok(Math.max(...lengths) <= MAX_SLICE, `slices of ${Math.max(...lengths)} digests`);
    // One object per digest: its hash bytes sit in a table that its whole slice shares.
    for (const { digests: slice } of cas.lookups) {
      const tables = new Set<Uint8Array>();
      for (const d of slice) {
        assert.ok(d instanceof PackedDigest, 'a digest was not packed');
        tables.add(d.table);
      }
      assert.equal(tables.size, 1);
    }
  });

  it('looks up a call that arrives meanwhile after one slice of the large one', async () => {
    const large = encode(Array.from({ length: DIGESTS }, randomDigest));
    const small = [randomDigest(), present[0] as DigestMessage, randomDigest()];
    const find = handler();
    cas.lookups.length = 0;
    let smallReply: Promise<unknown> | undefined;
    cas.onLookup = (lookup) => {
      // The small call arrives while the large one's first slice is being looked up.
      if (smallReply === undefined && lookup.call === 'large') {
        setImmediate(() => {
          smallReply = find(encode(small), context());
        });
      }
    };
    try {
      await find(large, context());
    } finally {
      cas.onLookup = undefined;
    }
    const reply = (await smallReply) as EncodedFindMissingBlobsResponse;
    assert.deepEqual(FindMissingBlobsResponse.decode(reply.bytes).missingBlobDigests, [
      small[0],
      small[2],
    ]);
    const order = cas.lookups.map((l) => l.call);
    assert.equal(order.indexOf('small'), 1, 'the small call waited for more than one slice');
    assert.ok(order.length > DIGESTS / MAX_SLICE, `${order.length} slices`);
  });
});

describe('slice length', () => {
  it('grows while slices are quick, shrinks when they are slow, within its bounds', () => {
    assert.ok(MAX_SLICE >= 2 * MIN_SLICE);
    assert.equal(nextSliceLength(MIN_SLICE, 0.5), 2 * MIN_SLICE);
    assert.equal(nextSliceLength(MIN_SLICE, 0), 2 * MIN_SLICE);
    assert.equal(nextSliceLength(MAX_SLICE, 2), MAX_SLICE);
    assert.equal(nextSliceLength(MAX_SLICE, 0.1), MAX_SLICE);
    assert.equal(nextSliceLength(MAX_SLICE, 8), MAX_SLICE / 2);
    assert.equal(nextSliceLength(MIN_SLICE, 50), MIN_SLICE);
  });
});
