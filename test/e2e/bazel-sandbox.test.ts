// Bazel 4.2.3 builds and tests on Kiln's workers inside the namespace sandbox
// (--remote_default_exec_properties=sandbox=namespaces), and a genrule that
// records what it can see shows that its action really ran there.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { findBubblewrap } from '../../src/worker/sandboxing-runner.ts';
import type { KilnProcess } from '../support/kiln-process.ts';
import { parseRemoteCacheHits, runBazel } from './bazel-harness.ts';
import { startKilnSession } from './kiln-session.ts';

const run = promisify(execFile);

/** Known outputs of the fixture (see fixtures/README.md and bazel-local.test.ts). */
const KILNMATH_MAIN_STDOUT =
  'fib(50)=12586269025\nfnv1a(kiln)=ef9580d72160ee33\ngcd(1071,462)=21\n';
/** sha256 of gen's upper.txt + line_count.txt + stamped.txt: pins the whole genrule chain. */
const GEN_SUMMARY = '7c2ca65336321c1366c7e71a2f11a300fdc97fb602d20be7558315031887d4d1\n';

/**
 * A package written into the test's private workspace copy (never into the
 * shared fixture). `evidence` is built with the rest of `//...`, in the
 * sandbox; `control` runs the same probes without it, so that each probe is
 * seen to tell the two apart. Each probe prints `name=value`.
 */
function evidenceBuild(options: { kilnPort: string; hostMarker: string }): string {
  const probes = [
    'echo interfaces=$$(grep -c : /proc/net/dev)',
    `echo kiln_port=$$( (exec 3<>/dev/tcp/127.0.0.1/${options.kilnPort}) 2>/dev/null && echo reachable || echo unreachable)`,
    'echo uid=$$(id -u)',
    'echo pid1=$$(cat /proc/1/comm)',
    `echo host_tmp_marker=$$(test -e ${options.hostMarker} && echo visible || echo hidden)`,
    'echo tmp_entries=$$(ls -A /tmp | wc -l)',
    'echo var_tmp=$$(touch /var/tmp/kiln-sandbox-probe-$$$$ 2>/dev/null && rm -f /var/tmp/kiln-sandbox-probe-$$$$ && echo writable || echo read-only)',
  ];
  return `# Written by bazel-sandbox.test.ts.
PROBES = "(" + " ; ".join(${JSON.stringify(probes)}) + ") > $@"

genrule(
    name = "evidence",
    outs = ["evidence.txt"],
    cmd = PROBES,
)

genrule(
    name = "control",
    outs = ["control.txt"],
    cmd = PROBES,
    tags = ["manual"],
)
`;
}

/** Parses the `name=value` lines of an evidence file. */
async function readEvidence(path: string): Promise<Record<string, string>> {
  const text = await readFile(path, 'utf8');
  return Object.fromEntries(
    text
      .trim()
      .split('\n')
      .map((line) => {
        const at = line.indexOf('=');
        return [line.slice(0, at), line.slice(at + 1)];
      }),
  );
}

/**
 * True when bubblewrap is installed. Without it the test is skipped locally
 * but fails in CI (`CI=true`), like a missing Bazel.
 */
function requireBubblewrap(t: TestContext): boolean {
  if (findBubblewrap() !== undefined) return true;
  const message = 'bwrap not found on PATH or in /usr/bin';
  if (process.env.CI === 'true') {
    throw new Error(`${message}; CI must run the sandbox e2e test (install bubblewrap)`);
  }
  t.skip(message);
  return false;
}

/**
 * Waits for the in-process worker's verdict on the sandbox. Without it an
 * action asking for `sandbox=namespaces` would find no worker, so a worker
 * that cannot offer it ends the test at once (skipped locally, failed in CI).
 */
async function requireSandboxOffer(t: TestContext, kiln: KilnProcess): Promise<boolean> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    for (const line of kiln.stderr().split('\n')) {
      if (!line.includes('"msg":"sandbox ')) continue;
      if (line.includes('"msg":"sandbox available')) return true;
      const message = `kiln's worker does not offer the sandbox: ${line}`;
      if (process.env.CI === 'true') throw new Error(message);
      t.skip(message);
      return false;
    }
    if (Date.now() > deadline) {
      throw new Error(`kiln logged no sandbox verdict:\n${kiln.stderr()}`);
    }
    await sleep(50);
  }
}

test('Bazel builds and tests on Kiln in the namespace sandbox (sandbox=namespaces)', {
  timeout: 10 * 60_000,
}, async (t) => {
  if (!requireBubblewrap(t)) return;
  const session = await startKilnSession(t);
  if (session === undefined) return;
  const { kiln } = session;
  if (!(await requireSandboxOffer(t, kiln))) return;

  const hostMarker = join(tmpdir(), `kiln-sandbox-marker-${process.pid}`);
  await writeFile(hostMarker, 'on the host\n');
  t.after(() => rm(hostMarker, { force: true }));

  const ws = await session.newWorkspace();
  await mkdir(join(ws.dir, 'sandbox'));
  const kilnPort = kiln.address.slice(kiln.address.lastIndexOf(':') + 1);
  await writeFile(join(ws.dir, 'sandbox', 'BUILD'), evidenceBuild({ kilnPort, hostMarker }));
  const bin = join(ws.dir, 'bazel-bin');
  const remote = [`--remote_executor=grpc://${kiln.address}`, '--remote_timeout=120'];
  const sandboxed = [...remote, '--remote_default_exec_properties=sandbox=namespaces'];

  await t.test('a cold build and test run remotely in the sandbox and pass', async (t) => {
    const result = await runBazel(ws, ['test', '//...', ...sandboxed]);
    assert.equal(result.code, 0, result.stderr);
    const summary = parseRemoteCacheHits(result.stderr);
    t.diagnostic(`processes: ${JSON.stringify(summary.byRunner)}`);
    assert.ok(
      (summary.byRunner.remote ?? 0) >= 10,
      `remote executions: ${JSON.stringify(summary)}`,
    );
    assert.equal(summary.executed, summary.byRunner.remote ?? 0, 'nothing ran locally');
    assert.match(`${result.stdout}${result.stderr}`, /\/\/cc:kilnmath_test\s+PASSED/);
    const { stdout } = await run(join(bin, 'cc', 'kilnmath_main'));
    assert.equal(stdout, KILNMATH_MAIN_STDOUT);
    assert.equal(await readFile(join(bin, 'gen', 'summary.txt'), 'utf8'), GEN_SUMMARY);
    const big = await readFile(join(bin, 'gen', 'big.txt'), 'utf8');
    assert.equal(big.length, 2_800_000);
  });

  await t.test(
    'the genrule saw the sandbox: no network, its own PID namespace and /tmp, a read-only host',
    async (t) => {
      const seen = await readEvidence(join(bin, 'sandbox', 'evidence.txt'));
      t.diagnostic(`in the sandbox: ${JSON.stringify(seen)}`);
      assert.equal(seen.interfaces, '1', `only a loopback interface: ${JSON.stringify(seen)}`);
      assert.equal(seen.kiln_port, 'unreachable', "the host's loopback is out of reach");
      assert.equal(seen.pid1, 'bwrap', 'PID 1 is bubblewrap: a PID namespace of its own');
      assert.equal(seen.host_tmp_marker, 'hidden', "the host's /tmp is not visible");
      // Empty, or the one directory bubblewrap makes to bind the input root
      // when the worker's work directory lies under /tmp (a non-root run).
      assert.ok(Number(seen.tmp_entries) <= 1, `a private /tmp: ${JSON.stringify(seen)}`);
      assert.equal(seen.var_tmp, 'read-only', 'the host file system is read-only');
      // kiln serve run as root (as in CI) runs every action as a user of its own.
      assert.notEqual(seen.uid, '0', 'the action does not run as root');
      if (process.getuid?.() !== 0) assert.equal(seen.uid, String(process.getuid?.()));
    },
  );

  await t.test('the same probes without sandbox=namespaces see the host', async (t) => {
    const result = await runBazel(ws, ['build', '//sandbox:control', ...remote]);
    assert.equal(result.code, 0, result.stderr);
    const summary = parseRemoteCacheHits(result.stderr);
    assert.equal(summary.byRunner.remote, 1, JSON.stringify(summary));
    const seen = await readEvidence(join(bin, 'sandbox', 'control.txt'));
    t.diagnostic(`outside it: ${JSON.stringify(seen)}`);
    assert.equal(seen.kiln_port, 'reachable', JSON.stringify(seen));
    assert.notEqual(seen.pid1, 'bwrap');
    assert.equal(seen.host_tmp_marker, 'visible');
    assert.equal(seen.var_tmp, 'writable');
    assert.notEqual(seen.uid, '0');
  });
});
