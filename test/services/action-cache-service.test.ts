import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { status } from '@grpc/grpc-js';
import {
  ActionResult,
  Compressor_Value,
  DigestFunction_Value,
  Directory,
  Tree,
} from '../../src/gen/build/bazel/remote/execution/v2/remote_execution.js';
import { randomBlob, sha256Digest } from '../support/blobs.ts';
import { call } from '../support/grpc-clients.ts';
import { startTestServer, type TestServer } from '../support/test-server.ts';

function result(partial: Parameters<typeof ActionResult.fromPartial>[0]): ActionResult {
  return ActionResult.fromPartial(partial);
}

describe('ActionCache service', () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer();
  });
  after(() => t.stop());

  const upload = async (...blobs: Buffer[]) => {
    await call(t.clients.cas, 'batchUpdateBlobs', {
      instanceName: '',
      digestFunction: 0,
      requests: blobs.map((data) => ({
        digest: sha256Digest(data),
        data,
        compressor: Compressor_Value.IDENTITY,
      })),
    });
    return blobs.map(sha256Digest);
  };
  const update = (actionDigest: object, actionResult: ActionResult, extra = {}) =>
    call(t.clients.actionCache, 'updateActionResult', {
      instanceName: '',
      actionDigest: actionDigest as never,
      actionResult,
      resultsCachePolicy: undefined,
      digestFunction: 0,
      ...extra,
    });
  const get = (actionDigest: object, extra = {}) =>
    call(t.clients.actionCache, 'getActionResult', {
      instanceName: '',
      actionDigest: actionDigest as never,
      inlineStdout: false,
      inlineStderr: false,
      inlineOutputFiles: [],
      digestFunction: 0,
      ...extra,
    });

  it('stores a result and serves it, with stdout, stderr and output files inlined on request', async () => {
    const out = randomBlob(100);
    const stdout = Buffer.from('hello stdout');
    const stderr = Buffer.from('hello stderr');
    const [outD, stdoutD, stderrD] = await upload(out, stdout, stderr);
    const action = sha256Digest(randomBlob(40));
    const stored = result({
      exitCode: 0,
      outputFiles: [{ path: 'out/a', digest: outD, isExecutable: true }],
      stdoutDigest: stdoutD,
      stderrDigest: stderrD,
    });
    await update(action, stored);
    const plain = await get(action);
    assert.equal(plain.outputFiles[0]?.path, 'out/a');
    assert.equal(plain.stdoutRaw.byteLength, 0);
    const inlined = await get(action, {
      inlineStdout: true,
      inlineStderr: true,
      inlineOutputFiles: ['out/a'],
    });
    assert.deepEqual(inlined.stdoutRaw, stdout);
    assert.deepEqual(inlined.stderrRaw, stderr);
    assert.deepEqual(inlined.outputFiles[0]?.contents, out);
  });

  it('answers NOT_FOUND for an unknown action', async () => {
    await assert.rejects(get(sha256Digest(randomBlob(10))), { code: status.NOT_FOUND });
  });

  it('keys results by instance name and digest function', async () => {
    const [outD] = await upload(randomBlob(10));
    const action = sha256Digest(randomBlob(40));
    await update(action, result({ outputFiles: [{ path: 'o', digest: outD }] }), {
      instanceName: 'a',
    });
    await get(action, { instanceName: 'a' });
    await assert.rejects(get(action, { instanceName: 'b' }), { code: status.NOT_FOUND });
    await assert.rejects(get(action), { code: status.NOT_FOUND });
    await assert.rejects(
      get(action, { instanceName: 'a', digestFunction: DigestFunction_Value.BLAKE3 }),
      {
        code: status.NOT_FOUND,
      },
    );
  });

  it('does not serve a result whose outputs are no longer in the CAS', async () => {
    const action = sha256Digest(randomBlob(40));
    const absent = sha256Digest(randomBlob(50));
    await update(action, result({ outputFiles: [{ path: 'o', digest: absent }] }));
    await assert.rejects(get(action), { code: status.NOT_FOUND });
    await upload(randomBlob(50)); // some other blob: still incomplete
    await assert.rejects(get(action), { code: status.NOT_FOUND });
  });

  it('checks the files inside output directory Trees', async () => {
    const inTree = randomBlob(30);
    const fileDigest = sha256Digest(inTree);
    const tree = Buffer.from(
      Tree.encode({
        root: Directory.fromPartial({ files: [{ name: 'f', digest: fileDigest }] }),
        children: [],
      }).finish(),
    );
    const [treeD] = await upload(tree);
    const action = sha256Digest(randomBlob(40));
    await update(action, result({ outputDirectories: [{ path: 'd', treeDigest: treeD }] }));
    await assert.rejects(
      get(action),
      { code: status.NOT_FOUND },
      'file inside the tree is missing',
    );
    await upload(inTree);
    const ok = await get(action);
    assert.equal(ok.outputDirectories[0]?.path, 'd');
  });

  it('rejects malformed digests in a result with INVALID_ARGUMENT', async () => {
    const action = sha256Digest(randomBlob(40));
    await assert.rejects(
      update(
        action,
        result({ outputFiles: [{ path: 'o', digest: { hash: 'zz', sizeBytes: 1 } }] }),
      ),
      (err: { code: number; details: string }) =>
        err.code === status.INVALID_ARGUMENT && /output_files\[0\]/.test(err.details),
    );
    await assert.rejects(update({ hash: 'nothex', sizeBytes: 1 }, result({})), {
      code: status.INVALID_ARGUMENT,
    });
  });
});

describe('Capabilities service', () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer();
  });
  after(() => t.stop());

  it('advertises digest functions, batch limit, zstd and action cache updates honestly', async () => {
    const caps = await call(t.clients.capabilities, 'getCapabilities', {
      instanceName: '',
    });
    const cache = caps.cacheCapabilities;
    assert.ok(cache);
    assert.deepEqual(
      [...cache.digestFunctions].sort(),
      [
        DigestFunction_Value.SHA256,
        DigestFunction_Value.SHA1,
        DigestFunction_Value.MD5,
        DigestFunction_Value.SHA384,
        DigestFunction_Value.SHA512,
        DigestFunction_Value.BLAKE3,
      ].sort(),
    );
    assert.equal(cache.actionCacheUpdateCapabilities?.updateEnabled, true);
    assert.ok(cache.maxBatchTotalSizeBytes > 1024 * 1024);
    assert.deepEqual(cache.supportedCompressors, [1]);
    assert.deepEqual(caps.lowApiVersion, { major: 2, minor: 0, patch: 0, prerelease: '' });
    assert.equal(caps.highApiVersion?.minor, 3);
  });
});
