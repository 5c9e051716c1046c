/**
 * The namespace sandbox (for actions with sandbox=namespaces) and resource
 * accounting, through a worker's composed runner: both as root with
 * privilege separation, as `kiln serve` runs them by default.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { status } from '@grpc/grpc-js';
import { CasClient } from '../../src/client/cas-client.ts';
import { findResourceUsage } from '../../src/execution/resource-usage.ts';
import type { Command } from '../../src/gen/build/bazel/remote/execution/v2/remote_execution.js';
import { ActionExecutor } from '../../src/worker/action-executor.ts';
import { resolveActionUsers } from '../../src/worker/action-users.ts';
import { composeRunner } from '../../src/worker/compose-runner.ts';
import { DirectProcessLauncher } from '../../src/worker/direct-process-launcher.mjs';
import { FileCache } from '../../src/worker/file-cache.ts';
import { HelperProcessLauncher } from '../../src/worker/helper-process-launcher.ts';
import { GNU_TIME, hasGnuTime } from '../../src/worker/resource-accounting-runner.ts';
import { findBubblewrap, probeSandbox } from '../../src/worker/sandboxing-runner.ts';
import { startTestServer, type TestServer } from '../support/test-server.ts';
import { file, makeCommand, uploadAction, uploadTree } from './input-tree-builder.ts';

const ENV = [{ name: 'PATH', value: '/usr/bin:/bin' }];
const SANDBOX = { properties: [{ name: 'sandbox', value: 'namespaces' }] };
const isRoot = process.getuid?.() === 0;
const missing = !isRoot
  ? 'needs root'
  : findBubblewrap() === undefined
    ? 'needs bubblewrap (apt-get install bubblewrap)'
    : !hasGnuTime()
      ? 'needs GNU time (apt-get install time)'
      : undefined;

describe('sandbox and resource usage', { skip: !process.env.CI && missing }, () => {
  let t: TestServer;
  let cas: CasClient;
  let dir: string;
  let launcher: HelperProcessLauncher;
  let closeUsers: () => void = () => {};
  let sandboxed: ActionExecutor;
  let plain: ActionExecutor;
  let listener: Server;
  let port = 0;
  const marker = `kiln-sandbox-${process.pid}-${Date.now()}`;

  before(async () => {
    assert.equal(missing, undefined, missing);
    t = await startTestServer();
    cas = new CasClient({ address: t.server.address });
    dir = await mkdtemp(join(tmpdir(), 'kiln-sandbox-'));
    await chmod(dir, 0o711); // as start-worker makes the work directory: passable by action users
    const plan = resolveActionUsers({ kind: 'range', first: 59200, last: 59203, gid: 65534 }, 4);
    assert.ok(plan.enabled);
    closeUsers = () => plan.pool.close();
    const probe = await probeSandbox(plan.pool.users[0]);
    assert.ok('bwrap' in probe, `the sandbox works here: ${'why' in probe ? probe.why : ''}`);
    launcher = new HelperProcessLauncher();
    const fileCache = await FileCache.open({
      directory: join(dir, 'cache'),
      maxBytes: 1 << 30,
      cas,
      privateToWorker: true,
    });
    const common = {
      cas,
      fileCache,
      buildRoot: join(dir, 'build'),
      directoryMode: 0o777,
      workerName: 'sandbox-test',
    };
    sandboxed = new ActionExecutor({
      ...common,
      runner: composeRunner({
        launcher,
        actionUsers: plan.pool,
        bwrap: probe.bwrap,
        time: GNU_TIME,
        killGraceMs: 200,
      }),
    });
    plain = new ActionExecutor({
      ...common,
      runner: composeRunner({ launcher, killGraceMs: 200 }),
    });
    listener = createServer((socket) => {
      socket.on('error', () => {}); // the probing client may reset it
      socket.end('hello\n');
    });
    await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
    port = (listener.address() as { port: number }).port;
  });
  after(async () => {
    listener?.close();
    await launcher?.close();
    closeUsers();
    cas?.close();
    await t?.stop();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
    await rm(join('/tmp', marker), { force: true });
  });

  async function run(executor: ActionExecutor, script: string, fields: Partial<Command> = {}) {
    const { root } = await uploadTree(cas, { 'in.txt': file('input\n') });
    const command = makeCommand({
      arguments: ['sh', '-c', script],
      environmentVariables: ENV,
      ...fields,
    });
    const { digest } = await uploadAction(cas, command, root);
    const outcome = await executor.execute({ actionDigest: digest, timeoutMs: 60_000 });
    const d = outcome.result.stdoutDigest;
    const out =
      d === undefined || d.sizeBytes === 0
        ? ''
        : (await cas.readBlob(cas.digest(d.hash, d.sizeBytes))).toString();
    return { outcome, out };
  }

  const connect = `perl -MIO::Socket::INET -e 'IO::Socket::INET->new(PeerAddr => "127.0.0.1:${0}", Timeout => 2) ? print "connected\\n" : print "refused\\n"'`;

  it('cannot reach a loopback port of the host from the sandbox (and can without it)', async () => {
    const script = connect.replace(':0"', `:${port}"`);
    const inside = await run(sandboxed, script, { platform: SANDBOX });
    assert.equal(inside.outcome.status.code, status.OK, inside.outcome.status.message);
    assert.equal(inside.out.trim(), 'refused');
    const outside = await run(sandboxed, script);
    assert.equal(outside.out.trim(), 'connected');
  });

  it('ends every process the action started when it ends', async () => {
    const tag = `${Date.now() % 100000}.25`;
    const { outcome } = await run(
      sandboxed,
      `sleep 1${tag} > /dev/null 2>&1 & setsid sleep 2${tag} > /dev/null 2>&1 & echo started`,
      { platform: SANDBOX },
    );
    assert.equal(outcome.status.code, status.OK);
    const survivors = readdirSync('/proc')
      .filter((p) => /^\d+$/.test(p))
      .filter((p) => {
        try {
          return readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(tag);
        } catch {
          return false;
        }
      })
      .filter((p) => !readFileSync(`/proc/${p}/stat`, 'utf8').split(') ')[1]?.startsWith('Z'));
    assert.deepEqual(survivors, []);
  });

  it('gives the action a private /tmp and a read-only host file system', async () => {
    writeFileSync(join('/tmp', marker), 'host');
    const { outcome, out } = await run(
      sandboxed,
      `ls /tmp; echo x > /tmp/${marker}-inside && echo tmp-writable; echo x > /var/tmp/${marker} 2>/dev/null || echo var-tmp-read-only; echo out > out.txt`,
      { platform: SANDBOX, outputPaths: ['out.txt'] },
    );
    assert.equal(outcome.status.code, status.OK);
    assert.doesNotMatch(out, new RegExp(marker), 'host /tmp is not visible');
    assert.match(out, /tmp-writable/);
    assert.match(out, /var-tmp-read-only/);
    assert.equal(existsSync(join('/tmp', `${marker}-inside`)), false);
    assert.equal(existsSync(join('/var/tmp', marker)), false);
    assert.equal(outcome.result.outputFiles[0]?.path, 'out.txt', 'outputs are still written');
  });

  it('refuses an action that asks for the sandbox on a worker without one', async () => {
    const { outcome } = await run(plain, 'true', { platform: SANDBOX });
    assert.equal(outcome.status.code, status.FAILED_PRECONDITION);
    assert.match(outcome.status.message, /sandbox/);
  });

  it('reports the CPU time and peak memory of the action in its metadata', async () => {
    const { outcome } = await run(
      sandboxed,
      `perl -e '$x = "a" x (100 * 1024 * 1024); 1 while (times)[0] + (times)[1] < 0.5'`,
    );
    assert.equal(outcome.status.code, status.OK, outcome.status.message);
    assert.equal(outcome.result.exitCode, 0);
    const usage = findResourceUsage(outcome.result.executionMetadata);
    assert.ok(usage, 'the result carries a ResourceUsage');
    const seconds = (d: { seconds: number; nanos: number } | undefined) =>
      d === undefined ? 0 : d.seconds + d.nanos / 1e9;
    const cpu = seconds(usage.userTime) + seconds(usage.systemTime);
    assert.ok(cpu >= 0.45 && cpu < 3, `CPU ${cpu} s`);
    const mib = usage.peakMemoryBytes / 2 ** 20;
    assert.ok(mib >= 95 && mib < 600, `peak memory ${mib} MiB`);
    assert.equal(usage.source, 'rusage');
  });

  it('measures usage in the process forker, starting no GNU time per action (GNU time without it)', async () => {
    const burn = `perl -e '$x = "a" x (64 * 1024 * 1024); 1 while (times)[0] + (times)[1] < 0.3'`;
    const parent = 'cat /proc/$PPID/comm';
    // Through the spawn helper's forker: the command's parent is the perl itself.
    assert.equal(launcher.reportsUsage, true);
    const forked = await run(sandboxed, `${parent}; ${burn}`);
    assert.equal(forked.out.trim(), 'perl');
    const usage = findResourceUsage(forked.outcome.result.executionMetadata);
    assert.ok(usage && usage.peakMemoryBytes >= 64 * 2 ** 20, JSON.stringify(usage));
    // A launcher that measures nothing (Node.js's spawn here) gets GNU time around the command.
    const direct = new DirectProcessLauncher();
    try {
      assert.notEqual(direct.reportsUsage, true);
      const timed = new ActionExecutor({
        cas,
        fileCache: await FileCache.open({
          directory: join(dir, 'cache-timed'),
          maxBytes: 1 << 30,
          cas,
        }),
        buildRoot: join(dir, 'build-timed'),
        directoryMode: 0o755,
        workerName: 'timed-test',
        runner: composeRunner({ launcher: direct, time: GNU_TIME, killGraceMs: 200 }),
      });
      const wrapped = await run(timed, `${parent}; ${burn}`);
      assert.equal(wrapped.out.trim(), 'time');
      const timedUsage = findResourceUsage(wrapped.outcome.result.executionMetadata);
      assert.ok(
        timedUsage && timedUsage.peakMemoryBytes >= 64 * 2 ** 20,
        JSON.stringify(timedUsage),
      );
    } finally {
      await direct.close();
    }
  });

  it('keeps exit codes and signals through the accounting step', async () => {
    const exited = await run(sandboxed, 'exit 3');
    assert.equal(exited.outcome.result.exitCode, 3);
    const killed = await run(sandboxed, 'kill -TERM $$');
    assert.equal(killed.outcome.result.exitCode, 128 + 15);
    const missingProgram = await run(sandboxed, 'exec /no/such/program');
    assert.equal(missingProgram.outcome.result.exitCode, 127);
  });
});
