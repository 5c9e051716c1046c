import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { BinaryWriter } from '@bufbuild/protobuf/wire';
import {
  Client,
  credentials,
  Metadata,
  ServerCredentials,
  type ServiceError,
  status,
} from '@grpc/grpc-js';
import { cutStatusMessage, quote } from '../../src/errors.ts';
import type { ReadResponse } from '../../src/gen/google/bytestream/bytestream.js';
import { edgeInterceptor } from '../../src/rpc/edge-interceptor.ts';
import { CheckedDecodingServer } from '../../src/rpc/request-boundary.ts';
import { sha256Digest } from '../support/blobs.ts';
import { CLIENT_OPTIONS, call } from '../support/grpc-clients.ts';
import { startTestServer, type TestServer } from '../support/test-server.ts';

/** A 100,000-character name that instance-name validation rejects (it ends with "/"). */
const HUGE_INSTANCE_NAME = `${'x'.repeat(99_999)}/`;
const TWO_TO_THE_60 = 2n ** 60n;
const HASH = 'a'.repeat(64);

/** Resolves with the error a call rejected with; fails if it succeeded. */
async function errorOf(promise: Promise<unknown>): Promise<ServiceError> {
  try {
    await promise;
  } catch (err) {
    return err as ServiceError;
  }
  assert.fail('the call succeeded');
}

/** Reads a ByteStream blob to the end; resolves with the chunks or rejects with the status. */
function readAll(t: TestServer, resourceName: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const stream = t.clients.byteStream.read({ resourceName, readOffset: 0, readLimit: 0 });
    stream.on('data', (res: ReadResponse) => chunks.push(Buffer.from(res.data)));
    stream.on('error', reject);
    stream.on('end', () => resolve(Buffer.concat(chunks)));
  });
}

describe('status messages', () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer({ observe: true });
  });
  after(() => t.stop());

  const assertShortAndChannelAlive = async (err: ServiceError): Promise<void> => {
    assert.equal(err.code, status.INVALID_ARGUMENT, err.message);
    assert.ok(err.details.length < 1100, `message of ${err.details.length} characters`);
    const res = await call(t.clients.cas, 'findMissingBlobs', {
      instanceName: '',
      blobDigests: [{ hash: HASH, sizeBytes: 1 }],
      digestFunction: 0,
    });
    assert.equal(res.missingBlobDigests.length, 1);
  };

  it('a GetActionResult with a 100,000-character instance name gets a short message, and the channel keeps working', async () => {
    const err = await errorOf(
      call(t.clients.actionCache, 'getActionResult', {
        instanceName: HUGE_INSTANCE_NAME,
        actionDigest: { hash: HASH, sizeBytes: 1 },
        inlineStdout: false,
        inlineStderr: false,
        inlineOutputFiles: [],
        digestFunction: 0,
      }),
    );
    assert.match(err.details, /^instance name "x{200}…" \(100000 characters\) must not start/);
    await assertShortAndChannelAlive(err);
  });

  it('a FindMissingBlobs with a 100,000-character instance name gets a short message, and the channel keeps working', async () => {
    const err = await errorOf(
      call(t.clients.cas, 'findMissingBlobs', {
        instanceName: HUGE_INSTANCE_NAME,
        blobDigests: [{ hash: HASH, sizeBytes: 1 }],
        digestFunction: 0,
      }),
    );
    await assertShortAndChannelAlive(err);
  });

  it('a ByteStream Read with a 100,000-character resource name gets a short message, and the channel keeps working', async () => {
    const err = await errorOf(readAll(t, 'y'.repeat(100_000)));
    assert.match(err.details, /^resource name "y{200}…" \(100000 characters\)/);
    await assertShortAndChannelAlive(err);
  });

  it('quote keeps short values whole and cuts long ones, noting the length', () => {
    assert.equal(quote('main'), '"main"');
    assert.equal(quote('abcdef', 3), '"abc…" (6 characters)');
  });

  it('cutStatusMessage cuts messages over 1,000 characters and says where', () => {
    assert.equal(cutStatusMessage('short'), 'short');
    const cut = cutStatusMessage('z'.repeat(5000));
    assert.equal(cut, `${'z'.repeat(1000)}… (message cut at 1000 characters)`);
  });
});

/** Encodes a Digest whose size_bytes no JS number holds exactly. */
function hugeDigest(writer: BinaryWriter, field: number): void {
  writer.uint32((field << 3) | 2).fork();
  writer.uint32(10).string(HASH);
  writer.uint32(16).int64(TWO_TO_THE_60);
  writer.join();
}

const identity = (b: Buffer): Buffer => b;

describe('64-bit fields beyond 2^53', () => {
  let t: TestServer;
  let raw: Client;
  before(async () => {
    t = await startTestServer({ scheduler: {}, observe: true });
    raw = new Client(t.server.address, credentials.createInsecure(), CLIENT_OPTIONS);
  });
  after(async () => {
    raw.close();
    await t.stop();
  });

  const unary = (path: string, body: Uint8Array): Promise<Buffer> =>
    new Promise((resolve, reject) => {
      raw.makeUnaryRequest(
        path,
        identity,
        identity,
        Buffer.from(body),
        new Metadata(),
        {},
        (err, res) => (err ? reject(err) : resolve(res as Buffer)),
      );
    });

  const streaming = (path: string, body: Uint8Array): Promise<Buffer[]> =>
    new Promise((resolve, reject) => {
      const out: Buffer[] = [];
      const stream = raw.makeServerStreamRequest(
        path,
        identity,
        identity,
        Buffer.from(body),
        new Metadata(),
        {},
      );
      stream.on('data', (b: Buffer) => out.push(b));
      stream.on('error', reject);
      stream.on('end', () => resolve(out));
    });

  /** Expects INVALID_ARGUMENT naming the value, then checks the server still answers. */
  const assertRejected = async (promise: Promise<unknown>): Promise<void> => {
    const err = await errorOf(promise);
    assert.equal(err.code, status.INVALID_ARGUMENT, err.message);
    assert.match(err.details, /a 64-bit field holds 1152921504606846976, above the largest/);
    const blob = Buffer.from('still serving');
    const digest = sha256Digest(blob);
    await call(t.clients.cas, 'batchUpdateBlobs', {
      instanceName: '',
      requests: [{ digest, data: blob, compressor: 0 }],
      digestFunction: 0,
    });
    const read = await readAll(t, `blobs/${digest.hash}/${digest.sizeBytes}`);
    assert.deepEqual(read, blob);
  };

  it('ByteStream.Read with read_offset 2^60 is INVALID_ARGUMENT', async () => {
    const w = new BinaryWriter();
    w.uint32(10).string(`blobs/${HASH}/5`);
    w.uint32(16).int64(TWO_TO_THE_60);
    await assertRejected(streaming('/google.bytestream.ByteStream/Read', w.finish()));
  });

  it('BatchReadBlobs with a digest of size 2^60 is INVALID_ARGUMENT', async () => {
    const w = new BinaryWriter();
    hugeDigest(w, 2);
    await assertRejected(
      unary(
        '/build.bazel.remote.execution.v2.ContentAddressableStorage/BatchReadBlobs',
        w.finish(),
      ),
    );
  });

  it('GetActionResult with an action digest of size 2^60 is INVALID_ARGUMENT', async () => {
    const w = new BinaryWriter();
    hugeDigest(w, 2);
    await assertRejected(
      unary('/build.bazel.remote.execution.v2.ActionCache/GetActionResult', w.finish()),
    );
  });

  it('Execute with an action digest of size 2^60 is INVALID_ARGUMENT', async () => {
    const w = new BinaryWriter();
    hugeDigest(w, 6);
    await assertRejected(
      streaming('/build.bazel.remote.execution.v2.Execution/Execute', w.finish()),
    );
  });

  it('FindMissingBlobs with a digest of size 2^60 stays INVALID_ARGUMENT', async () => {
    const w = new BinaryWriter();
    hugeDigest(w, 2);
    const err = await errorOf(
      unary(
        '/build.bazel.remote.execution.v2.ContentAddressableStorage/FindMissingBlobs',
        w.finish(),
      ),
    );
    assert.equal(err.code, status.INVALID_ARGUMENT, err.message);
  });

  it('a request that is not protobuf at all is INVALID_ARGUMENT, not INTERNAL', async () => {
    const err = await errorOf(
      unary('/build.bazel.remote.execution.v2.ActionCache/GetActionResult', Buffer.from([0xff])),
    );
    assert.equal(err.code, status.INVALID_ARGUMENT, err.message);
  });

  it('a FindMissingBlobs that does not decode is INVALID_ARGUMENT at once, not a hang', async () => {
    // Its request decodes lazily; the permission check reads its instance name
    // first, which threw, and the call never got an answer.
    for (const body of [
      [0xa2, 0x0a],
      [0x18, 0x75, 0x8e],
      [0x46, 0x80, 0x46, 0x80],
    ]) {
      const started = Date.now();
      const answer = unary(
        '/build.bazel.remote.execution.v2.ContentAddressableStorage/FindMissingBlobs',
        Buffer.from(body),
      );
      const hang = new Promise<never>((_, reject) => {
        setTimeout(() => reject(new Error('no answer within 5 s')), 5000).unref();
      });
      const err = await errorOf(Promise.race([answer, hang]));
      assert.equal(err.code, status.INVALID_ARGUMENT, err.message);
      assert.ok(Date.now() - started < 5000);
    }
  });

  it('the metrics observer sees the INVALID_ARGUMENT the boundary sends', async () => {
    const w = new BinaryWriter();
    hugeDigest(w, 2);
    await errorOf(
      unary('/build.bazel.remote.execution.v2.ActionCache/GetActionResult', w.finish()),
    );
    const res = await fetch(`${t.httpUrl}metrics`);
    const text = await res.text();
    assert.match(text, /GetActionResult[^\n]*INVALID_ARGUMENT/);
  });
});

describe('the edge interceptor without authentication', () => {
  it('cuts a status message that a handler sends unquoted, so no service can send one too long', async () => {
    const server = new CheckedDecodingServer({ interceptors: [edgeInterceptor({})] });
    const path = '/test.Echo/Fail';
    server.addService(
      {
        fail: {
          path,
          requestStream: false,
          responseStream: false,
          requestSerialize: identity,
          requestDeserialize: identity,
          responseSerialize: identity,
          responseDeserialize: identity,
        },
      },
      {
        fail: (_call: unknown, callback: (err: Partial<ServiceError>) => void) =>
          callback({ code: status.NOT_FOUND, details: 'w'.repeat(100_000) }),
      },
    );
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (err, p) =>
        err ? reject(err) : resolve(p),
      ),
    );
    const client = new Client(`127.0.0.1:${port}`, credentials.createInsecure());
    try {
      const err = await errorOf(
        new Promise((resolve, reject) =>
          client.makeUnaryRequest(path, identity, identity, Buffer.alloc(0), (e, r) =>
            e ? reject(e) : resolve(r),
          ),
        ),
      );
      assert.equal(err.code, status.NOT_FOUND);
      assert.equal(err.details, `${'w'.repeat(1000)}… (message cut at 1000 characters)`);
    } finally {
      client.close();
      server.forceShutdown();
    }
  });
});
