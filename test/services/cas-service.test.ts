import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { zstdCompressSync, zstdDecompressSync } from 'node:zlib';
import { status } from '@grpc/grpc-js';
import { BLAKE3, hashBuffer } from '../../src/digest/digest-function.ts';
import {
  Compressor_Value,
  DigestFunction_Value,
  Directory,
} from '../../src/gen/build/bazel/remote/execution/v2/remote_execution.js';
import { randomBlob, sha256Digest, textBlob } from '../support/blobs.ts';
import { call } from '../support/grpc-clients.ts';
import { startTestServer, type TestServer } from '../support/test-server.ts';

const EMPTY = sha256Digest(Buffer.alloc(0));

describe('ContentAddressableStorage service', () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer();
  });
  after(() => t.stop());

  const findMissing = (req: object) =>
    call(t.clients.cas, 'findMissingBlobs', {
      instanceName: '',
      blobDigests: [],
      digestFunction: 0,
      ...req,
    } as never) as Promise<{ missingBlobDigests: { hash: string; sizeBytes: number }[] }>;
  const batchUpdate = (
    requests: { digest: object; data: Buffer; compressor?: number }[],
    extra = {},
  ) =>
    call(t.clients.cas, 'batchUpdateBlobs', {
      instanceName: '',
      digestFunction: 0,
      requests: requests.map((r) => ({ compressor: 0, ...r })),
      ...extra,
    } as never) as Promise<{
      responses: { digest: { hash: string }; status: { code: number; message: string } }[];
    }>;
  const batchRead = (digests: object[], acceptableCompressors: number[] = [], extra = {}) =>
    call(t.clients.cas, 'batchReadBlobs', {
      instanceName: '',
      digestFunction: 0,
      digests,
      acceptableCompressors,
      ...extra,
    } as never) as Promise<{
      responses: { data: Buffer; compressor: number; status: { code: number; message: string } }[];
    }>;

  it('reports only absent blobs as missing, and never the empty blob', async () => {
    const present = randomBlob(100);
    const absent = randomBlob(100);
    const up = await batchUpdate([{ digest: sha256Digest(present), data: present }]);
    assert.equal(up.responses[0]?.status.code, status.OK);
    const res = await findMissing({
      blobDigests: [sha256Digest(present), sha256Digest(absent), EMPTY, sha256Digest(absent)],
    });
    assert.deepEqual(res.missingBlobDigests, [sha256Digest(absent)]);
  });

  it('rejects a malformed hash in FindMissingBlobs with INVALID_ARGUMENT naming the field', async () => {
    await assert.rejects(
      findMissing({ blobDigests: [{ hash: 'XYZ', sizeBytes: 1 }] }),
      (err: { code: number; details: string }) => {
        assert.equal(err.code, status.INVALID_ARGUMENT);
        assert.match(err.details, /blob_digests\[0\]/);
        return true;
      },
    );
  });

  it('rejects a negative size and an unsupported digest function', async () => {
    const d = sha256Digest(Buffer.from('x'));
    await assert.rejects(findMissing({ blobDigests: [{ ...d, sizeBytes: -1 }] }), {
      code: status.INVALID_ARGUMENT,
    });
    await assert.rejects(
      findMissing({ blobDigests: [d], digestFunction: DigestFunction_Value.VSO }),
      (err: { code: number; details: string }) =>
        err.code === status.INVALID_ARGUMENT && /VSO is not supported/.test(err.details),
    );
  });

  it('rejects a reserved instance name segment', async () => {
    await assert.rejects(findMissing({ instanceName: 'team/blobs' }), {
      code: status.INVALID_ARGUMENT,
    });
  });

  it('stores nothing and answers INVALID_ARGUMENT per blob when the data does not match its digest', async () => {
    const data = randomBlob(64);
    const wrong = { ...sha256Digest(data), hash: sha256Digest(randomBlob(64)).hash };
    const ok = randomBlob(10);
    const res = await batchUpdate([
      { digest: wrong, data },
      { digest: sha256Digest(ok), data: ok },
      { digest: { ...sha256Digest(data), sizeBytes: 65 }, data },
    ]);
    assert.equal(res.responses[0]?.status.code, status.INVALID_ARGUMENT);
    assert.match(res.responses[0]?.status.message ?? '', /does not match/);
    assert.equal(res.responses[1]?.status.code, status.OK);
    assert.equal(res.responses[2]?.status.code, status.INVALID_ARGUMENT);
    const missing = await findMissing({ blobDigests: [wrong, sha256Digest(ok)] });
    assert.deepEqual(missing.missingBlobDigests, [wrong]);
  });

  it('rejects a batch over max_batch_total_size_bytes as a whole', async () => {
    const big = randomBlob(2 * 1024 * 1024 + 1);
    await assert.rejects(
      batchUpdate([
        { digest: sha256Digest(big), data: big },
        { digest: sha256Digest(big), data: big },
      ]),
      { code: status.INVALID_ARGUMENT },
    );
  });

  it('accepts zstd-compressed batch uploads and serves zstd reads when the client accepts them', async () => {
    const data = textBlob(50_000, 'compress me');
    const digest = sha256Digest(data);
    const up = await batchUpdate([
      { digest, data: zstdCompressSync(data), compressor: Compressor_Value.ZSTD },
    ]);
    assert.equal(up.responses[0]?.status.code, status.OK);
    const plain = await batchRead([digest]);
    assert.equal(plain.responses[0]?.compressor, Compressor_Value.IDENTITY);
    assert.deepEqual(plain.responses[0]?.data, data);
    const zstd = await batchRead([digest], [Compressor_Value.ZSTD]);
    assert.equal(zstd.responses[0]?.compressor, Compressor_Value.ZSTD);
    assert.ok((zstd.responses[0]?.data.byteLength ?? 0) < data.byteLength);
    assert.deepEqual(zstdDecompressSync(zstd.responses[0]?.data ?? Buffer.alloc(0)), data);
  });

  it('rejects corrupt zstd data for that blob only', async () => {
    const data = textBlob(1000);
    const res = await batchUpdate([
      {
        digest: sha256Digest(data),
        data: Buffer.from('not zstd'),
        compressor: Compressor_Value.ZSTD,
      },
    ]);
    assert.equal(res.responses[0]?.status.code, status.INVALID_ARGUMENT);
  });

  it('answers NOT_FOUND per blob in BatchReadBlobs and serves the empty blob', async () => {
    const res = await batchRead([sha256Digest(randomBlob(5)), EMPTY]);
    assert.equal(res.responses[0]?.status.code, status.NOT_FOUND);
    assert.equal(res.responses[1]?.status.code, status.OK);
    assert.equal(res.responses[1]?.data.byteLength, 0);
  });

  it('rejects a BatchReadBlobs asking for more than the batch limit', async () => {
    const huge = { hash: sha256Digest(Buffer.from('a')).hash, sizeBytes: 5 * 1024 * 1024 };
    await assert.rejects(batchRead([huge]), { code: status.INVALID_ARGUMENT });
  });

  it('stores and reads BLAKE3 blobs when the request names BLAKE3', async () => {
    const data = randomBlob(3000);
    const digest = { hash: await hashBuffer(BLAKE3, data), sizeBytes: data.byteLength };
    const up = await batchUpdate([{ digest, data }], {
      digestFunction: DigestFunction_Value.BLAKE3,
    });
    assert.equal(up.responses[0]?.status.code, status.OK);
    // Under SHA-256 the same hash is a different (absent) blob.
    const asSha = await findMissing({ blobDigests: [digest] });
    assert.equal(asSha.missingBlobDigests.length, 1);
    const asBlake = await findMissing({
      blobDigests: [digest],
      digestFunction: DigestFunction_Value.BLAKE3,
    });
    assert.equal(asBlake.missingBlobDigests.length, 0);
  });

  describe('GetTree', () => {
    async function putDirectory(dir: Directory) {
      const bytes = Buffer.from(Directory.encode(dir).finish());
      const digest = sha256Digest(bytes);
      await batchUpdate([{ digest, data: bytes }]);
      return digest;
    }
    const emptyDir = (): Directory => ({
      files: [],
      directories: [],
      symlinks: [],
      nodeProperties: undefined,
    });
    const getTree = (rootDigest: object, pageSize = 0, pageToken = '') =>
      new Promise<{ directories: Directory[]; nextPageToken: string }[]>((resolve, reject) => {
        const pages: { directories: Directory[]; nextPageToken: string }[] = [];
        const stream = t.clients.cas.getTree({
          instanceName: '',
          rootDigest: rootDigest as never,
          pageSize,
          pageToken,
          digestFunction: 0,
        });
        stream.on('data', (p) => pages.push(p));
        stream.on('error', reject);
        stream.on('end', () => resolve(pages));
      });

    it('returns every directory below the root, omitting missing subtrees, in pages', async () => {
      const leaf = await putDirectory({
        ...emptyDir(),
        files: [
          {
            name: 'f',
            digest: sha256Digest(Buffer.from('f')),
            isExecutable: false,
            nodeProperties: undefined,
          },
        ],
      });
      const missingChild = sha256Digest(Buffer.from('not a stored directory'));
      const mid = await putDirectory({
        ...emptyDir(),
        directories: [
          { name: 'leaf', digest: leaf },
          { name: 'gone', digest: missingChild },
        ],
      });
      const root = await putDirectory({
        ...emptyDir(),
        directories: [
          { name: 'a', digest: mid },
          { name: 'b', digest: leaf },
        ],
      });
      const all = await getTree(root);
      const dirs = all.flatMap((p) => p.directories);
      assert.equal(dirs.length, 3, 'root, mid and leaf once each');
      assert.equal(all.at(-1)?.nextPageToken, '');

      const first = await getTree(root, 1);
      assert.equal(first[0]?.directories.length, 1);
      assert.notEqual(first[0]?.nextPageToken, '');
      const rest = await getTree(root, 1, first[0]?.nextPageToken);
      assert.equal(rest[0]?.directories.length, 1);
      assert.deepEqual(rest[0]?.directories[0], dirs[1]);
    });

    it('answers NOT_FOUND for a missing root and INVALID_ARGUMENT for a foreign token', async () => {
      await assert.rejects(getTree(sha256Digest(Buffer.from('nope'))), { code: status.NOT_FOUND });
      const root = await putDirectory(emptyDir());
      await assert.rejects(getTree(root, 0, 'garbage'), { code: status.INVALID_ARGUMENT });
    });
  });
});
