// Bazel 4.2.3 uses Kiln as its remote cache: a cold build fills Kiln, and
// builds from fresh output bases (after a Kiln restart) are served entirely
// from it, byte for byte, with and without the bytes.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { collectOutputs, parseRemoteCacheHits, runBazel } from './bazel-harness.ts';
import { COMPARED_OUTPUTS, startKilnSession } from './kiln-session.ts';

const run = promisify(execFile);

test('Bazel uses Kiln as a remote cache', { timeout: 15 * 60_000 }, async (t) => {
  const session = await startKilnSession(t);
  if (session === undefined) return;
  const newWorkspace = () => session.newWorkspace();
  const remoteFlags = () => [
    `--remote_cache=grpc://${session.kiln.address}`,
    '--remote_timeout=60',
  ];

  let cold: Map<string, string> | undefined;

  await t.test('a cold build and test run locally and upload to Kiln', async () => {
    const ws = await newWorkspace();
    const result = await runBazel(ws, ['test', '//...', ...remoteFlags()]);
    assert.equal(result.code, 0, result.stderr);
    const summary = parseRemoteCacheHits(result.stderr);
    assert.equal(summary.remoteCacheHits, 0, JSON.stringify(summary));
    assert.ok(summary.executed >= 10, JSON.stringify(summary));
    assert.doesNotMatch(result.stderr, /WARNING: .*(remote|Remote)/, 'no remote cache warnings');
    cold = await collectOutputs(ws, COMPARED_OUTPUTS);
    await ws.cleanup();
  });

  await t.test(
    'after a Kiln restart, a fresh output base is served entirely from Kiln',
    async () => {
      await session.restart();
      const ws = await newWorkspace();
      const result = await runBazel(ws, ['test', '//...', ...remoteFlags()]);
      assert.equal(result.code, 0, result.stderr);
      const summary = parseRemoteCacheHits(result.stderr);
      assert.equal(
        summary.executed,
        0,
        `every action must be a cache hit: ${JSON.stringify(summary)}`,
      );
      assert.ok(summary.remoteCacheHits >= 10, JSON.stringify(summary));
      assert.match(
        `${result.stdout}${result.stderr}`,
        /\/\/cc:kilnmath_test\s+\(cached\) PASSED|\/\/cc:kilnmath_test\s+PASSED/,
      );
      const warm = await collectOutputs(ws, COMPARED_OUTPUTS);
      assert.ok(cold !== undefined && cold.size > 0);
      assert.deepEqual(warm, cold, 'outputs from the cache are byte-identical');
      const { stdout } = await run(join(ws.dir, 'bazel-bin', 'cc', 'kilnmath_main'));
      assert.match(stdout, /fib\(50\)=12586269025/);
      await ws.cleanup();
    },
  );

  await t.test('a build without the bytes is all cache hits and downloads no outputs', async () => {
    const ws = await newWorkspace();
    const result = await runBazel(ws, [
      'build',
      '//...',
      '--remote_download_minimal',
      ...remoteFlags(),
    ]);
    assert.equal(result.code, 0, result.stderr);
    const summary = parseRemoteCacheHits(result.stderr);
    assert.equal(summary.executed, 0, JSON.stringify(summary));
    assert.ok(summary.remoteCacheHits >= 10, JSON.stringify(summary));
    assert.equal(existsSync(join(ws.dir, 'bazel-bin', 'gen', 'big.txt')), false);

    // The same output base then fetches the top-level outputs from Kiln.
    const fetch = await runBazel(ws, [
      'build',
      '//...',
      '--remote_download_toplevel',
      ...remoteFlags(),
    ]);
    assert.equal(fetch.code, 0, fetch.stderr);
    const fetched = await collectOutputs(ws, ['gen/big.txt', 'gen/summary.txt']);
    assert.equal(fetched.size, 2, [...fetched.keys()].join(', '));
    for (const [path, hash] of fetched) assert.equal(hash, cold?.get(path), path);
    assert.doesNotMatch(session.kiln.stderr(), /"level":50/, 'Kiln logged no errors');
  });
});
