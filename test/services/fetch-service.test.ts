import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type ServiceError, status } from '@grpc/grpc-js';
import { createBLAKE3 } from 'hash-wasm';
import { makeDigest } from '../../src/digest/digest.ts';
import { BLAKE3, SHA256 } from '../../src/digest/digest-function.ts';
import { DigestFunction_Value } from '../../src/gen/build/bazel/remote/execution/v2/remote_execution.js';
import { hasBlob, readAll } from '../../src/storage/blob-store.ts';
import {
  type AssetServer,
  fetchRequest,
  fieldViolations,
  leftovers,
  sha256Hex,
  sriQualifier,
  startAssetServer,
} from '../asset/asset-server.ts';
import { type HttpOrigin, startHttpOrigin } from '../asset/http-origin.ts';
import { call } from '../support/grpc-clients.ts';

const MiB = 2 ** 20;

describe('Fetch.FetchBlob', () => {
  let s: AssetServer;
  let origin: HttpOrigin;
  before(async () => {
    s = await startAssetServer({ maxDownloadSize: MiB, maxRedirects: 3 });
    origin = await startHttpOrigin();
  });
  after(async () => {
    await origin.stop();
    await s.stop();
  });
  const fetchBlob = (req: Parameters<typeof fetchRequest>[0]) =>
    call(s.fetch, 'fetchBlob', fetchRequest(req));
  const rejected = async (req: Parameters<typeof fetchRequest>[0], code: status, re: RegExp) => {
    await assert.rejects(fetchBlob(req), (err: ServiceError) => {
      assert.equal(err.code, code, err.details);
      assert.match(err.details, re);
      return true;
    });
  };

  it('downloads a blob whose checksum.sri matches, stores it in the CAS and says where it came from', async () => {
    const data = Buffer.from('hello from the origin\n');
    origin.route('/hello.txt', data);
    const uri = `${origin.base}/hello.txt`;
    const res = await fetchBlob({ uris: [uri], qualifiers: [sriQualifier(data)] });
    assert.equal(res.status?.code, status.OK, res.status?.message);
    assert.equal(res.uri, uri);
    assert.deepEqual(res.blobDigest, { hash: sha256Hex(data), sizeBytes: data.byteLength });
    assert.equal(res.digestFunction, SHA256.value);
    assert.deepEqual(res.qualifiers, [sriQualifier(data)]);
    const stored = await readAll(s.t.casBackend, makeDigest(SHA256, sha256Hex(data), data.length));
    assert.deepEqual(stored, data);
  });

  it('reports a checksum.sri mismatch as ABORTED in the status and stores nothing', async () => {
    const data = Buffer.from('the origin serves this');
    origin.route('/tampered.txt', data);
    const res = await fetchBlob({
      uris: [`${origin.base}/tampered.txt`],
      qualifiers: [sriQualifier('what the client expected')],
    });
    assert.equal(res.status?.code, status.ABORTED);
    assert.match(res.status?.message ?? '', /checksum mismatch/);
    assert.equal(res.blobDigest, undefined);
    const digest = makeDigest(SHA256, sha256Hex(data), data.length);
    assert.equal(await hasBlob(s.t.casBackend, digest), false);
    // A mismatch found after spooling (sha384 is not the digest function) stores nothing either.
    const spooled = await fetchBlob({
      uris: [`${origin.base}/tampered.txt`],
      qualifiers: [sriQualifier('something else', 'sha384')],
    });
    assert.equal(spooled.status?.code, status.ABORTED);
    assert.equal(await hasBlob(s.t.casBackend, digest), false);
    assert.deepEqual(await leftovers(s.tempDir), []);
  });

  it('falls back to the next URI when one fails', async () => {
    const data = Buffer.from('mirrored content');
    origin.route('/mirror/file', data);
    const res = await fetchBlob({
      uris: [`${origin.base}/gone/file`, `${origin.base}/mirror/file`],
      qualifiers: [sriQualifier(data)],
    });
    assert.equal(res.status?.code, status.OK, res.status?.message);
    assert.equal(res.uri, `${origin.base}/mirror/file`);
    assert.equal(origin.hits('/gone/file'), 1);
  });

  it('reports NOT_FOUND when every URI fails, naming each failure', async () => {
    const res = await fetchBlob({ uris: [`${origin.base}/a`, `${origin.base}/b`] });
    assert.equal(res.status?.code, status.NOT_FOUND);
    assert.match(res.status?.message ?? '', /\/a: HTTP 404.*\/b: HTTP 404/);
    assert.equal(res.uri, `${origin.base}/b`);
  });

  it('answers a repeated request from the association once the origin is gone', async () => {
    const other = await startHttpOrigin({ '/lib.tar.gz': 'library bytes' });
    const uri = `${other.base}/lib.tar.gz`;
    const mirror = `${other.base}/mirror/lib.tar.gz`;
    const qualifiers = [sriQualifier('library bytes')];
    const first = await fetchBlob({ uris: [uri, mirror], qualifiers });
    assert.equal(first.status?.code, status.OK, first.status?.message);
    await other.stop();
    const second = await fetchBlob({ uris: [uri, mirror], qualifiers });
    assert.equal(second.status?.code, status.OK, second.status?.message);
    assert.equal(second.uri, uri);
    assert.deepEqual(second.blobDigest, first.blobDigest);
    assert.equal(other.hits('/lib.tar.gz'), 1);
    // With a checksum, every URI of the request is a mirror of the content and is known too.
    const byMirror = await fetchBlob({ uris: [mirror], qualifiers });
    assert.equal(byMirror.status?.code, status.OK, byMirror.status?.message);
    assert.equal(byMirror.uri, mirror);
    assert.equal(other.requests.length, 1);
  });

  it('sends the headers given by qualifiers, per URI and in the legacy bazel.auth_headers form', async () => {
    const data = Buffer.from('secret content');
    origin.route('/private', (req, res) => {
      if (req.headers.authorization !== 'Bearer s3cret') {
        res.writeHead(401).end();
        return;
      }
      res.writeHead(200, { 'x-seen-accept': String(req.headers.accept) }).end(data);
    });
    const uri = `${origin.base}/private`;
    const denied = await fetchBlob({ uris: [uri] });
    assert.equal(denied.status?.code, status.PERMISSION_DENIED);

    const perUri = await fetchBlob({
      uris: [uri],
      qualifiers: [
        { name: 'http_header:Accept', value: 'application/octet-stream' },
        { name: 'http_header_url:0:Authorization', value: 'Bearer s3cret' },
      ],
    });
    assert.equal(perUri.status?.code, status.OK, perUri.status?.message);
    assert.equal(origin.requests.at(-1)?.headers.accept, 'application/octet-stream');
    // Header qualifiers are never echoed: they may hold credentials.
    assert.deepEqual(perUri.qualifiers, []);

    const legacy = await fetchBlob({
      uris: [uri],
      qualifiers: [
        {
          name: 'bazel.auth_headers',
          value: JSON.stringify({ [uri]: { Authorization: 'Bearer s3cret' } }),
        },
        sriQualifier(data),
      ],
    });
    assert.equal(legacy.status?.code, status.OK, legacy.status?.message);
    assert.equal(origin.requests.at(-1)?.headers.authorization, 'Bearer s3cret');
  });

  it('follows redirects, up to remoteAsset.maxRedirects', async () => {
    const data = Buffer.from('moved content');
    origin.route('/final', data);
    origin.route('/old', (_req, res) => res.writeHead(302, { location: '/final' }).end());
    const res = await fetchBlob({ uris: [`${origin.base}/old`], qualifiers: [sriQualifier(data)] });
    assert.equal(res.status?.code, status.OK, res.status?.message);
    assert.equal(origin.hits('/final'), 1);

    origin.route('/loop', (_req, res) => res.writeHead(301, { location: '/loop' }).end());
    const loop = await fetchBlob({ uris: [`${origin.base}/loop`] });
    assert.equal(loop.status?.code, status.UNAVAILABLE);
    assert.match(loop.status?.message ?? '', /more than 3 redirects/);
  });

  it('rejects an unsupported qualifier with INVALID_ARGUMENT and a BadRequest naming it', async () => {
    await assert.rejects(
      fetchBlob({
        uris: [`${origin.base}/x`],
        qualifiers: [
          { name: 'vcs.commit', value: 'abc' },
          { name: 'resource_type', value: 'application/x-git' },
          { name: 'my.own', value: '1' },
        ],
      }),
      (err: ServiceError) => {
        assert.equal(err.code, status.INVALID_ARGUMENT);
        assert.match(err.details, /unsupported qualifiers "vcs\.commit", "my\.own"/);
        assert.deepEqual(fieldViolations(err), [
          { field: 'qualifiers.name', description: '"vcs.commit" not supported' },
          { field: 'qualifiers.name', description: '"my.own" not supported' },
        ]);
        return true;
      },
    );
  });

  it('answers a qualifier name of 256 KiB with a short error, and the connection lives on', async () => {
    // The whole name quoted in the BadRequest detail made a trailer that grpc-js
    // clients refuse with a protocol error, failing every call on the connection.
    const huge = '../'.repeat(87_370);
    const names = Array.from({ length: 50 }, (_, i) => `${huge}${i}`);
    const calls = [
      fetchBlob({
        uris: [`${origin.base}/x`],
        qualifiers: names.map((name) => ({ name, value: '' })),
      }),
      fetchBlob({ uris: [`${origin.base}/x`], qualifiers: [{ name: huge, value: '' }] }),
    ];
    for (const pending of calls) {
      await assert.rejects(pending, (err: ServiceError) => {
        assert.equal(err.code, status.INVALID_ARGUMENT);
        assert.match(err.details, /unsupported qualifier/);
        assert.ok(err.details.length < 1100, `${err.details.length} characters`);
        for (const v of fieldViolations(err)) assert.ok(v.description.length < 200);
        assert.ok(fieldViolations(err).length <= 10);
        return true;
      });
    }
    origin.route('/after', Buffer.from('still served'));
    const after = await fetchBlob({ uris: [`${origin.base}/after`] });
    assert.equal(after.status?.code, status.OK);
  });

  it('refuses downloads over remoteAsset.maxDownloadSize with RESOURCE_EXHAUSTED, announced or not', async () => {
    const big = Buffer.alloc(MiB + 1, 7);
    origin.route('/big', big);
    const announced = await fetchBlob({ uris: [`${origin.base}/big`] });
    assert.equal(announced.status?.code, status.RESOURCE_EXHAUSTED);
    assert.match(announced.status?.message ?? '', /exceed the download limit of 1048576 bytes/);
    origin.route('/big-chunked', (_req, res) => {
      res.writeHead(200);
      for (let i = 0; i < 5; i++) res.write(Buffer.alloc(MiB / 4 + 1, i));
      res.end();
    });
    const streamed = await fetchBlob({ uris: [`${origin.base}/big-chunked`] });
    assert.equal(streamed.status?.code, status.RESOURCE_EXHAUSTED);
    assert.deepEqual(await leftovers(s.tempDir), []);
  });

  it('refuses cloud metadata addresses, also behind a redirect, without connecting', async () => {
    const direct = await fetchBlob({ uris: ['http://169.254.169.254/latest/meta-data/'] });
    assert.equal(direct.status?.code, status.PERMISSION_DENIED);
    assert.match(direct.status?.message ?? '', /metadata/);
    const byName = await fetchBlob({
      uris: ['http://metadata.google.internal/computeMetadata/v1/'],
    });
    assert.equal(byName.status?.code, status.PERMISSION_DENIED);
    origin.route('/to-metadata', (_req, res) =>
      res.writeHead(307, { location: 'http://[::ffff:169.254.169.254]/latest' }).end(),
    );
    const redirected = await fetchBlob({ uris: [`${origin.base}/to-metadata`] });
    assert.equal(redirected.status?.code, status.PERMISSION_DENIED);
    assert.match(redirected.status?.message ?? '', /metadata or link-local/);
  });

  it('refetches when the association is older than oldest_content_accepted', async () => {
    origin.route('/latest', 'version 1');
    const uri = `${origin.base}/latest`;
    const first = await fetchBlob({ uris: [uri] });
    assert.equal(first.blobDigest?.hash, sha256Hex('version 1'));
    origin.route('/latest', 'version 2');
    const cached = await fetchBlob({ uris: [uri] });
    assert.equal(cached.blobDigest?.hash, sha256Hex('version 1'));
    assert.equal(origin.hits('/latest'), 1);
    const future = Date.now() + 3_600_000;
    const fresh = await fetchBlob({
      uris: [uri],
      oldestContentAccepted: { seconds: Math.floor(future / 1000), nanos: 0 },
    });
    assert.equal(fresh.blobDigest?.hash, sha256Hex('version 2'));
    assert.equal(origin.hits('/latest'), 2);
  });

  it('honours the BLAKE3 digest function while checking a sha256 checksum.sri', async () => {
    const data = Buffer.from('hashed with blake3');
    origin.route('/blake3', data);
    const res = await fetchBlob({
      uris: [`${origin.base}/blake3`],
      qualifiers: [sriQualifier(data)],
      digestFunction: DigestFunction_Value.BLAKE3,
    });
    assert.equal(res.status?.code, status.OK, res.status?.message);
    assert.equal(res.digestFunction, BLAKE3.value);
    const hasher = await createBLAKE3();
    const hash = hasher.update(data).digest('hex');
    assert.deepEqual(res.blobDigest, { hash, sizeBytes: data.length });
    assert.deepEqual(await readAll(s.t.casBackend, makeDigest(BLAKE3, hash, data.length)), data);
  });

  it('reports DEADLINE_EXCEEDED when the origin is slower than the request timeout', async () => {
    origin.route('/slow', (_req, res) => {
      res.writeHead(200, { 'content-length': '10' });
      res.write('12345');
    });
    const res = await fetchBlob({
      uris: [`${origin.base}/slow`],
      timeout: { seconds: 0, nanos: 300_000_000 },
    });
    assert.equal(res.status?.code, status.DEADLINE_EXCEEDED);
    assert.deepEqual(await leftovers(s.tempDir), []);
  });

  it('reports UNAVAILABLE for an origin that refuses connections', async () => {
    const closed = await startHttpOrigin();
    await closed.stop();
    const res = await fetchBlob({ uris: [`${closed.base}/file`] });
    assert.equal(res.status?.code, status.UNAVAILABLE);
    assert.match(res.status?.message ?? '', /ECONNREFUSED/);
  });

  it('validates every field with INVALID_ARGUMENT and a message naming it', async () => {
    await rejected({ uris: [] }, status.INVALID_ARGUMENT, /uris is empty/);
    await rejected({ uris: [''] }, status.INVALID_ARGUMENT, /uris\[0\] is empty/);
    await rejected(
      { uris: ['not a uri'] },
      status.INVALID_ARGUMENT,
      /uris\[0\].*not an absolute URI/,
    );
    await rejected(
      { uris: ['ftp://example.com/file'] },
      status.INVALID_ARGUMENT,
      /supported schemes are http and https, got ftp:/,
    );
    await rejected(
      { uris: [`${origin.base}/x`], digestFunction: 4 },
      status.INVALID_ARGUMENT,
      /digest function VSO is not supported/,
    );
    await rejected(
      { uris: [`${origin.base}/x`], qualifiers: [{ name: 'checksum.sri', value: 'md5-abc' }] },
      status.INVALID_ARGUMENT,
      /checksum\.sri "md5-abc": unsupported algorithm/,
    );
    await rejected(
      { uris: [`${origin.base}/x`], qualifiers: [{ name: 'http_header_url:3:X', value: '1' }] },
      status.INVALID_ARGUMENT,
      /INDEX below 1/,
    );
    await rejected(
      { uris: [`${origin.base}/x`], instanceName: 'a/blobs/b' },
      status.INVALID_ARGUMENT,
      /reserved segment/,
    );
    await rejected(
      {
        uris: [`${origin.base}/x`],
        qualifiers: [
          { name: 'bazel.canonical_id', value: 'a' },
          { name: 'bazel.canonical_id', value: 'b' },
        ],
      },
      status.INVALID_ARGUMENT,
      /given more than once/,
    );
  });
});
