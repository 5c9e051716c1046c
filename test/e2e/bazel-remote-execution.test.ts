// Bazel 4.2.3 builds and tests on Kiln's workers with --remote_executor.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { executeResponseOf } from '../../src/execution/operation-message.ts';
import { call, connectClients } from '../support/grpc-clients.ts';
import {
  type BazelWorkspace,
  collectOutputs,
  parseRemoteCacheHits,
  runBazel,
} from './bazel-harness.ts';
import { COMPARED_OUTPUTS, startKilnSession } from './kiln-session.ts';

const run = promisify(execFile);

test('Bazel builds and tests on Kiln with --remote_executor', {
  timeout: 15 * 60_000,
}, async (t) => {
  const session = await startKilnSession(t);
  if (session === undefined) return;
  const { kiln } = session;
  const workspaces: BazelWorkspace[] = [];
  const newWorkspace = async () => {
    const ws = await session.newWorkspace();
    workspaces.push(ws);
    return ws;
  };
  const remote = () => [`--remote_executor=grpc://${kiln.address}`, '--remote_timeout=120'];
  let first: Map<string, string> | undefined;

  await t.test('a cold build and test run remotely and pass', async () => {
    const ws = await newWorkspace();
    const result = await runBazel(ws, ['test', '//...', ...remote()]);
    assert.equal(result.code, 0, result.stderr);
    const summary = parseRemoteCacheHits(result.stderr);
    assert.ok(
      (summary.byRunner.remote ?? 0) >= 10,
      `remote executions: ${JSON.stringify(summary)}`,
    );
    assert.equal(summary.executed, summary.byRunner.remote ?? 0, 'nothing ran locally');
    assert.match(`${result.stdout}${result.stderr}`, /\/\/cc:kilnmath_test\s+PASSED/);
    const { stdout } = await run(join(ws.dir, 'bazel-bin', 'cc', 'kilnmath_main'));
    assert.equal(stdout, 'fib(50)=12586269025\nfnv1a(kiln)=ef9580d72160ee33\ngcd(1071,462)=21\n');
    first = await collectOutputs(ws, COMPARED_OUTPUTS);
    await ws.cleanup();
  });

  await t.test('a rebuild from a fresh output base is all remote cache hits', async () => {
    const ws = await newWorkspace();
    const result = await runBazel(ws, ['test', '//...', ...remote()]);
    assert.equal(result.code, 0, result.stderr);
    const summary = parseRemoteCacheHits(result.stderr);
    assert.equal(summary.executed, 0, JSON.stringify(summary));
    assert.ok(summary.remoteCacheHits >= 10, JSON.stringify(summary));
    assert.deepEqual(await collectOutputs(ws, COMPARED_OUTPUTS), first);
  });

  await t.test('a failing action shows its stderr and is not cached', async () => {
    const ws = workspaces.at(-1) as BazelWorkspace;
    for (let attempt = 0; attempt < 2; attempt++) {
      const result = await runBazel(ws, ['build', '//remote:broken', ...remote()]);
      assert.equal(result.code, 1, result.stderr);
      assert.match(result.stderr, /kiln-e2e: this action fails on purpose/);
      assert.doesNotMatch(result.stderr, /remote cache hit/);
    }
    // Kiln ran it both times: two executions with exit code 3, neither from the cache.
    const clients = connectClients(kiln.address);
    try {
      const page = await call(clients.operations, 'listOperations', {
        name: '',
        filter: 'done=true',
        pageSize: 1000,
        pageToken: '',
        returnPartialSuccess: false,
      });
      const failed = page.operations
        .map((op) => executeResponseOf(op))
        .filter((r) => r?.result?.exitCode === 3);
      assert.equal(failed.length, 2, 'executed twice');
      assert.ok(failed.every((r) => r?.cachedResult === false));
    } finally {
      clients.close();
    }
  });

  await t.test('a test that sleeps past --test_timeout is reported as TIMEOUT', async () => {
    const ws = workspaces.at(-1) as BazelWorkspace;
    const result = await runBazel(ws, [
      'test',
      '//remote:sleepy_test',
      '--test_timeout=3',
      ...remote(),
    ]);
    assert.equal(result.code, 3, result.stderr);
    assert.match(`${result.stdout}${result.stderr}`, /\/\/remote:sleepy_test\s+TIMEOUT/);
  });
});
