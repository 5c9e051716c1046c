import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { status } from '@grpc/grpc-js';
import { CasClient } from '../../src/client/cas-client.ts';
import { failedPrecondition } from '../../src/errors.ts';
import { ActionExecutor } from '../../src/worker/action-executor.ts';
import { CommandRunner } from '../../src/worker/command-runner.ts';
import { type ExecutionStep, outputAdoptionStep } from '../../src/worker/execution-steps.ts';
import { FileCache } from '../../src/worker/file-cache.ts';
import { startTestServer, type TestServer } from '../support/test-server.ts';
import { file, makeCommand, uploadAction, uploadTree } from './input-tree-builder.ts';

const ENV = [{ name: 'PATH', value: '/usr/bin:/bin' }];

describe('execution steps', () => {
  let t: TestServer;
  let cas: CasClient;
  let dir: string;
  let fileCache: FileCache;

  before(async () => {
    t = await startTestServer();
    cas = new CasClient({ address: t.server.address });
    dir = await mkdtemp(join(tmpdir(), 'kiln-steps-'));
    fileCache = await FileCache.open({ directory: join(dir, 'cache'), maxBytes: 1 << 30, cas });
  });
  after(async () => {
    cas.close();
    await t.stop();
    await rm(dir, { recursive: true, force: true });
  });

  async function execute(steps: ExecutionStep[], script: string) {
    const executor = new ActionExecutor({
      cas,
      fileCache,
      buildRoot: join(dir, 'build'),
      workerName: 'steps-test',
      runner: new CommandRunner({ killGraceMs: 200 }),
      steps,
    });
    const { root } = await uploadTree(cas, { 'in.txt': file('input\n') });
    const { digest } = await uploadAction(
      cas,
      makeCommand({
        arguments: ['sh', '-c', script],
        environmentVariables: ENV,
        outputPaths: ['out.txt'],
      }),
      root,
    );
    return executor.execute({ actionDigest: digest, timeoutMs: 30_000 });
  }

  it('runs each step around the command, in order, with the build directory still there', async () => {
    const seen: string[] = [];
    const step = (name: string): ExecutionStep => ({
      afterRun({ run, inputRoot }) {
        seen.push(`${name} ran ${run.exitCode} ${inputRoot.length > 0}`);
      },
      async afterUpload(_ran, result) {
        seen.push(`${name} uploaded ${result.outputFiles.map((f) => f.path).join()}`);
      },
    });
    const outcome = await execute([step('a'), step('b')], 'cp in.txt out.txt');
    assert.equal(outcome.status.code, status.OK);
    assert.deepEqual(seen, [
      'a ran 0 true',
      'b ran 0 true',
      'a uploaded out.txt',
      'b uploaded out.txt',
    ]);
  });

  it('fails the execution when a step refuses the run, and uploads nothing', async () => {
    let uploaded = false;
    const outcome = await execute(
      [
        {
          afterRun() {
            throw failedPrecondition('refused by a step');
          },
          async afterUpload() {
            uploaded = true;
          },
        },
      ],
      'cp in.txt out.txt',
    );
    assert.equal(outcome.status.code, status.FAILED_PRECONDITION);
    assert.equal(outcome.status.message, 'refused by a step');
    assert.equal(uploaded, false);
    assert.deepEqual(outcome.result.outputFiles, []);
  });

  it('adopts outputs into the file cache only with the adoption step', async () => {
    await execute([], 'true'); // caches the input
    const before = fileCache.stats.files;
    await execute([], 'echo without-$$ > out.txt');
    assert.equal(fileCache.stats.files, before, 'the output was not cached');
    await execute([outputAdoptionStep(fileCache)], 'echo with-$$ > out.txt');
    assert.equal(fileCache.stats.files, before + 1, 'the output was adopted');
  });
});
