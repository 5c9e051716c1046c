// Workers joining from the command line take work, and a worker killed with
// SIGKILL in the middle of a build does not fail it: its actions are retried
// on the other worker.
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { executeResponseOf } from '../../src/execution/operation-message.ts';
import { call, connectClients } from '../support/grpc-clients.ts';
import { type KilnProcess, startKiln, startKilnWorker } from '../support/kiln-process.ts';
import {
  type BazelWorkspace,
  createBazelWorkspace,
  requireBazel,
  runBazel,
} from './bazel-harness.ts';

/** Starts `kiln worker` and waits until it says it is working. */
async function startWorkerProcess(
  address: string,
  name: string,
  dir: string,
): Promise<ChildProcess> {
  const worker = await startKilnWorker([
    '--scheduler',
    `grpc://${address}`,
    '--concurrency',
    '2',
    // Leases staged ahead are lost with the worker too, and must be retried like running ones.
    '--prefetch',
    '1',
    '--name',
    name,
    '--work-dir',
    join(dir, name),
  ]);
  return worker.child;
}

test('a build survives a worker killed with SIGKILL', { timeout: 10 * 60_000 }, async (t) => {
  if (requireBazel(t) === undefined) return;
  const dir = await mkdtemp(join(tmpdir(), 'kiln-e2e-loss-'));
  const config = join(dir, 'kiln.yaml');
  await writeFile(config, 'execution:\n  localWorkers: 0\n  workerTimeout: 3s\n');
  const kiln: KilnProcess = await startKiln([
    '--listen',
    '127.0.0.1:0',
    '--data-dir',
    join(dir, 'data'),
    '--config',
    config,
  ]);
  const workers: ChildProcess[] = [];
  let ws: BazelWorkspace | undefined;
  t.after(async () => {
    await ws?.cleanup();
    for (const w of workers) if (w.exitCode === null && w.signalCode === null) w.kill('SIGKILL');
    await kiln.stop();
    await rm(dir, { recursive: true, force: true });
  });
  const doomed = await startWorkerProcess(kiln.address, 'doomed', dir);
  const survivor = await startWorkerProcess(kiln.address, 'survivor', dir);
  workers.push(doomed, survivor);
  ws = await createBazelWorkspace();

  const build = runBazel(ws, [
    'build',
    '//remote:all_slow',
    `--remote_executor=grpc://${kiln.address}`,
    '--remote_timeout=120',
    '--jobs=12',
  ]);
  // Kill the first worker while it holds leases.
  const clients = connectClients(kiln.address);
  try {
    for (let i = 0; i < 200; i++) {
      const page = await call(clients.operations, 'listOperations', {
        name: '',
        filter: 'stage=EXECUTING',
        pageSize: 100,
        pageToken: '',
        returnPartialSuccess: false,
      });
      if (page.operations.length >= 3) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    doomed.kill('SIGKILL');
    await once(doomed, 'exit');

    const result = await build;
    assert.equal(result.code, 0, result.stderr);

    const done = await call(clients.operations, 'listOperations', {
      name: '',
      filter: 'done=true',
      pageSize: 1000,
      pageToken: '',
      returnPartialSuccess: false,
    });
    const workersUsed = new Set(
      done.operations.map((op) => executeResponseOf(op)?.result?.executionMetadata?.worker),
    );
    assert.ok(workersUsed.has('survivor'), [...workersUsed].join(', '));
    assert.match(
      kiln.stderr(),
      /"worker":"doomed"[^\n]*"lease lost"/,
      'the killed worker held leases',
    );
    assert.equal(done.operations.length >= 12, true);
  } finally {
    clients.close();
  }
});
