/**
 * Actions that run as the worker's own user (a worker without root, or
 * `--action-users off`) can make an input writable and change it, and with
 * it the file cache's copy it is a hardlink of. These tests run actions
 * exactly so, through a plain CommandRunner as the test's own user.
 */
import assert from 'node:assert/strict';
import { appendFile, chmod, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { status } from '@grpc/grpc-js';
import { CasClient } from '../../src/client/cas-client.ts';
import { type Digest, digestOf } from '../../src/digest/digest.ts';
import { SHA256 } from '../../src/digest/digest-function.ts';
import type { ActionResult } from '../../src/gen/build/bazel/remote/execution/v2/remote_execution.js';
import { ActionExecutor, type ExecuteOutcome } from '../../src/worker/action-executor.ts';
import { CommandRunner } from '../../src/worker/command-runner.ts';
import { FileCache } from '../../src/worker/file-cache.ts';
import { startTestServer, type TestServer } from '../support/test-server.ts';
import { file, makeCommand, uploadAction, uploadTree } from './input-tree-builder.ts';

const ENV = [{ name: 'PATH', value: '/usr/bin:/bin' }];
const ORIGINAL = 'original bytes\n';

describe('file cache integrity when actions run as the worker user', () => {
  let t: TestServer;
  let cas: CasClient;
  let root: string;
  let n = 0;

  before(async () => {
    t = await startTestServer();
    cas = new CasClient({ address: t.server.address });
    root = await mkdtemp(join(tmpdir(), 'kiln-cache-integrity-'));
  });
  after(async () => {
    cas.close();
    await t.stop();
    await rm(root, { recursive: true, force: true });
  });

  /** A fresh cache and executor; `verifyIntegrity` as a same-user worker sets it. */
  async function setup(verifyIntegrity: boolean) {
    const dir = join(root, `case-${n++}`);
    const cacheDir = join(dir, 'cache');
    const fileCache = await FileCache.open({
      directory: cacheDir,
      maxBytes: 1 << 30,
      cas,
      verifyIntegrity,
    });
    const executor = new ActionExecutor({
      cas,
      fileCache,
      buildRoot: join(dir, 'builds'),
      workerName: 'integrity-worker',
      runner: new CommandRunner({ killGraceMs: 200 }),
    });
    /** Runs `script` in an input root holding data.txt (ORIGINAL). */
    const run = async (script: string): Promise<ExecuteOutcome> => {
      const { root: inputRoot } = await uploadTree(cas, { 'data.txt': file(ORIGINAL) });
      const command = makeCommand({
        arguments: ['/bin/sh', '-c', script],
        environmentVariables: ENV,
      });
      const { digest } = await uploadAction(cas, command, inputRoot);
      return executor.execute({ actionDigest: digest, timeoutMs: 30_000 });
    };
    return { fileCache, cacheDir, run };
  }

  const stdout = async (result: ActionResult): Promise<string> => {
    if (result.stdoutRaw.length > 0 || result.stdoutDigest === undefined) {
      return result.stdoutRaw.toString();
    }
    const d = result.stdoutDigest;
    return (await cas.readBlob(cas.digest(d.hash, d.sizeBytes))).toString();
  };

  /** Runs `cat data.txt` (with a marker, so each is a new action) and returns what it read. */
  const readData = async (run: (s: string) => Promise<ExecuteOutcome>): Promise<string> => {
    const { result, status: s } = await run(`cat data.txt; : ${n++}`);
    assert.equal(s.code, status.OK, s.message);
    return stdout(result);
  };

  /** The cache's files holding `digest` (any mode). */
  async function cachedFiles(cacheDir: string, digest: Digest): Promise<string[]> {
    const fan = join(cacheDir, digest.hash.slice(0, 2));
    const names = await readdir(fan);
    return names
      .filter((name) => name.startsWith(`${digest.hash}_`))
      .map((name) => join(fan, name));
  }

  it('fails an action that writes its input in place, and serves the original afterwards', async () => {
    const { fileCache, run } = await setup(true);
    const digest = await digestOf(SHA256, Buffer.from(ORIGINAL));

    const { result, status: s } = await run('chmod u+w data.txt; echo TAMPERED >> data.txt');
    assert.equal(s.code, status.INVALID_ARGUMENT);
    assert.match(s.message, /changed its input file "data\.txt"/);
    assert.ok(s.message.includes(digest.hash), s.message);
    assert.match(s.message, /mode 444 -> 644/);
    assert.equal(result.outputFiles.length, 0);
    assert.equal(fileCache.stats.discarded, 1);

    assert.equal(await readData(run), ORIGINAL);
    assert.equal(fileCache.stats.discarded, 1);
  });

  it('fetches anew a cache file that changed between two actions', async () => {
    const { fileCache, cacheDir, run } = await setup(true);
    const digest = await digestOf(SHA256, Buffer.from(ORIGINAL));
    assert.equal(await readData(run), ORIGINAL);
    assert.equal(await readData(run), ORIGINAL);
    const fetches = fileCache.stats.fetches;

    // As another action of the same user could, through the cache directory.
    const [cached] = await cachedFiles(cacheDir, digest);
    assert.ok(cached, 'the blob is cached');
    await chmod(cached, 0o644);
    await appendFile(cached, 'TAMPERED\n');
    await chmod(cached, 0o444);

    assert.equal(await readData(run), ORIGINAL);
    assert.equal(fileCache.stats.discarded, 1);
    assert.equal(fileCache.stats.fetches, fetches + 1);
    assert.deepEqual(await cachedFiles(cacheDir, digest).then((f) => f.length), 1);
  });

  it('detects a change of mode alone', async () => {
    const { fileCache, run } = await setup(true);
    const { status: s } = await run('chmod u+w data.txt');
    assert.equal(s.code, status.INVALID_ARGUMENT);
    assert.match(s.message, /"data\.txt" \(digest [0-9a-f]{64}\/\d+: mode 444 -> 644\)/);
    assert.equal(fileCache.stats.discarded, 1);

    const { result, status: next } = await run(`stat -c %a data.txt; : ${n++}`);
    assert.equal(next.code, status.OK, next.message);
    assert.equal(await stdout(result), '444\n');
  });

  it('does not count deleting, replacing or linking an input as a change', async () => {
    // Each of these changes the cached inode's ctime (its link count), not its content or mode.
    const { fileCache, run } = await setup(true);
    for (const script of [
      'rm data.txt',
      'mv data.txt moved.txt',
      'ln data.txt again.txt',
      'cp data.txt copy.txt && rm -f data.txt && mv copy.txt data.txt && chmod u+w data.txt',
    ]) {
      const { status: s } = await run(script);
      assert.equal(s.code, status.OK, `${script}: ${s.message}`);
    }
    assert.equal(await readData(run), ORIGINAL);
    assert.equal(fileCache.stats.discarded, 0);
  });

  it('without verification, the same write corrupts the cached copy undetected', async () => {
    // What the worker did before: this is the corruption the checks above prevent.
    const { fileCache, run } = await setup(false);
    const { status: s } = await run('chmod u+w data.txt; echo TAMPERED >> data.txt');
    assert.equal(s.code, status.OK, s.message);
    assert.equal(await readData(run), `${ORIGINAL}TAMPERED\n`);
    assert.equal(fileCache.stats.discarded, 0);
  });
});
