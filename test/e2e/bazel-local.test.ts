// Proves the Bazel fixtures build and test offline with a plain local Bazel
// (no remote flags), so later e2e failures against Kiln point at Kiln.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import {
  collectOutputs,
  createBazelWorkspace,
  parseRemoteCacheHits,
  requireBazel,
  runBazel,
} from './bazel-harness.ts';
import { COMPARED_OUTPUTS } from './kiln-session.ts';

const run = promisify(execFile);

const EXPECTED_GEN: Record<string, string> = {
  'upper.txt': 'HELLO KILN CACHE\n',
  'first_word.txt': 'HELLO\n',
  'line_count.txt': '1\n',
  'reversed.txt': 'EHCAC NLIK OLLEH\n',
  'stamped.txt': '1:1:HELLO\n2:1:EHCAC NLIK OLLEH\nstamped-by-tool\n',
  // sha256 of upper.txt + line_count.txt + stamped.txt, concatenated.
  'summary.txt': '7c2ca65336321c1366c7e71a2f11a300fdc97fb602d20be7558315031887d4d1\n',
};

test('the fixture workspace builds, runs and tests offline with a local Bazel', async (t) => {
  if (requireBazel(t) === undefined) return;
  const ws = await createBazelWorkspace();
  t.after(() => ws.cleanup());

  let firstBuild: Map<string, string> | undefined;

  await t.test('bazel build //... succeeds and executes every action locally', async () => {
    const result = await runBazel(ws, ['build', '//...']);
    assert.equal(result.code, 0, result.stderr);
    assert.doesNotMatch(result.stderr, /Download from|Unknown host/);
    const summary = parseRemoteCacheHits(result.stderr);
    assert.equal(summary.remoteCacheHits, 0);
    assert.ok(
      summary.executed >= 10,
      `expected the compiles and genrules to run: ${JSON.stringify(summary)}`,
    );
    firstBuild = await collectOutputs(ws, COMPARED_OUTPUTS);
  });

  await t.test('the cc_binary prints the known values', async () => {
    const { stdout } = await run(join(ws.dir, 'bazel-bin', 'cc', 'kilnmath_main'));
    assert.equal(stdout, 'fib(50)=12586269025\nfnv1a(kiln)=ef9580d72160ee33\ngcd(1071,462)=21\n');
  });

  await t.test('the genrule outputs have the expected contents', async () => {
    for (const [name, expected] of Object.entries(EXPECTED_GEN)) {
      assert.equal(await readFile(join(ws.dir, 'bazel-bin', 'gen', name), 'utf8'), expected, name);
    }
    const big = await readFile(join(ws.dir, 'bazel-bin', 'gen', 'big.txt'), 'utf8');
    assert.equal(big.length, 2_800_000);
    assert.ok(big.startsWith('00000000 kiln\n') && big.endsWith('00199999 kiln\n'));
  });

  await t.test('bazel test //... passes the cc_test', async () => {
    const result = await runBazel(ws, ['test', '//...']);
    assert.equal(result.code, 0, result.stderr);
    assert.match(`${result.stdout}${result.stderr}`, /\/\/cc:kilnmath_test\s+PASSED/);
    const log = await readFile(
      join(ws.dir, 'bazel-testlogs', 'cc', 'kilnmath_test', 'test.log'),
      'utf8',
    );
    assert.match(log, /kilnmath_test: all checks passed/);
  });

  await t.test('a clean rebuild produces byte-identical outputs', async () => {
    assert.ok(firstBuild !== undefined, 'the first build must have succeeded');
    assert.equal((await runBazel(ws, ['clean'])).code, 0);
    const result = await runBazel(ws, ['build', '//...']);
    assert.equal(result.code, 0, result.stderr);
    assert.ok(parseRemoteCacheHits(result.stderr).executed > 0, 'clean must force re-execution');
    const secondBuild = await collectOutputs(ws, COMPARED_OUTPUTS);
    for (const output of ['cc/_objs/kilnmath/kilnmath.pic.o', 'cc/libkilnmath.so', 'gen/big.txt']) {
      assert.ok(secondBuild.has(output), `${output} not compared: ${[...secondBuild.keys()]}`);
    }
    assert.deepEqual(secondBuild, firstBuild);
  });
});
