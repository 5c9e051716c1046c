/**
 * Two `kiln serve` processes, each with a local disk tier in front of the
 * same S3 bucket (the emulator, behind a counting proxy): blobs, action
 * results and Remote Asset associations written through one are served by
 * the other.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, it } from 'node:test';
import { credentials, status } from '@grpc/grpc-js';
import { FetchClient, PushClient } from '../../src/gen/build/bazel/remote/asset/v1/remote_asset.js';
import {
  ActionResult,
  Compressor_Value,
} from '../../src/gen/build/bazel/remote/execution/v2/remote_execution.js';
import { fetchRequest } from '../asset/asset-server.ts';
import { randomBlob, sha256Digest } from '../support/blobs.ts';
import { call, connectClients, type KilnClients } from '../support/grpc-clients.ts';
import type { KilnProcess } from '../support/kiln-process.ts';
import { type S3FaultProxy, startS3FaultProxy } from '../support/s3-fault-proxy.ts';
import { type S3Server, startS3Server } from '../support/s3-server.ts';
import { startS3Kiln } from './s3-kiln-config.ts';

let dir: string;
let s3: S3Server;
let proxy: S3FaultProxy;
const kilns: KilnProcess[] = [];
const clients: KilnClients[] = [];

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kiln-s3-e2e-'));
  s3 = await startS3Server({ dir: join(dir, 's3') });
  proxy = await startS3FaultProxy(s3.endpoint);
  // The first node has its keys in the configuration, the second takes them from the environment.
  for (const [name, keys] of [
    ['one', true],
    ['two', false],
  ] as const) {
    const kiln = await startS3Kiln({ dir, name, s3, endpoint: proxy.endpoint, keysInConfig: keys });
    kilns.push(kiln);
    clients.push(connectClients(kiln.address));
  }
});

after(async () => {
  for (const c of clients) c.close();
  await Promise.all(kilns.map((k) => k.stop()));
  await proxy.stop();
  await s3.stop();
  await rm(dir, { recursive: true, force: true });
});

it('two kiln serve processes share blobs, action results and asset associations through one bucket', {
  timeout: 60_000,
}, async () => {
  const [one, two] = clients as [KilnClients, KilnClients];
  const blobs = Array.from({ length: 20 }, (_, i) => randomBlob(1000 + i));
  const digests = blobs.map(sha256Digest);
  await call(one.cas, 'batchUpdateBlobs', {
    instanceName: '',
    digestFunction: 0,
    requests: blobs.map((data) => ({
      digest: sha256Digest(data),
      data,
      compressor: Compressor_Value.IDENTITY,
    })),
  });
  const findMissing = (c: KilnClients) =>
    call(c.cas, 'findMissingBlobs', { instanceName: '', blobDigests: digests, digestFunction: 0 });

  // The writer knows what it wrote: no S3 request at all.
  proxy.resetCounts();
  assert.deepEqual((await findMissing(one)).missingBlobDigests, []);
  assert.equal(proxy.total(), 0, JSON.stringify(proxy.counts));

  // The other process asks S3 once per blob, then knows.
  assert.deepEqual((await findMissing(two)).missingBlobDigests, []);
  assert.equal(proxy.counts.HEAD, digests.length);
  proxy.resetCounts();
  assert.deepEqual((await findMissing(two)).missingBlobDigests, []);
  assert.equal(proxy.total(), 0, JSON.stringify(proxy.counts));

  const read = await call(two.cas, 'batchReadBlobs', {
    instanceName: '',
    digests,
    acceptableCompressors: [],
    digestFunction: 0,
  });
  assert.equal(read.responses.length, blobs.length);
  for (const [i, response] of read.responses.entries()) {
    assert.equal(response.status?.code ?? 0, status.OK, response.status?.message);
    assert.ok(Buffer.from(response.data).equals(blobs[i] as Buffer), `blob ${i} differs`);
  }

  const action = sha256Digest(randomBlob(40));
  const stored = ActionResult.fromPartial({
    exitCode: 0,
    outputFiles: [{ path: 'out/a', digest: digests[0], isExecutable: false }],
    stdoutDigest: digests[1],
  });
  await call(one.actionCache, 'updateActionResult', {
    instanceName: '',
    actionDigest: action,
    actionResult: stored,
    resultsCachePolicy: undefined,
    digestFunction: 0,
  });
  const got = await call(two.actionCache, 'getActionResult', {
    instanceName: '',
    actionDigest: action,
    inlineStdout: false,
    inlineStderr: false,
    inlineOutputFiles: [],
    digestFunction: 0,
  });
  assert.equal(got.outputFiles[0]?.path, 'out/a');
  assert.deepEqual(got.outputFiles[0]?.digest, digests[0]);

  const [kilnOne, kilnTwo] = kilns as [KilnProcess, KilnProcess];
  const push = new PushClient(kilnOne.address, credentials.createInsecure());
  const fetch = new FetchClient(kilnTwo.address, credentials.createInsecure());
  try {
    // An address nothing could download from: only the pushed association can answer.
    const uri = 'https://downloads.invalid/archive.tar.gz';
    await call(push, 'pushBlob', {
      instanceName: '',
      uris: [uri],
      qualifiers: [],
      expireAt: undefined,
      blobDigest: digests[2],
      referencesBlobs: [],
      referencesDirectories: [],
      digestFunction: 0,
    });
    const fetched = await call(fetch, 'fetchBlob', fetchRequest({ uris: [uri] }));
    assert.equal(fetched.status?.code ?? 0, status.OK, fetched.status?.message);
    assert.deepEqual(fetched.blobDigest, digests[2]);
  } finally {
    push.close();
    fetch.close();
  }
});
