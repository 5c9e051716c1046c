/**
 * Execute with input roots whose directories share subdirectories, run by a
 * server's own worker: a DAG of 40 levels that names 2^40 paths is refused
 * at once and at almost no memory, while ordinary trees that reuse identical
 * directories (as Bazel's do) are staged at every path that names them.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { status } from '@grpc/grpc-js';
import { executeResponseOf } from '../../src/execution/operation-message.ts';
import {
  Action,
  Command,
  type Digest as DigestMessage,
  Directory,
  type ExecuteResponse,
} from '../../src/gen/build/bazel/remote/execution/v2/remote_execution.js';
import type { Operation } from '../../src/gen/google/longrunning/operations.js';
import { createBotsCore } from '../../src/services/bots-service.ts';
import { VerifyingBlobStore } from '../../src/storage/verifying-blob-store.ts';
import { silentLogger } from '../../src/util/logger.ts';
import { detectPlatform } from '../../src/worker/platform-detect.ts';
import { type RunningWorker, startWorker } from '../../src/worker/start-worker.ts';
import { uploadBlobs } from '../support/actions.ts';
import { sha256Digest } from '../support/blobs.ts';
import type { KilnClients } from '../support/grpc-clients.ts';
import { startTestServer, type TestServer } from '../support/test-server.ts';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const encodeDirectory = (d: Parameters<typeof Directory.fromPartial>[0]) =>
  Buffer.from(Directory.encode(Directory.fromPartial(d)).finish());

/** Uploads the blobs, a Command running `script` and an Action over `root`; returns the Action's digest. */
async function uploadAction(
  clients: KilnClients,
  blobs: Buffer[],
  root: Buffer,
  script: string,
): Promise<DigestMessage> {
  const command = Buffer.from(
    Command.encode(Command.fromPartial({ arguments: ['/bin/sh', '-c', script] })).finish(),
  );
  const [commandDigest, inputRootDigest] = await uploadBlobs(clients, [command, root, ...blobs]);
  const action = Buffer.from(
    Action.encode(
      Action.fromPartial({ commandDigest, inputRootDigest, doNotCache: true }),
    ).finish(),
  );
  const [actionDigest] = await uploadBlobs(clients, [action]);
  return actionDigest as DigestMessage;
}

function execute(clients: KilnClients, actionDigest: DigestMessage): Promise<ExecuteResponse> {
  return new Promise((resolve, reject) => {
    let last: Operation | undefined;
    const stream = clients.execution.execute({
      instanceName: '',
      skipCacheLookup: true,
      actionDigest,
      executionPolicy: undefined,
      resultsCachePolicy: undefined,
      digestFunction: 0,
      inlineStdout: true,
      inlineStderr: true,
      inlineOutputFiles: [],
    });
    stream.on('data', (op: Operation) => {
      last = op;
    });
    stream.on('error', reject);
    stream.on('end', () => {
      const response = last === undefined ? undefined : executeResponseOf(last);
      if (response === undefined) reject(new Error('Execute ended without a response'));
      else resolve(response);
    });
  });
}

describe('Execute with input directories shared between paths', () => {
  let t: TestServer;
  let dir: string;
  let worker: RunningWorker;

  before(async () => {
    t = await startTestServer({ scheduler: { unschedulableTimeoutMs: 10_000 } });
    const scheduler = t.scheduler;
    assert.ok(scheduler !== undefined);
    dir = await mkdtemp(join(tmpdir(), 'kiln-dag-'));
    worker = await startWorker({
      address: '127.0.0.1:1',
      inProcess: {
        bots: createBotsCore({ log: silentLogger(), scheduler }),
        cas: new VerifyingBlobStore({ backend: t.casBackend }),
      },
      workDir: dir,
      cacheBytes: 64 * 2 ** 20,
      capacity: 1,
      platform: detectPlatform(),
      name: 'dag-test',
      log: silentLogger(),
    });
  });
  after(async () => {
    await worker.stop();
    await t.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('stages a directory reused at several paths at each of them', async () => {
    const hello = Buffer.from('hello ');
    const world = Buffer.from('world\n');
    const sub = encodeDirectory({ files: [{ name: 'g.txt', digest: sha256Digest(world) }] });
    const shared = encodeDirectory({
      files: [{ name: 'f.txt', digest: sha256Digest(hello) }],
      directories: [{ name: 'sub', digest: sha256Digest(sub) }],
    });
    const z = encodeDirectory({ directories: [{ name: 'inner', digest: sha256Digest(shared) }] });
    const root = encodeDirectory({
      directories: [
        { name: 'x', digest: sha256Digest(shared) },
        { name: 'y', digest: sha256Digest(shared) },
        { name: 'z', digest: sha256Digest(z) },
      ],
    });
    const action = await uploadAction(
      t.clients,
      [hello, world, sub, shared, z],
      root,
      'cat x/f.txt x/sub/g.txt y/f.txt y/sub/g.txt z/inner/f.txt z/inner/sub/g.txt',
    );
    const response = await execute(t.clients, action);
    assert.equal(response.status?.code ?? status.OK, status.OK, response.status?.message);
    assert.equal(response.result?.exitCode, 0);
    assert.equal(response.result?.stdoutRaw.toString(), 'hello world\n'.repeat(3));
  });

  it('refuses an input root that expands to 2^40 entries at once and at little memory', async () => {
    const file = Buffer.from('one file\n');
    let level = encodeDirectory({ files: [{ name: 'f', digest: sha256Digest(file) }] });
    const blobs = [file, level];
    for (let i = 0; i < 40; i++) {
      const child = sha256Digest(level);
      level = encodeDirectory({
        directories: [
          { name: 'a', digest: child },
          { name: 'b', digest: child },
        ],
      });
      blobs.push(level);
    }
    const root = blobs.pop() as Buffer;
    const action = await uploadAction(t.clients, blobs, root, 'exit 0');

    gc();
    const baseHeap = process.memoryUsage().heapUsed;
    let peakHeap = baseHeap;
    const timer = setInterval(() => {
      peakHeap = Math.max(peakHeap, process.memoryUsage().heapUsed);
    }, 2);
    const started = performance.now();
    let response: ExecuteResponse;
    try {
      response = await execute(t.clients, action);
    } finally {
      clearInterval(timer);
    }
    const elapsedMs = performance.now() - started;
    peakHeap = Math.max(peakHeap, process.memoryUsage().heapUsed);

    assert.equal(response.status?.code, status.INVALID_ARGUMENT);
    assert.match(
      response.status?.message ?? '',
      /the input tree expands to more than 1000000 entries/,
    );
    const heapGrowthMB = (peakHeap - baseHeap) / 1e6;
    assert.ok(elapsedMs < 200, `refused after ${elapsedMs.toFixed(0)} ms`);
    assert.ok(heapGrowthMB < 30, `heap grew by ${heapGrowthMB.toFixed(0)} MB`);
  });
});
