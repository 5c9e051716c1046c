import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { status } from '@grpc/grpc-js';
import { CasClient } from '../../src/client/cas-client.ts';
import { MissingBlobsError } from '../../src/client/missing-blobs-error.ts';
import { digestOf } from '../../src/digest/digest.ts';
import { SHA256 } from '../../src/digest/digest-function.ts';
import { KilnError } from '../../src/errors.ts';
import { putBuffer, readAll } from '../../src/storage/blob-store.ts';
import { randomBlob } from '../support/blobs.ts';
import { startTestServer, type TestServer } from '../support/test-server.ts';
import { CountingBlobStore } from '../worker/counting-blob-store.ts';

const blob = async (data: Buffer) => ({ digest: await digestOf(SHA256, data), data });

describe('CasClient', () => {
  let t: TestServer;
  let counting: CountingBlobStore;
  let client: CasClient;
  let dir: string;
  before(async () => {
    counting = new CountingBlobStore();
    t = await startTestServer({ casBackend: counting });
    // A small batch limit so that tests cross it with small blobs.
    client = new CasClient({ address: t.server.address, maxBatchBytes: 64 * 1024 });
    dir = await mkdtemp(join(tmpdir(), 'kiln-cas-client-'));
  });
  after(async () => {
    client.close();
    await t.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('uploads small blobs in batches and large ones by ByteStream, and reads both back', async () => {
    const small = await Promise.all([1, 2, 3].map(() => blob(randomBlob(10_000))));
    const large = await blob(randomBlob(300_000));
    await client.uploadBlobs([...small, large, small[0] as (typeof small)[number]]);
    assert.deepEqual(await client.findMissing([...small, large].map((b) => b.digest)), []);
    const read = await client.batchRead([...small, large].map((b) => b.digest));
    for (const b of [...small, large]) assert.ok(read.get(b.digest.key)?.equals(b.data));
    assert.ok((await readAll(counting, large.digest)).equals(large.data));
  });

  it('reports only absent blobs as missing, once each, and never the empty blob', async () => {
    const present = await blob(randomBlob(100));
    const absent = await blob(randomBlob(100));
    const empty = await blob(Buffer.alloc(0));
    await client.uploadBlobs([present]);
    const missing = await client.findMissing([
      present.digest,
      absent.digest,
      absent.digest,
      empty.digest,
    ]);
    assert.deepEqual(
      missing.map((d) => d.key),
      [absent.digest.key],
    );
  });

  it('streams a file up and down byte-identically, atomically, with the requested mode', async () => {
    const data = randomBlob(3 * 1024 * 1024 + 17);
    const { digest } = await blob(data);
    const source = join(dir, 'source.bin');
    await writeFile(source, data);
    await client.uploadFile(digest, source);
    assert.deepEqual(await client.findMissing([digest]), []);
    const target = join(dir, 'target.bin');
    await client.downloadToFile(digest, target, { mode: 0o555 });
    assert.ok((await readFile(target)).equals(data));
    assert.equal((await stat(target)).mode & 0o777, 0o555);
    // A second upload of a blob the server holds finishes early and still succeeds.
    await client.uploadFile(digest, source);
  });

  it('names every absent blob in one MissingBlobsError with code NOT_FOUND', async () => {
    const present = await blob(randomBlob(50));
    const absent1 = await blob(randomBlob(50));
    const absent2 = await blob(randomBlob(200_000));
    await client.uploadBlobs([present]);
    await assert.rejects(
      client.batchRead([present.digest, absent1.digest, absent2.digest]),
      (err: unknown) => {
        assert.ok(err instanceof MissingBlobsError);
        assert.equal(err.code, status.NOT_FOUND);
        assert.deepEqual(
          err.missing.map((d) => d.key).sort(),
          [absent1.digest.key, absent2.digest.key].sort(),
        );
        return true;
      },
    );
  });

  it('leaves no file behind when a download fails', async () => {
    const absent = await blob(randomBlob(70_000));
    const target = join(dir, 'never.bin');
    await assert.rejects(client.downloadToFile(absent.digest, target), MissingBlobsError);
    assert.deepEqual(
      (await readdir(dir)).filter((n) => n.startsWith('never')),
      [],
    );
  });

  it('rejects a blob whose bytes do not match its digest with DATA_LOSS', async () => {
    const real = await blob(randomBlob(1000));
    // Stored straight into the unverified backend, as a corrupt disk would.
    await putBuffer(counting, real.digest, randomBlob(1000));
    await assert.rejects(client.readBlob(real.digest), { code: status.DATA_LOSS });
    await assert.rejects(client.downloadToFile(real.digest, join(dir, 'corrupt.bin')), {
      code: status.DATA_LOSS,
    });
  });

  it("keeps the server's status code when a request is rejected", async () => {
    const bad = new CasClient({ address: t.server.address, instanceName: 'blobs' });
    try {
      await assert.rejects(bad.findMissing([(await blob(randomBlob(10))).digest]), (err) => {
        assert.ok(err instanceof KilnError);
        assert.equal(err.code, status.INVALID_ARGUMENT);
        assert.match(err.message, /FindMissingBlobs.*reserved/);
        return true;
      });
    } finally {
      bad.close();
    }
  });

  it('reports an unreachable server as UNAVAILABLE', async () => {
    const down = new CasClient({ address: '127.0.0.1:1', rpcTimeoutMs: 5000 });
    try {
      await assert.rejects(down.findMissing([(await blob(randomBlob(10))).digest]), {
        code: status.UNAVAILABLE,
      });
    } finally {
      down.close();
    }
  });

  it('fetches a whole directory tree with GetTree', async () => {
    const { Directory } = await import(
      '../../src/gen/build/bazel/remote/execution/v2/remote_execution.js'
    );
    const leaf = Buffer.from(Directory.encode(Directory.create({})).finish());
    const leafDigest = await digestOf(SHA256, leaf);
    const root = Buffer.from(
      Directory.encode(
        Directory.create({
          directories: [
            { name: 'a', digest: { hash: leafDigest.hash, sizeBytes: leafDigest.size } },
          ],
        }),
      ).finish(),
    );
    const rootDigest = await digestOf(SHA256, root);
    await client.uploadBlobs([{ digest: rootDigest, data: root }]);
    const tree = await client.getTree(rootDigest);
    assert.equal(tree.length, 2);
    assert.equal(tree[0]?.directories[0]?.name, 'a');
  });
});
