import assert from 'node:assert/strict';
import { chmod, mkdir, mkdtemp, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import {
  type BazelWorkspace,
  collectOutputs,
  createBazelWorkspace,
  FIXTURES_DIR,
  parseRemoteCacheHits,
  runBazel,
} from './bazel-harness.ts';

// Summary lines captured from Bazel 4.2.3 (Debian bazel-bootstrap 4.2.3+ds-9)
// building the fixture workspace.
const CAPTURED = {
  remoteCacheHits: 'INFO: 29 processes: 14 remote cache hit, 15 internal.',
  linuxSandbox: 'INFO: 28 processes: 15 internal, 13 linux-sandbox.',
  processWrapper: 'INFO: 28 processes: 16 internal, 12 processwrapper-sandbox.',
  local: 'INFO: 28 processes: 16 internal, 12 local.',
  mixed: 'INFO: 28 processes: 16 internal, 7 linux-sandbox, 5 local.',
  single: 'INFO: 1 process: 1 internal.',
  none: 'INFO: 0 processes.',
};

// Tail of a real `bazel test //...` stderr against a warm remote cache.
const CAPTURED_TEST_STDERR = `INFO: Invocation ID: 063937d7-2ebf-4c0e-92d0-52800a598249
INFO: Analyzed 9 targets (21 packages loaded, 117 targets configured).
INFO: Found 8 targets and 1 test target...
[0 / 4] [Prepa] BazelWorkspaceStatusAction stable-status.txt
INFO: Elapsed time: 5.959s, Critical Path: 0.27s
INFO: 29 processes: 14 remote cache hit, 15 internal.
INFO: Build completed successfully, 29 total actions
//cc:kilnmath_test                                              (cached) PASSED in 0.0s

Executed 0 out of 1 test: 1 test passes.
INFO: Build completed successfully, 29 total actions
`;

// Real stderr of a build that failed during analysis (no network for rules_cc).
const CAPTURED_ANALYSIS_FAILURE = `ERROR: Analysis of target '//gen:stamp_tool' failed; build aborted: Analysis failed
INFO: Elapsed time: 4.439s
INFO: 0 processes.
FAILED: Build did NOT complete successfully (7 packages loaded, 25 targets configured)
`;

describe('parseRemoteCacheHits', () => {
  test('counts remote cache hits and treats internal processes as not executed', () => {
    const summary = parseRemoteCacheHits(CAPTURED.remoteCacheHits);
    assert.deepEqual(summary, {
      total: 29,
      byRunner: { 'remote cache hit': 14, internal: 15 },
      remoteCacheHits: 14,
      internal: 15,
      executed: 0,
    });
  });

  test('counts sandboxed and local runs as executed', () => {
    assert.equal(parseRemoteCacheHits(CAPTURED.linuxSandbox).executed, 13);
    assert.equal(parseRemoteCacheHits(CAPTURED.processWrapper).executed, 12);
    assert.equal(parseRemoteCacheHits(CAPTURED.local).executed, 12);
    const mixed = parseRemoteCacheHits(CAPTURED.mixed);
    assert.deepEqual(mixed.byRunner, { internal: 16, 'linux-sandbox': 7, local: 5 });
    assert.equal(mixed.executed, 12);
    assert.equal(mixed.remoteCacheHits, 0);
  });

  test('counts remote execution as executed, not as a cache hit', () => {
    // Format of Bazel 4.2.3's SpawnStats; no remote executor was available to capture one.
    const summary = parseRemoteCacheHits(
      'INFO: 12 processes: 5 remote cache hit, 3 internal, 4 remote.',
    );
    assert.equal(summary.remoteCacheHits, 5);
    assert.equal(summary.executed, 4);
    assert.equal(summary.byRunner.remote, 4);
  });

  test('parses the singular and the empty summary', () => {
    assert.deepEqual(parseRemoteCacheHits(CAPTURED.single), {
      total: 1,
      byRunner: { internal: 1 },
      remoteCacheHits: 0,
      internal: 1,
      executed: 0,
    });
    assert.deepEqual(parseRemoteCacheHits(CAPTURED.none), {
      total: 0,
      byRunner: {},
      remoteCacheHits: 0,
      internal: 0,
      executed: 0,
    });
    assert.equal(parseRemoteCacheHits(CAPTURED_ANALYSIS_FAILURE).total, 0);
  });

  test('finds the summary in a full stderr and ignores "total actions" lines', () => {
    const summary = parseRemoteCacheHits(CAPTURED_TEST_STDERR);
    assert.equal(summary.total, 29);
    assert.equal(summary.remoteCacheHits, 14);
  });

  test('uses the last summary when stderr holds several invocations', () => {
    const summary = parseRemoteCacheHits(`${CAPTURED.linuxSandbox}\n${CAPTURED.remoteCacheHits}\n`);
    assert.equal(summary.remoteCacheHits, 14);
  });

  test('ignores colour codes and CRLF line ends', () => {
    const coloured = `\u001b[32mINFO: \u001b[0m29 processes: 14 remote cache hit, 15 internal.\r\n`;
    assert.equal(parseRemoteCacheHits(coloured).remoteCacheHits, 14);
  });

  test('throws when stderr has no summary', () => {
    assert.throws(
      () => parseRemoteCacheHits('ERROR: Failed to query remote execution capabilities\n'),
      /no "INFO: N processes" line/,
    );
  });
});

describe('collectOutputs', () => {
  async function fakeWorkspace(): Promise<{ ws: BazelWorkspace; bin: string; root: string }> {
    const root = await mkdtemp(join(tmpdir(), 'kiln-harness-'));
    const bin = join(root, 'out', 'bin');
    await mkdir(join(bin, 'gen'), { recursive: true });
    await mkdir(join(bin, 'cc', 'main.runfiles', 'ws'), { recursive: true });
    await mkdir(join(root, 'workspace'));
    await symlink(bin, join(root, 'workspace', 'bazel-bin'));
    const ws: BazelWorkspace = {
      dir: join(root, 'workspace'),
      outputUserRoot: join(root, 'out'),
      bazel: '/nonexistent/bazel',
      cleanup: () => rm(root, { recursive: true, force: true }),
    };
    return { ws, bin, root };
  }

  test('hashes files under bazel-bin, sorted, following symlinks and skipping runfiles', async (t) => {
    const { ws, bin, root } = await fakeWorkspace();
    t.after(() => ws.cleanup());
    await writeFile(join(bin, 'gen', 'b.txt'), 'bee\n');
    await writeFile(join(bin, 'gen', 'a.txt'), 'hello\n');
    await writeFile(join(root, 'source.sh'), 'hello\n');
    await symlink(join(root, 'source.sh'), join(bin, 'gen', 'tool'));
    await writeFile(join(bin, 'cc', 'main'), 'binary');
    await writeFile(join(bin, 'cc', 'main.runfiles_manifest'), `ws/cc/main ${bin}/cc/main\n`);
    await symlink(join(bin, 'cc', 'main'), join(bin, 'cc', 'main.runfiles', 'ws', 'main'));

    const outputs = await collectOutputs(ws, ['gen', 'cc/main', 'cc']);

    const helloSha = '5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03';
    assert.deepEqual(
      [...outputs.entries()],
      [
        ['cc/main', '9a3a45d01531a20e89ac6ae10b0b0beb0492acd7216a368aa062d1a5fecaf9cd'],
        ['gen/a.txt', helloSha],
        ['gen/b.txt', 'c150e5a8a604acebd8d15bd7bf8ea96b2874bdcc91dee6319977d353251283b0'],
        ['gen/tool', helloSha],
      ],
    );
  });

  test('rejects a missing output instead of returning nothing for it', async (t) => {
    const { ws } = await fakeWorkspace();
    t.after(() => ws.cleanup());
    await assert.rejects(collectOutputs(ws, ['gen/missing.txt']), { code: 'ENOENT' });
  });

  test('rejects paths outside bazel-bin', async (t) => {
    const { ws } = await fakeWorkspace();
    t.after(() => ws.cleanup());
    await assert.rejects(collectOutputs(ws, ['../secret']), /inside bazel-bin/);
  });
});

describe('runBazel', () => {
  // A stand-in client that records its working directory and arguments, so the
  // harness's command lines are checked without starting Bazel. It fails every
  // command with exit code 3 except `shutdown`.
  async function recordingWorkspace(): Promise<{
    ws: BazelWorkspace;
    log: string;
    dispose: () => Promise<void>;
  }> {
    const dir = await mkdtemp(join(tmpdir(), 'kiln-fake-bazel-'));
    const log = join(dir, 'calls.log');
    const script = join(dir, 'bazel');
    await writeFile(
      script,
      [
        '#!/bin/sh',
        `{ echo "cwd=$PWD"; for a in "$@"; do echo "$a"; done; echo ---; } >> '${log}'`,
        'for a in "$@"; do last="$a"; done',
        '[ "$last" = shutdown ] && exit 0',
        'echo out; echo err >&2; exit 3',
        '',
      ].join('\n'),
    );
    await chmod(script, 0o755);
    const ws = await createBazelWorkspace({ bazel: script });
    const dispose = async () => {
      await ws.cleanup();
      await rm(dir, { recursive: true, force: true });
    };
    return { ws, log, dispose };
  }

  async function calls(log: string): Promise<string[][]> {
    const text = await readFile(log, 'utf8');
    return text
      .split('---\n')
      .filter(Boolean)
      .map((call) => call.trimEnd().split('\n'));
  }

  test('puts startup options first and adds offline overrides to build commands', async (t) => {
    const { ws, log, dispose } = await recordingWorkspace();
    t.after(dispose);

    const result = await runBazel(ws, ['build', '//gen:all'], {
      startupArgs: ['--batch_cpu_scheduling'],
    });

    assert.deepEqual(result, { code: 3, stdout: 'out\n', stderr: 'err\n' });
    const [call] = await calls(log);
    assert.ok(call);
    assert.equal(call[0], `cwd=${ws.dir}`);
    const args = call.slice(1);
    const command = args.indexOf('build');
    assert.ok(command > 0);
    assert.ok(args.slice(0, command).includes(`--output_user_root=${ws.outputUserRoot}`));
    assert.ok(args.slice(0, command).includes('--batch_cpu_scheduling'));
    const after = args.slice(command + 1);
    for (const repo of ['rules_cc', 'rules_java', 'remote_coverage_tools']) {
      assert.ok(after.includes(`--override_repository=${repo}=${join(FIXTURES_DIR, repo)}`), repo);
    }
    assert.ok(after.includes('--experimental_repository_disable_download'));
    assert.ok(after.includes('--nosandbox_debug'));
    assert.equal(after.at(-1), '//gen:all', 'caller arguments come last so they win');
  });

  test('gives query only repository options, which is all it accepts', async (t) => {
    const { ws, log, dispose } = await recordingWorkspace();
    t.after(dispose);

    await runBazel(ws, ['query', '//...']);

    const [call] = await calls(log);
    assert.ok(call?.some((a) => a.startsWith('--override_repository=rules_cc=')));
    assert.ok(!call?.includes('--nosandbox_debug'));
  });

  test('cleanup shuts down from the workspace with the last startup options', async (t) => {
    const { ws, log, dispose } = await recordingWorkspace();
    t.after(dispose);
    await runBazel(ws, ['version'], { startupArgs: ['--host_jvm_args=-Xms64m'], maxIdleSecs: 7 });

    await ws.cleanup();

    const all = await calls(log);
    const shutdown = all.at(-1);
    assert.ok(shutdown);
    assert.equal(shutdown[0], `cwd=${ws.dir}`);
    assert.equal(shutdown.at(-1), 'shutdown');
    assert.ok(shutdown.includes('--host_jvm_args=-Xms64m'));
    assert.ok(shutdown.includes('--max_idle_secs=7'));
    assert.ok(!shutdown.some((a) => a.startsWith('--override_repository')));
    await assert.rejects(stat(ws.dir), { code: 'ENOENT' });
    await assert.rejects(stat(ws.outputUserRoot), { code: 'ENOENT' });
  });
});
