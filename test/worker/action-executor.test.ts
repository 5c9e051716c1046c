import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { status } from '@grpc/grpc-js';
import { CasClient } from '../../src/client/cas-client.ts';
import { type Digest, digestOf, toDigestMessage } from '../../src/digest/digest.ts';
import { SHA256 } from '../../src/digest/digest-function.ts';
import { PRECONDITION_FAILURE_TYPE_URL } from '../../src/execution/precondition-failure.ts';
import {
  Action,
  type ActionResult,
  type Command,
  Tree,
} from '../../src/gen/build/bazel/remote/execution/v2/remote_execution.js';
import type { Timestamp } from '../../src/gen/google/protobuf/timestamp.js';
import { PreconditionFailure } from '../../src/gen/google/rpc/error_details.js';
import { ActionExecutor } from '../../src/worker/action-executor.ts';
import { CommandRunner } from '../../src/worker/command-runner.ts';
import { FileCache } from '../../src/worker/file-cache.ts';
import { startTestServer, type TestServer } from '../support/test-server.ts';
import {
  buildTree,
  type DirSpec,
  file,
  makeCommand,
  uploadAction,
  uploadTree,
} from './input-tree-builder.ts';

const ENV = [{ name: 'PATH', value: '/usr/bin:/bin' }];

const GEN_SCRIPT = `#!/bin/sh
set -e
mkdir -p out/gen/nested
tr a-z A-Z < src/in.txt > out/result.txt
cp src/in.txt out/gen/nested/copy.txt
printf '#!/bin/sh\\n' > out/gen/run
chmod +x out/gen/run
echo "generated with $GREETING"
echo "to stderr" >&2
`;

describe('ActionExecutor', () => {
  let t: TestServer;
  let cas: CasClient;
  let dir: string;
  let buildRoot: string;
  let fileCache: FileCache;
  let executor: ActionExecutor;

  before(async () => {
    t = await startTestServer();
    cas = new CasClient({ address: t.server.address });
    dir = await mkdtemp(join(tmpdir(), 'kiln-executor-'));
    buildRoot = join(dir, 'builds');
    fileCache = await FileCache.open({
      directory: join(dir, 'cache'),
      maxBytes: 1 << 30,
      cas,
    });
    executor = new ActionExecutor({
      cas,
      fileCache,
      buildRoot,
      workerName: 'test-worker-1',
      runner: new CommandRunner({ killGraceMs: 200 }),
    });
  });
  after(async () => {
    cas.close();
    await t.stop();
    await rm(dir, { recursive: true, force: true });
  });

  async function prepare(spec: DirSpec, command: Partial<Command>, timeoutSeconds = 0) {
    const { root } = await uploadTree(cas, spec);
    return uploadAction(
      cas,
      makeCommand({ environmentVariables: ENV, ...command }),
      root,
      timeoutSeconds,
    );
  }

  const digestOfMessage = (m: { hash: string; sizeBytes: number } | undefined): Digest => {
    assert.ok(m, 'digest present');
    return cas.digest(m.hash, m.sizeBytes);
  };
  const blobText = async (m: { hash: string; sizeBytes: number } | undefined) =>
    (await cas.readBlob(digestOfMessage(m))).toString();
  const ms = (ts: Timestamp | undefined) => {
    assert.ok(ts, 'timestamp present');
    return ts.seconds * 1000 + ts.nanos / 1e6;
  };

  it('runs an action end to end and returns outputs that download byte-identically', async () => {
    const input = 'hello from the input root\n';
    const { digest } = await prepare(
      { src: { 'in.txt': file(input) }, tools: { 'gen.sh': file(GEN_SCRIPT, true) } },
      {
        arguments: ['./tools/gen.sh'],
        environmentVariables: [...ENV, { name: 'GREETING', value: 'kiln' }],
        outputPaths: ['out/gen', 'out/result.txt'],
      },
    );
    const { result, status: s } = await executor.execute({
      actionDigest: digest,
      timeoutMs: 30_000,
    });
    assert.equal(s.code, status.OK, s.message);
    assert.equal(result.exitCode, 0);
    assert.equal(await blobText(result.stdoutDigest), 'generated with kiln\n');
    assert.equal(await blobText(result.stderrDigest), 'to stderr\n');

    const [resultFile] = result.outputFiles;
    assert.equal(resultFile?.path, 'out/result.txt');
    const downloaded = join(dir, 'result.txt');
    await cas.downloadToFile(digestOfMessage(resultFile?.digest), downloaded);
    assert.equal(await readFile(downloaded, 'utf8'), input.toUpperCase());

    const [gen] = result.outputDirectories;
    assert.equal(gen?.path, 'out/gen');
    const tree = Tree.decode(await cas.readBlob(digestOfMessage(gen?.treeDigest)));
    assert.deepEqual(
      tree.root?.files.map((f) => [f.name, f.isExecutable]),
      [['run', true]],
    );
    const nested = tree.children.find((c) => c.files.some((f) => f.name === 'copy.txt'));
    assert.equal(await blobText(nested?.files[0]?.digest), input);

    const m = result.executionMetadata;
    assert.equal(m?.worker, 'test-worker-1');
    const order = [
      m?.workerStartTimestamp,
      m?.inputFetchStartTimestamp,
      m?.inputFetchCompletedTimestamp,
      m?.executionStartTimestamp,
      m?.executionCompletedTimestamp,
      m?.outputUploadStartTimestamp,
      m?.outputUploadCompletedTimestamp,
      m?.workerCompletedTimestamp,
    ].map(ms);
    for (let i = 1; i < order.length; i++) {
      assert.ok((order[i] as number) >= (order[i - 1] as number), `stage ${i} in order`);
    }
    assert.deepEqual(await readdir(buildRoot), [], 'the build directory is removed');
  });

  it('keeps output files in the file cache for the actions that read them', async () => {
    const producer = await prepare(
      {},
      { arguments: ['/bin/sh', '-c', 'echo chained > made.txt'], outputPaths: ['made.txt'] },
    );
    const produced = await executor.execute({ actionDigest: producer.digest, timeoutMs: 30_000 });
    assert.equal(produced.status.code, status.OK, produced.status.message);
    const fetches = fileCache.stats.fetches;
    const consumer = await prepare(
      { 'in.txt': file('chained\n') },
      { arguments: ['/bin/cat', 'in.txt'] },
    );
    const consumed = await executor.execute({ actionDigest: consumer.digest, timeoutMs: 30_000 });
    assert.equal(consumed.status.code, status.OK, consumed.status.message);
    assert.equal(await blobText(consumed.result.stdoutDigest), 'chained\n');
    assert.equal(fileCache.stats.fetches, fetches, 'the input came from the cache');
  });

  it('reports a failing command with its exit code and an OK status', async () => {
    const { digest } = await prepare({}, { arguments: ['/bin/sh', '-c', 'echo oops >&2; exit 7'] });
    const { result, status: s } = await executor.execute({ actionDigest: digest, timeoutMs: 0 });
    assert.equal(s.code, status.OK);
    assert.equal(result.exitCode, 7);
    assert.equal(await blobText(result.stderrDigest), 'oops\n');
  });

  it('fails with FAILED_PRECONDITION naming each missing input in a PreconditionFailure', async () => {
    const built = await buildTree({
      'present.txt': file('here'),
      'absent.txt': file('not uploaded'),
    });
    const absent = await digestOf(SHA256, Buffer.from('not uploaded'));
    await cas.uploadBlobs([...built.blobs.values()].filter((b) => b.digest.key !== absent.key));
    const { digest } = await uploadAction(
      cas,
      makeCommand({ arguments: ['/bin/true'], environmentVariables: ENV }),
      built.root,
    );
    const { result, status: s } = await executor.execute({ actionDigest: digest, timeoutMs: 0 });
    assert.equal(s.code, status.FAILED_PRECONDITION);
    assert.equal(s.details.length, 1);
    assert.equal(s.details[0]?.typeUrl, PRECONDITION_FAILURE_TYPE_URL);
    const failure = PreconditionFailure.decode(s.details[0]?.value as Buffer);
    assert.deepEqual(
      failure.violations.map((v) => [v.type, v.subject]),
      [['MISSING', `blobs/${absent.hash}/${absent.size}`]],
    );
    assert.ok(result.executionMetadata?.workerCompletedTimestamp);
    assert.equal(result.executionMetadata?.executionStartTimestamp, undefined);
  });

  it('fails with FAILED_PRECONDITION when the Action itself is missing', async () => {
    const bytes = Buffer.from(Action.encode(Action.create({})).finish());
    const missing = await digestOf(SHA256, Buffer.concat([bytes, Buffer.from('x')]));
    const { status: s } = await executor.execute({ actionDigest: missing, timeoutMs: 0 });
    assert.equal(s.code, status.FAILED_PRECONDITION);
    const failure = PreconditionFailure.decode(s.details[0]?.value as Buffer);
    assert.equal(failure.violations[0]?.subject, `blobs/${missing.hash}/${missing.size}`);
  });

  it('fails with INVALID_ARGUMENT for a malformed Command or Action', async () => {
    const garbage = Buffer.from([0xff, 0xff, 0xff, 0xff]);
    const garbageDigest = await digestOf(SHA256, garbage);
    const { root } = await uploadTree(cas, {});
    const action = Action.create({
      commandDigest: toDigestMessage(garbageDigest),
      inputRootDigest: toDigestMessage(root),
    });
    const actionBytes = Buffer.from(Action.encode(action).finish());
    const actionDigest = await digestOf(SHA256, actionBytes);
    await cas.uploadBlobs([
      { digest: garbageDigest, data: garbage },
      { digest: actionDigest, data: actionBytes },
    ]);
    const bad = await executor.execute({ actionDigest, timeoutMs: 0 });
    assert.equal(bad.status.code, status.INVALID_ARGUMENT, bad.status.message);

    const { digest: noArgs } = await prepare({}, { arguments: [] });
    const empty = await executor.execute({ actionDigest: noArgs, timeoutMs: 0 });
    assert.equal(empty.status.code, status.INVALID_ARGUMENT);

    const noRoot = Action.create({ commandDigest: toDigestMessage(garbageDigest) });
    const missingRoot = await executor.execute({
      actionDigest,
      action: noRoot,
      timeoutMs: 0,
    });
    assert.equal(missingRoot.status.code, status.INVALID_ARGUMENT);
  });

  it('ends a command that overruns with DEADLINE_EXCEEDED and keeps partial outputs', async () => {
    const { digest } = await prepare(
      {},
      {
        arguments: ['/bin/sh', '-c', 'echo started; echo partial > progress.log; sleep 30'],
        outputPaths: ['progress.log'],
      },
    );
    const started = Date.now();
    const { result, status: s } = await executor.execute({ actionDigest: digest, timeoutMs: 500 });
    assert.ok(Date.now() - started < 10_000);
    assert.equal(s.code, status.DEADLINE_EXCEEDED);
    assert.equal(await blobText(result.stdoutDigest), 'started\n');
    assert.equal(await blobText(result.outputFiles[0]?.digest), 'partial\n');
    assert.deepEqual(await readdir(buildRoot), []);
  });

  it("honours the Action's own timeout when it is shorter", async () => {
    const { digest } = await prepare({}, { arguments: ['/bin/sleep', '30'] }, 1);
    const { status: s } = await executor.execute({ actionDigest: digest, timeoutMs: 60_000 });
    assert.equal(s.code, status.DEADLINE_EXCEEDED);
  });

  it('ends as CANCELLED when the signal aborts, killing the command', async () => {
    const { digest } = await prepare({}, { arguments: ['/bin/sleep', '30'] });
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 300);
    const started = Date.now();
    const outcome = await executor.execute({
      actionDigest: digest,
      timeoutMs: 0,
      signal: controller.signal,
    });
    assert.equal(outcome.status.code, status.CANCELLED);
    assert.ok(Date.now() - started < 10_000);
  });

  it('removes the build directory even when the action made parts of it read-only', async () => {
    const { digest } = await prepare(
      {},
      { arguments: ['/bin/sh', '-c', 'mkdir locked && touch locked/f && chmod 555 locked'] },
    );
    const { status: s } = await executor.execute({ actionDigest: digest, timeoutMs: 0 });
    assert.equal(s.code, status.OK);
    assert.deepEqual(await readdir(buildRoot), []);
  });

  it('runs many actions over shared inputs concurrently', async () => {
    const shared = { lib: { 'common.h': file('#define X 1\n') } };
    const actions = await Promise.all(
      Array.from({ length: 6 }, (_, i) =>
        prepare(shared, {
          arguments: ['/bin/sh', '-c', `cat lib/common.h > out${i}.txt`],
          outputPaths: [`out${i}.txt`],
        }),
      ),
    );
    const outcomes: ActionResult[] = (
      await Promise.all(
        actions.map((a) => executor.execute({ actionDigest: a.digest, timeoutMs: 30_000 })),
      )
    ).map((o) => {
      assert.equal(o.status.code, status.OK, o.status.message);
      return o.result;
    });
    for (const r of outcomes)
      assert.equal(await blobText(r.outputFiles[0]?.digest), '#define X 1\n');
  });
});
