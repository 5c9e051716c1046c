import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type ServiceError, status } from '@grpc/grpc-js';
import { digestOf, toDigestMessage } from '../../src/digest/digest.ts';
import { SHA256 } from '../../src/digest/digest-function.ts';
import { missingSubjects } from '../../src/execution/precondition-failure.ts';
import type {
  PushBlobRequest,
  PushDirectoryRequest,
} from '../../src/gen/build/bazel/remote/asset/v1/remote_asset.js';
import { Directory } from '../../src/gen/build/bazel/remote/execution/v2/remote_execution.js';
import { Status } from '../../src/gen/google/rpc/status.js';
import { putBuffer } from '../../src/storage/blob-store.ts';
import { type AssetServer, fetchRequest, startAssetServer } from '../asset/asset-server.ts';
import { call } from '../support/grpc-clients.ts';

function pushBlobRequest(partial: Partial<PushBlobRequest>): PushBlobRequest {
  return {
    instanceName: '',
    uris: [],
    qualifiers: [],
    expireAt: undefined,
    blobDigest: undefined,
    referencesBlobs: [],
    referencesDirectories: [],
    digestFunction: 0,
    ...partial,
  };
}

function pushDirectoryRequest(partial: Partial<PushDirectoryRequest>): PushDirectoryRequest {
  const { blobDigest: _, ...rest } = pushBlobRequest({});
  return { ...rest, rootDirectoryDigest: undefined, ...partial };
}

function missingOf(err: ServiceError): string[] {
  const raw = err.metadata.get('grpc-status-details-bin')[0] as Buffer;
  return missingSubjects(Status.decode(raw).details);
}

describe('Push', () => {
  let s: AssetServer;
  before(async () => {
    s = await startAssetServer();
  });
  after(() => s.stop());

  const store = async (text: string) => {
    const digest = await digestOf(SHA256, Buffer.from(text));
    await putBuffer(s.t.casBackend, digest, Buffer.from(text));
    return digest;
  };

  it('a pushed blob answers FetchBlob with the same qualifiers, without any origin', async () => {
    const digest = await store('pushed tool binary');
    const uri = 'https://downloads.invalid/tool-1.0.bin';
    const qualifiers = [
      { name: 'vcs.commit', value: '0123abcd' },
      { name: 'bazel.canonical_id', value: 'tool-1.0' },
    ];
    await call(
      s.push,
      'pushBlob',
      pushBlobRequest({ uris: [uri], qualifiers, blobDigest: toDigestMessage(digest) }),
    );
    const res = await call(s.fetch, 'fetchBlob', fetchRequest({ uris: [uri], qualifiers }));
    assert.equal(res.status?.code, status.OK, res.status?.message);
    assert.deepEqual(res.blobDigest, toDigestMessage(digest));
    assert.equal(res.uri, uri);
    assert.deepEqual(
      res.qualifiers.map((q) => q.name),
      ['bazel.canonical_id', 'vcs.commit'],
    );

    // Other qualifier values are other content: a miss, and vcs.commit cannot be fetched.
    await assert.rejects(
      call(
        s.fetch,
        'fetchBlob',
        fetchRequest({ uris: [uri], qualifiers: [{ name: 'vcs.commit', value: 'ffff' }] }),
      ),
      (err: ServiceError) =>
        err.code === status.INVALID_ARGUMENT && /vcs\.commit/.test(err.details),
    );
  });

  it('a URN can be pushed and fetched, until its expire_at', async () => {
    const digest = await store('named by a URN');
    const urn = 'urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6';
    const expiresAt = { seconds: Math.floor(Date.now() / 1000) + 3600, nanos: 0 };
    await call(
      s.push,
      'pushBlob',
      pushBlobRequest({ uris: [urn], blobDigest: toDigestMessage(digest), expireAt: expiresAt }),
    );
    const res = await call(s.fetch, 'fetchBlob', fetchRequest({ uris: [urn] }));
    assert.equal(res.status?.code, status.OK, res.status?.message);
    assert.deepEqual(res.expiresAt, expiresAt);

    await call(
      s.push,
      'pushBlob',
      pushBlobRequest({
        uris: [urn],
        blobDigest: toDigestMessage(digest),
        expireAt: { seconds: Math.floor(Date.now() / 1000) - 1, nanos: 0 },
      }),
    );
    await assert.rejects(
      call(s.fetch, 'fetchBlob', fetchRequest({ uris: [urn] })),
      (err: ServiceError) =>
        err.code === status.INVALID_ARGUMENT &&
        /supported schemes are http and https/.test(err.details),
    );
  });

  it('PushBlob of a blob missing from the CAS is FAILED_PRECONDITION naming it', async () => {
    const digest = await digestOf(SHA256, Buffer.from('never uploaded'));
    await assert.rejects(
      call(
        s.push,
        'pushBlob',
        pushBlobRequest({ uris: ['https://x.invalid/a'], blobDigest: toDigestMessage(digest) }),
      ),
      (err: ServiceError) => {
        assert.equal(err.code, status.FAILED_PRECONDITION);
        assert.deepEqual(missingOf(err), [`blobs/${digest.hash}/${digest.size}`]);
        return true;
      },
    );
  });

  it('PushDirectory records a complete tree for FetchDirectory and refuses an incomplete one', async () => {
    const file = await store('file in a pushed tree');
    const root = Buffer.from(
      Directory.encode(
        Directory.fromPartial({
          files: [{ name: 'f.txt', digest: toDigestMessage(file), isExecutable: false }],
        }),
      ).finish(),
    );
    const rootDigest = await digestOf(SHA256, root);
    await putBuffer(s.t.casBackend, rootDigest, root);
    const uri = 'https://git.invalid/repo.git';
    await call(
      s.push,
      'pushDirectory',
      pushDirectoryRequest({ uris: [uri], rootDirectoryDigest: toDigestMessage(rootDigest) }),
    );
    const res = await call(s.fetch, 'fetchDirectory', fetchRequest({ uris: [uri] }));
    assert.equal(res.status?.code, status.OK, res.status?.message);
    assert.deepEqual(res.rootDirectoryDigest, toDigestMessage(rootDigest));

    const missingFile = await digestOf(SHA256, Buffer.from('not stored'));
    const broken = Buffer.from(
      Directory.encode(
        Directory.fromPartial({
          files: [{ name: 'g.txt', digest: toDigestMessage(missingFile), isExecutable: false }],
        }),
      ).finish(),
    );
    const brokenDigest = await digestOf(SHA256, broken);
    await putBuffer(s.t.casBackend, brokenDigest, broken);
    await assert.rejects(
      call(
        s.push,
        'pushDirectory',
        pushDirectoryRequest({ uris: [uri], rootDirectoryDigest: toDigestMessage(brokenDigest) }),
      ),
      (err: ServiceError) => {
        assert.equal(err.code, status.FAILED_PRECONDITION);
        assert.deepEqual(missingOf(err), [`blobs/${missingFile.hash}/${missingFile.size}`]);
        return true;
      },
    );
  });

  it('validates uris and digests with INVALID_ARGUMENT', async () => {
    await assert.rejects(
      call(s.push, 'pushBlob', pushBlobRequest({ uris: ['x'], blobDigest: undefined })),
      (err: ServiceError) => err.code === status.INVALID_ARGUMENT && /uris\[0\]/.test(err.details),
    );
    await assert.rejects(
      call(s.push, 'pushBlob', pushBlobRequest({ uris: ['https://a.invalid/'] })),
      (err: ServiceError) =>
        err.code === status.INVALID_ARGUMENT && /blob_digest is missing/.test(err.details),
    );
  });
});
