import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { status } from '@grpc/grpc-js';
import { ActionCache } from '../../src/cache/action-cache.ts';
import { digestOf } from '../../src/digest/digest.ts';
import { SHA256 } from '../../src/digest/digest-function.ts';
import type { ExecutedActionMetadata } from '../../src/gen/build/bazel/remote/execution/v2/remote_execution.js';
import {
  Action,
  Command,
  Directory,
} from '../../src/gen/build/bazel/remote/execution/v2/remote_execution.js';
import type { Timestamp } from '../../src/gen/google/protobuf/timestamp.js';
import { InMemoryScheduler } from '../../src/scheduler/in-memory-scheduler.ts';
import { createBotsCore } from '../../src/services/bots-service.ts';
import { putBuffer } from '../../src/storage/blob-store.ts';
import { MemoryBlobStore } from '../../src/storage/memory-blob-store.ts';
import { VerifyingBlobStore } from '../../src/storage/verifying-blob-store.ts';
import { silentLogger } from '../../src/util/logger.ts';
import { detectPlatform } from '../../src/worker/platform-detect.ts';
import { type RunningWorker, startWorker } from '../../src/worker/start-worker.ts';

const ms = (t: Timestamp | undefined): number =>
  Number(t?.seconds ?? 0) * 1000 + (t?.nanos ?? 0) / 1e6;

/** A worker that runs one command at a time but takes one more action to stage meanwhile. */
describe('worker prefetch', () => {
  const cas = new VerifyingBlobStore({ backend: new MemoryBlobStore({ maxBytes: 64 * 2 ** 20 }) });
  const acStore = new MemoryBlobStore({ maxBytes: 16 * 2 ** 20 });
  const actionCache = new ActionCache({ store: acStore, cas });
  const scheduler = new InMemoryScheduler({
    actionCache,
    policy: { unschedulableTimeoutMs: 10_000 },
  });
  let dir: string;
  let worker: RunningWorker;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kiln-prefetch-'));
    worker = await startWorker({
      address: '127.0.0.1:1',
      inProcess: { bots: createBotsCore({ log: silentLogger(), scheduler }), cas },
      workDir: dir,
      cacheBytes: 16 * 2 ** 20,
      capacity: 1,
      prefetch: 1,
      platform: detectPlatform(),
      name: 'prefetch-test',
      log: silentLogger(),
    });
  });
  after(async () => {
    await worker.stop();
    await scheduler.close();
    await rm(dir, { recursive: true, force: true });
  });

  async function store(bytes: Uint8Array) {
    const digest = await digestOf(SHA256, bytes);
    await putBuffer(cas, digest, Buffer.from(bytes));
    return { hash: digest.hash, sizeBytes: digest.size };
  }

  /** Submits a `sleep` action and waits for its result's metadata. */
  async function run(n: number): Promise<ExecutedActionMetadata> {
    const command = Command.fromPartial({ arguments: ['/bin/sh', '-c', `sleep 0.4; echo ${n}`] });
    const action = Action.fromPartial({
      commandDigest: await store(Command.encode(command).finish()),
      inputRootDigest: await store(Directory.encode(Directory.fromPartial({})).finish()),
    });
    const bytes = Action.encode(action).finish();
    await store(bytes);
    const op = await scheduler.submit({
      instanceName: '',
      digestFunction: SHA256,
      actionDigest: await digestOf(SHA256, bytes),
      action,
      command,
      skipCacheLookup: true,
      priority: 0,
      toolInvocationId: '',
      correlatedInvocationsId: '',
    });
    let last = op;
    for await (const state of scheduler.watchOperation(op.name)) last = state;
    assert.equal(last.response?.status?.code ?? status.OK, status.OK);
    assert.equal(last.response?.result?.exitCode, 0);
    return last.response?.result?.executionMetadata as ExecutedActionMetadata;
  }

  it('stages the next action while one runs, and never runs two commands at once', async () => {
    const [a, b] = await Promise.all([run(1), run(2)]);
    const [first, second] =
      ms(a?.executionStartTimestamp) < ms(b?.executionStartTimestamp) ? [a, b] : [b, a];
    assert.ok(first !== undefined && second !== undefined);
    assert.ok(
      ms(second.executionStartTimestamp) >= ms(first.executionCompletedTimestamp),
      'the second command starts only after the first ended',
    );
    assert.ok(
      ms(second.inputFetchCompletedTimestamp) < ms(first.executionCompletedTimestamp),
      'the second action was taken and staged while the first ran',
    );
  });
});
