import assert from 'node:assert/strict';
import { lstat, mkdir, mkdtemp, readFile, readlink, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { type KilnProcess, startKiln } from '../support/kiln-process.ts';
import { jsonOf, kiln, oneErrorLine, snapshot } from './kiln-cli.ts';

interface RunJson {
  action: string;
  operation: string;
  cached: boolean;
  exitCode: number;
  stdout: string;
  stderr: string;
  outputFiles: Array<{ path: string; digest: string; executable: boolean }>;
  outputDirectories: Array<{ path: string; treeDigest: string }>;
  timings: Record<string, number>;
  stages: Array<{ stage: string; atMs: number }>;
  downloaded: string[];
}

describe('kiln run, action, execute, ac, ops, capabilities', () => {
  let server: KilnProcess;
  let dir: string;
  let inputs: string;
  const run = (...args: string[]) => kiln(args, { server: server.address });

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kiln-cli-exec-'));
    server = await startKiln(['--listen', '127.0.0.1:0', '--data-dir', join(dir, 'data')]);
    inputs = join(dir, 'inputs');
    await mkdir(join(inputs, 'sub'), { recursive: true });
    await writeFile(join(inputs, 'words.txt'), 'one two three four five\n');
  });
  after(async () => {
    await server?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  const COUNT = 'mkdir -p out && wc -w < words.txt | tr -d " " > out/count.txt && echo counted';

  it('runs a command on its inputs, prints its stdout, downloads its output, and hits the cache the second time', async () => {
    const first = await run(
      'run',
      '--input-root',
      inputs,
      '--output',
      'out/count.txt',
      '--',
      'sh',
      '-c',
      COUNT,
    );
    assert.equal(first.code, 0, first.stderr);
    assert.equal(first.stdout, 'counted\n');
    assert.equal((await readFile(join(inputs, 'out/count.txt'), 'utf8')).trim(), '5');
    assert.match(first.stderr, /kiln: completed in .* \(exit code 0(; operation \S+)?\)/);

    const second = await run(
      ...['run', '--input-root', inputs, '--output', 'out/count.txt', '--json'],
      ...['--', 'sh', '-c', COUNT],
    );
    assert.equal(second.code, 0, second.stderr);
    const result = jsonOf<RunJson>(second);
    assert.equal(result.cached, true, 'the downloaded output did not change the inputs');
    assert.equal(result.exitCode, 0);
    assert.equal(result.stdout, 'counted\n');
    assert.deepEqual(
      result.outputFiles.map((f) => f.path),
      ['out/count.txt'],
    );
    assert.deepEqual(result.downloaded, [join(inputs, 'out/count.txt')]);
    assert.match(second.stderr, /\(cache hit; operation operations\/\S+\)/);
  });

  it('runs BLAKE3 actions under a non-default instance name end to end', async () => {
    const res = await run(
      ...['run', '--digest-function', 'blake3', '--instance', 'team/blake'],
      ...['--input-root', inputs, '--json', '--', 'sh', '-c', 'wc -w < words.txt'],
    );
    assert.equal(res.code, 0, res.stderr);
    const result = jsonOf<RunJson>(res);
    assert.equal(result.stdout.trim(), '5');
    assert.equal(result.cached, false);
  });

  it("exits with the command's non-zero exit code and passes its stderr through", async () => {
    const res = await run('run', '--', 'sh', '-c', 'echo partial; echo broken >&2; exit 3');
    assert.equal(res.code, 3);
    assert.equal(res.stdout, 'partial\n');
    assert.match(res.stderr, /^broken$/m);
    const json = jsonOf<RunJson>(await run('run', '--json', '--', 'sh', '-c', 'exit 7'));
    assert.equal(json.exitCode, 7);
    assert.equal(json.cached, false, 'failed actions are not cached');
  });

  it('downloads an output directory, and cas download --tree recreates it from its Tree digest', async () => {
    const outputDir = join(dir, 'outdir');
    const script =
      'mkdir -p gen/sub gen/empty && cp words.txt gen/ && printf "#!/bin/sh\\n" > gen/sub/tool && ' +
      'chmod +x gen/sub/tool && ln -s ../words.txt gen/sub/link';
    const res = await run(
      ...['run', '--input-root', inputs, '--output-dir', outputDir, '--output', 'gen', '--json'],
      ...['--', 'sh', '-c', script],
    );
    assert.equal(res.code, 0, res.stderr);
    const result = jsonOf<RunJson>(res);
    assert.equal((await lstat(join(outputDir, 'gen/sub/tool'))).mode & 0o111, 0o111);
    assert.equal(await readlink(join(outputDir, 'gen/sub/link')), '../words.txt');
    assert.ok((await lstat(join(outputDir, 'gen/empty'))).isDirectory());

    const treeDigest = result.outputDirectories[0]?.treeDigest;
    assert.ok(treeDigest);
    const copy = join(dir, 'gen-copy');
    const down = await run('cas', 'download', treeDigest, copy, '--tree');
    assert.equal(down.code, 0, down.stderr);
    assert.deepEqual(await snapshot(copy), await snapshot(join(outputDir, 'gen')));
  });

  let actionDigest: string;
  let operationName: string;

  it('creates an action and executes it, reporting stages, exit code, outputs and stage timings', async () => {
    const root = (await run('cas', 'upload', inputs)).stdout.trim();
    const created = await run(
      ...['action', 'create', '--input-root', root, '--cwd', 'sub', '--output', 'greeting.txt'],
      ...['--env', 'GREETING=hello', '--timeout', '60', '--json'],
      ...['--', 'sh', '-c', 'echo "$GREETING" > greeting.txt; cat ../words.txt'],
    );
    assert.equal(created.code, 0, created.stderr);
    const ids = jsonOf<{ actionDigest: string; inputRootDigest: string }>(created);
    assert.equal(ids.inputRootDigest, root);
    actionDigest = ids.actionDigest;

    const executed = await run('execute', actionDigest);
    assert.equal(executed.code, 0, executed.stderr);
    // The operation is named once: with the first stage reported, or, when the
    // result came first (the server holds stage updates back briefly), with it.
    const named = executed.stderr.match(
      /\(operation operations\/\S+\)$|; operation operations\/\S+\)$/gm,
    );
    assert.equal(named?.length, 1, executed.stderr);
    assert.match(executed.stderr, /^kiln: completed in .* \(exit code 0(; operation \S+)?\)$/m);
    assert.match(executed.stdout, /^exit code\s+0$/m);
    assert.match(
      executed.stdout,
      /^timings\s+queued .*, input fetch .*, execution .*, output upload .*\(total .*\)$/m,
    );
    assert.match(executed.stdout, /^ {2}greeting\.txt\s+6 B\s+[0-9a-f]{64}\/6$/m);
    assert.match(executed.stdout, /--- stdout ---\none two three four five\n/);

    const again = jsonOf<RunJson>(await run('execute', actionDigest, '--skip-cache', '--json'));
    assert.equal(again.cached, false, '--skip-cache runs it again');
    assert.equal(again.action, actionDigest);
    assert.equal(again.stdout, 'one two three four five\n');
    assert.deepEqual(
      again.outputFiles.map((f) => f.path),
      ['greeting.txt'],
    );
    for (const stage of ['queuedMs', 'inputFetchMs', 'executionMs', 'outputUploadMs', 'totalMs']) {
      assert.equal(typeof again.timings[stage], 'number', stage);
    }
    assert.equal(again.stages.at(-1)?.stage, 'COMPLETED');
    operationName = again.operation;
  });

  it('shows the cached result with ac get, and says when there is none', async () => {
    const text = await run('ac', 'get', actionDigest);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /^exit code\s+0 \(cached result\)$/m);
    assert.match(text.stdout, /greeting\.txt/);
    const json = jsonOf<RunJson>(await run('ac', 'get', actionDigest, '--json'));
    assert.equal(json.exitCode, 0);
    assert.equal(json.stdout, 'one two three four five\n');

    const unknown = `${'0'.repeat(64)}/10`;
    const missing = await run('ac', 'get', unknown);
    assert.equal(missing.code, 1);
    assert.equal(
      oneErrorLine(missing),
      `kiln: no cached result for action ${unknown} in the action cache`,
    );
  });

  it('lists, gets and waits for operations', async () => {
    const list = jsonOf<{ operations: Array<{ name: string; stage: string; action: string }> }>(
      await run('ops', 'list', '--json'),
    );
    const listed = list.operations.find((o) => o.name === operationName);
    assert.deepEqual(listed, {
      name: operationName,
      stage: 'COMPLETED',
      done: true,
      action: actionDigest,
    });
    const table = await run('ops', 'list', '--filter', 'stage=COMPLETED');
    assert.match(table.stdout, /^NAME\s+STAGE\s+ACTION$/m);
    assert.ok(table.stdout.includes(operationName));

    const got = await run('ops', 'get', operationName);
    assert.equal(got.code, 0, got.stderr);
    assert.match(got.stdout, /^stage\s+COMPLETED$/m);
    assert.match(got.stdout, /^exit code\s+0$/m);
    const gotJson = jsonOf<RunJson & { stage: string }>(
      await run('ops', 'get', operationName, '--json'),
    );
    assert.equal(gotJson.stage, 'COMPLETED');
    assert.equal(gotJson.action, actionDigest);
    const waited = jsonOf<RunJson & { done: boolean }>(
      await run('ops', 'wait', operationName, '--json'),
    );
    assert.equal(waited.done, true);
    assert.equal(waited.exitCode, 0);

    const unknown = await run('ops', 'get', 'operations/does-not-exist');
    assert.equal(unknown.code, 1);
    assert.match(oneErrorLine(unknown), /not found/);
  });

  it('cancels a running operation, and its execute reports the cancellation in one line', async () => {
    const action = (await run('action', 'create', '--no-cache', '--', 'sleep', '30')).stdout.trim();
    const executing = run('execute', action);
    let name: string | undefined;
    for (let i = 0; i < 100 && name === undefined; i++) {
      const ops = jsonOf<{ operations: Array<{ name: string; action: string }> }>(
        await run('ops', 'list', '--filter', 'stage=EXECUTING', '--json'),
      );
      name = ops.operations.find((o) => o.action === action)?.name;
      if (name === undefined) await sleep(100);
    }
    assert.ok(name, 'the action started executing');
    const cancelled = await run('ops', 'cancel', name);
    assert.equal(cancelled.code, 0, cancelled.stderr);
    assert.equal(cancelled.stdout, `cancelled ${name}\n`);
    const res = await executing;
    assert.equal(res.code, 1);
    assert.match(
      res.stderr.trimEnd().split('\n').at(-1) ?? '',
      /^kiln: .*cancelled.*\(CANCELLED\)$/,
    );
  });

  it('prints the server capabilities as text and JSON', async () => {
    const text = await run('capabilities');
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /^server\s+127\.0\.0\.1:\d+$/m);
    assert.match(text.stdout, /^digest functions\s+sha256, .*blake3$/m);
    assert.match(text.stdout, /^remote execution\s+enabled \(sha256\)$/m);
    const json = jsonOf<{ cacheCapabilities: { digestFunctions: string[] } }>(
      await run('capabilities', '--json'),
    );
    assert.ok(json.cacheCapabilities.digestFunctions.includes('BLAKE3'));
  });
});
