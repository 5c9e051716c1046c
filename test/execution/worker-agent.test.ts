import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { status } from '@grpc/grpc-js';
import { ActionCache } from '../../src/cache/action-cache.ts';
import { executeResponseOf } from '../../src/execution/operation-message.ts';
import type { Operation } from '../../src/gen/google/longrunning/operations.js';
import { InMemoryScheduler } from '../../src/scheduler/in-memory-scheduler.ts';
import { startGrpcServer } from '../../src/server/grpc-server.ts';
import { createBotsCore } from '../../src/services/bots-service.ts';
import { MemoryBlobStore } from '../../src/storage/memory-blob-store.ts';
import { VerifyingBlobStore } from '../../src/storage/verifying-blob-store.ts';
import { silentLogger } from '../../src/util/logger.ts';
import { detectPlatform } from '../../src/worker/platform-detect.ts';
import { type RunningWorker, startWorker } from '../../src/worker/start-worker.ts';
import { uploadAction } from '../support/actions.ts';
import { call, connectClients, type KilnClients } from '../support/grpc-clients.ts';

/** A server over shared stores that can be restarted on the same port. */
async function startServer(cas: VerifyingBlobStore, acStore: MemoryBlobStore, listen: string) {
  const actionCache = new ActionCache({ store: acStore, cas });
  const scheduler = new InMemoryScheduler({
    actionCache,
    policy: { unschedulableTimeoutMs: 10_000 },
  });
  const server = await startGrpcServer({
    listen,
    cas,
    actionCacheStore: acStore,
    actionCache,
    scheduler,
    log: silentLogger(),
  });
  return {
    server,
    scheduler,
    async stop() {
      await scheduler.close();
      await server.close();
    },
  };
}

function execute(clients: KilnClients, actionDigest: object): Promise<Operation[]> {
  return new Promise((resolve, reject) => {
    const ops: Operation[] = [];
    const stream = clients.execution.execute({
      instanceName: '',
      skipCacheLookup: true,
      actionDigest: actionDigest as never,
      executionPolicy: undefined,
      resultsCachePolicy: undefined,
      digestFunction: 0,
      inlineStdout: true,
      inlineStderr: true,
      inlineOutputFiles: [],
    });
    stream.on('data', (op: Operation) => ops.push(op));
    stream.on('error', reject);
    stream.on('end', () => resolve(ops));
  });
}

/**
 * The same scenarios for both ways a worker reaches the scheduler and the CAS:
 * gRPC (`kiln worker`) and direct calls (the local workers of `kiln serve`).
 */
for (const transport of ['grpc', 'in-process'] as const) {
  describe(`worker agent, ${transport === 'grpc' ? 'over the Remote Worker API' : 'in process'}`, () => {
    const cas = new VerifyingBlobStore({
      backend: new MemoryBlobStore({ maxBytes: 256 * 2 ** 20 }),
    });
    const acStore = new MemoryBlobStore({ maxBytes: 16 * 2 ** 20 });
    let dir: string;
    let running: Awaited<ReturnType<typeof startServer>>;
    let worker: RunningWorker;
    let clients: KilnClients;

    before(async () => {
      dir = await mkdtemp(join(tmpdir(), 'kiln-agent-'));
      running = await startServer(cas, acStore, '127.0.0.1:0');
      worker = await startWorker({
        // The in-process worker gets an address where nothing listens: it must not need one.
        address: transport === 'grpc' ? running.server.address : '127.0.0.1:1',
        inProcess:
          transport === 'grpc'
            ? undefined
            : { bots: createBotsCore({ log: silentLogger(), scheduler: running.scheduler }), cas },
        workDir: dir,
        cacheBytes: 64 * 2 ** 20,
        capacity: 2,
        platform: detectPlatform(),
        name: 'agent-test',
        log: silentLogger(),
      });
      clients = connectClients(running.server.address);
    });
    after(async () => {
      clients.close();
      await worker.stop();
      await running.stop();
      await rm(dir, { recursive: true, force: true });
    });

    it('runs an action and returns its output, exit code and stage timestamps', async () => {
      const digest = await uploadAction(clients, {
        args: ['/bin/sh', '-c', 'echo out; echo err >&2; echo data > result.txt; exit 4'],
        outputPaths: ['result.txt'],
      });
      const ops = await execute(clients, digest);
      const response = executeResponseOf(ops.at(-1) as Operation);
      assert.equal(response?.status?.code, status.OK);
      const result = response?.result;
      assert.equal(result?.exitCode, 4);
      assert.equal(result?.stdoutRaw.toString(), 'out\n');
      assert.equal(result?.stderrRaw.toString(), 'err\n');
      assert.deepEqual(
        result?.outputFiles.map((f) => f.path),
        ['result.txt'],
      );
      const md = result?.executionMetadata;
      assert.equal(md?.worker, 'agent-test');
      for (const field of [
        'queuedTimestamp',
        'workerStartTimestamp',
        'inputFetchStartTimestamp',
        'inputFetchCompletedTimestamp',
        'executionStartTimestamp',
        'executionCompletedTimestamp',
        'outputUploadStartTimestamp',
        'outputUploadCompletedTimestamp',
        'workerCompletedTimestamp',
      ] as const) {
        assert.ok(md?.[field], `${field} is set`);
      }
    });

    it('stops the running command when its operation is cancelled', async () => {
      const marker = `kiln-cancel-${process.pid}-${Date.now()}`;
      const digest = await uploadAction(clients, {
        args: ['/bin/sh', '-c', `sleep 30; echo ${marker}`],
      });
      const done = execute(clients, digest);
      let name = '';
      for (let i = 0; i < 200 && name === ''; i++) {
        const page = await call(clients.operations, 'listOperations', {
          name: '',
          filter: 'stage=EXECUTING',
          pageSize: 10,
          pageToken: '',
          returnPartialSuccess: false,
        });
        name = page.operations[0]?.name ?? '';
        if (name === '') await new Promise((r) => setTimeout(r, 25));
      }
      assert.notEqual(name, '');
      // Wait until the command is really running, then cancel.
      for (let i = 0; i < 100 && !shellRunning(marker); i++)
        await new Promise((r) => setTimeout(r, 25));
      assert.ok(shellRunning(marker), 'the command started');
      const started = Date.now();
      await call(clients.operations, 'cancelOperation', { name });
      const ops = await done;
      assert.equal(executeResponseOf(ops.at(-1) as Operation)?.status?.code, status.CANCELLED);
      for (let i = 0; i < 100 && shellRunning(marker); i++)
        await new Promise((r) => setTimeout(r, 50));
      assert.equal(shellRunning(marker), false, 'the process is gone');
      assert.ok(Date.now() - started < 10_000);
    });

    it('runs an action with input files and directories from the CAS', async () => {
      const digest = await uploadAction(clients, {
        args: ['/bin/sh', '-c', 'cat in/a.txt in/sub/b.txt > joined.txt'],
        outputPaths: ['joined.txt'],
        files: { 'in/a.txt': 'alpha\n', 'in/sub/b.txt': 'beta\n' },
      });
      const ops = await execute(clients, digest);
      const result = executeResponseOf(ops.at(-1) as Operation)?.result;
      assert.equal(result?.exitCode, 0);
      const joined = result?.outputFiles.find((f) => f.path === 'joined.txt');
      assert.ok(joined?.digest);
      const read = await call(clients.cas, 'batchReadBlobs', {
        instanceName: '',
        digests: [joined.digest],
        acceptableCompressors: [],
        digestFunction: 0,
      });
      assert.equal(read.responses[0]?.data.toString(), 'alpha\nbeta\n');
    });

    // Restarting the server under an in-process worker means restarting its process.
    if (transport === 'grpc')
      it('reconnects on its own when the scheduler restarts', async () => {
        const port = running.server.port;
        await running.stop();
        clients.close();
        running = await startServer(cas, acStore, `127.0.0.1:${port}`);
        clients = connectClients(running.server.address);
        // The channel may still be backing off from the restart: wait until it connects.
        await new Promise<void>((resolve, reject) =>
          clients.cas.waitForReady(Date.now() + 10_000, (err) => (err ? reject(err) : resolve())),
        );
        const digest = await uploadAction(clients, { args: ['/bin/echo', 'after restart'] });
        const ops = await execute(clients, digest);
        const response = executeResponseOf(ops.at(-1) as Operation);
        assert.equal(response?.result?.stdoutRaw.toString(), 'after restart\n');
        assert.equal(response?.result?.executionMetadata?.worker, 'agent-test');
      });
  });
}

/** True while a process whose command line contains `marker` exists. */
function shellRunning(marker: string): boolean {
  try {
    execFileSync('pgrep', ['-f', marker], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
