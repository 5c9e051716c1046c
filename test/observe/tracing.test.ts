/**
 * OpenTelemetry tracing end to end: a real Kiln (createServer, from a
 * configuration with `observability.tracing`) and a `kiln worker` in its own
 * process export spans over OTLP/HTTP to a small receiver in the test,
 * which decodes them; the span tree of one remote action is checked, the
 * worker's spans included, linked through the lease payload.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { Metadata } from '@grpc/grpc-js';
import { pino } from 'pino';
import { CasClient } from '../../src/client/cas-client.ts';
import { parseConfigText } from '../../src/config/load-config.ts';
import { parseDigest } from '../../src/digest/digest.ts';
import { executeResponseOf } from '../../src/execution/operation-message.ts';
import {
  type Digest as DigestMessage,
  Directory,
  RequestMetadata,
} from '../../src/gen/build/bazel/remote/execution/v2/remote_execution.js';
import type { Operation } from '../../src/gen/google/longrunning/operations.js';
import { startTracing } from '../../src/observe/tracing.ts';
import { createServer, type KilnServer } from '../../src/server/create-server.ts';
import { silentLogger } from '../../src/util/logger.ts';
import { detectPlatform } from '../../src/worker/platform-detect.ts';
import { startWorker } from '../../src/worker/start-worker.ts';
import { uploadAction } from '../support/actions.ts';
import { sha256Digest } from '../support/blobs.ts';
import { freePort } from '../support/free-port.ts';
import { connectClients, type KilnClients } from '../support/grpc-clients.ts';
import { NODE24, ROOT, startKilnWorker } from '../support/kiln-process.ts';
import {
  type OtlpReceiver,
  type ReceivedSpan,
  startOtlpReceiver,
} from '../support/otlp-receiver.ts';

const INVOCATION = 'traced-build-1';
const EXECUTE = 'build.bazel.remote.execution.v2.Execution/Execute';

function bazelMetadata(traceparent?: string): Metadata {
  const metadata = new Metadata();
  const encoded = RequestMetadata.encode(
    RequestMetadata.fromPartial({
      toolDetails: { toolName: 'bazel', toolVersion: '8.1.0' },
      toolInvocationId: INVOCATION,
      actionId: 'ignored-here',
    }),
  ).finish();
  metadata.set('build.bazel.remote.execution.v2.requestmetadata-bin', Buffer.from(encoded));
  if (traceparent !== undefined) metadata.set('traceparent', traceparent);
  return metadata;
}

/** Runs an Execute; `queued` settles with the stream's first Operation. */
function startExecute(
  clients: KilnClients,
  actionDigest: DigestMessage,
  metadata: Metadata,
): { queued: Promise<void>; done: Promise<Operation[]> } {
  let firstSeen: () => void = () => {};
  const queued = new Promise<void>((resolve) => {
    firstSeen = resolve;
  });
  const done = new Promise<Operation[]>((resolve, reject) => {
    const ops: Operation[] = [];
    const stream = clients.execution.execute(
      {
        instanceName: '',
        skipCacheLookup: true,
        actionDigest,
        executionPolicy: undefined,
        resultsCachePolicy: undefined,
        digestFunction: 0,
        inlineStdout: true,
        inlineStderr: true,
        inlineOutputFiles: [],
      },
      metadata,
    );
    stream.on('data', (op: Operation) => {
      ops.push(op);
      firstSeen();
    });
    stream.on('error', reject);
    stream.on('end', () => resolve(ops));
  });
  return { queued, done };
}

function execute(
  clients: KilnClients,
  actionDigest: DigestMessage,
  metadata: Metadata,
): Promise<Operation[]> {
  return startExecute(clients, actionDigest, metadata).done;
}

async function startKilnWith(dir: string, yaml: string): Promise<KilnServer> {
  const config = parseConfigText(
    `server:\n  listen: 127.0.0.1:0\n  httpListen: "off"\n  dataDir: ${dir}\n${yaml}`,
    'test.yaml',
  );
  return createServer({ config, log: silentLogger() });
}

/** The one span named `name` (of `service`) in `spans`. */
function only(spans: readonly ReceivedSpan[], name: string, service?: string): ReceivedSpan {
  const found = spans.filter(
    (s) => s.name === name && (service === undefined || s.service === service),
  );
  assert.equal(
    found.length,
    1,
    `one ${name} span, got ${found.length}: ${spans.map((s) => s.name).join(', ')}`,
  );
  return found[0] as ReceivedSpan;
}

function assertChild(child: ReceivedSpan, parent: ReceivedSpan): void {
  assert.equal(child.traceId, parent.traceId, `${child.name} in the trace of ${parent.name}`);
  assert.equal(child.parentSpanId, parent.spanId, `${child.name} is a child of ${parent.name}`);
  assert.ok(child.startNs >= parent.startNs, `${child.name} starts within ${parent.name}`);
}

describe('tracing', () => {
  const cleanups: Array<() => Promise<void>> = [];
  after(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  });

  it('exports the span tree of one remote action, the worker process’s spans and CAS calls under the scheduler’s', async () => {
    const receiver: OtlpReceiver = await startOtlpReceiver();
    cleanups.push(() => receiver.close());
    const dir = await mkdtemp(join(tmpdir(), 'kiln-tracing-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const server = await startKilnWith(
      join(dir, 'data'),
      'execution:\n  localWorkers: 0\n' +
        `observability:\n  tracing:\n    endpoint: ${receiver.url}\n    serviceName: kiln-test\n`,
    );
    let serverOpen = true;
    cleanups.push(async () => {
      if (serverOpen) await server.close();
    });
    const { child: worker } = await startKilnWorker([
      ...['--scheduler', `grpc://${server.grpcAddress}`, '--concurrency', '1'],
      ...['--work-dir', join(dir, 'worker'), '--action-users', 'off', '--sandbox', 'off'],
      ...['--trace-endpoint', receiver.url, '--name', 'traced-worker'],
    ]);
    cleanups.push(() => stopProcess(worker));
    const clients = connectClients(server.grpcAddress);
    cleanups.push(async () => clients.close());

    // Small blobs go in batches, large ones (above the 4 MiB batch limit)
    // through ByteStream: the worker's downloads and uploads use both.
    const small = Buffer.from(randomBytes(32).toString('hex'));
    const big = Buffer.from(randomBytes(3 * 2 ** 20).toString('hex'));
    const uploader = new CasClient({ address: server.grpcAddress });
    cleanups.push(async () => uploader.close());
    await uploader.uploadBlobs(
      [small, big].map((data) => ({ digest: parseDigest(sha256Digest(data), 0), data })),
    );
    const actionDigest = await uploadAction(clients, {
      args: ['sh', '-c', 'tr a-f A-F < small > s.out; tr a-f A-F < big > b.out; echo traced'],
      inputRoot: Directory.fromPartial({
        files: [
          { name: 'big', digest: sha256Digest(big) },
          { name: 'small', digest: sha256Digest(small) },
        ],
      }),
      outputPaths: ['b.out', 's.out'],
      salt: randomBytes(8).toString('hex'),
    });
    const ops = await execute(clients, actionDigest, bazelMetadata());
    const response = executeResponseOf(ops.at(-1) as Operation);
    assert.equal(response?.status?.code ?? 0, 0, response?.status?.message);
    assert.equal(response?.result?.stdoutRaw.toString(), 'traced\n');

    // Both processes send what they hold when they stop.
    await stopProcess(worker);
    await server.close();
    serverOpen = false;

    const { spans } = receiver;
    const rpc = only(spans, EXECUTE, 'kiln-test');
    assert.equal(rpc.attributes['kiln.invocation_id'], INVOCATION);
    assert.equal(rpc.attributes['kiln.instance_name'], '');
    const digest = `${actionDigest.hash}/${actionDigest.sizeBytes}`;
    assert.equal(rpc.attributes['kiln.action_digest'], digest);
    assert.equal(rpc.attributes['rpc.grpc.status_code'], 0);
    assert.equal(rpc.parentSpanId, '', 'the client sent no trace context: Execute is the root');

    const trace = spans.filter((s) => s.traceId === rpc.traceId);
    // The worker's CAS calls (client spans) and the server's spans of them.
    const isCasCall = (s: ReceivedSpan) => s.name !== EXECUTE && !s.name.startsWith('kiln.');
    const workerCalls = trace.filter((s) => isCasCall(s) && s.service === 'kiln-worker');
    const serverCalls = trace.filter((s) => isCasCall(s) && s.service === 'kiln-test');
    const action = only(trace, 'kiln.action');
    const queued = only(trace, 'kiln.action.queued');
    const lease = only(trace, 'kiln.action.lease');
    const onWorker = only(trace, 'kiln.worker.action');
    const staging = only(trace, 'kiln.worker.input_staging');
    const execution = only(trace, 'kiln.worker.execution');
    const upload = only(trace, 'kiln.worker.output_upload');
    assert.deepEqual(
      trace
        .filter((s) => !isCasCall(s))
        .map((s) => s.name)
        .sort(),
      [
        EXECUTE,
        'kiln.action',
        'kiln.action.lease',
        'kiln.action.queued',
        'kiln.worker.action',
        'kiln.worker.execution',
        'kiln.worker.input_staging',
        'kiln.worker.output_upload',
      ],
      'nothing else in the trace',
    );
    assertChild(action, rpc);
    assertChild(queued, action);
    assertChild(lease, action);
    assertChild(onWorker, lease);
    for (const stage of [staging, execution, upload]) assertChild(stage, onWorker);
    // Each CAS call the worker made for the action: a client span under its
    // action span, continued by the server's span of the call.
    for (const call of workerCalls) {
      assertChild(call, onWorker);
      // Its CAS calls only: the bot session's polls are not the action's.
      assert.match(
        call.name,
        /^(build\.bazel\.remote\.execution\.v2\.(ContentAddressableStorage|Capabilities)|google\.bytestream\.ByteStream)\//,
      );
    }
    assert.equal(serverCalls.length, workerCalls.length, 'the server continued every call');
    for (const call of serverCalls) {
      const client = workerCalls.find((c) => c.spanId === call.parentSpanId);
      assert.equal(client?.name, call.name, `${call.name} continues the worker's call`);
    }
    const called = new Set(workerCalls.map((s) => s.name));
    for (const method of [
      'ContentAddressableStorage/GetTree',
      'ContentAddressableStorage/BatchReadBlobs',
      'ContentAddressableStorage/BatchUpdateBlobs',
      'google.bytestream.ByteStream/Read',
      'google.bytestream.ByteStream/Write',
    ]) {
      const name = method.startsWith('google.')
        ? method
        : `build.bazel.remote.execution.v2.${method}`;
      assert.ok(called.has(name), `${name} in ${[...called].join(', ')}`);
    }
    assert.ok(queued.endNs <= lease.startNs + 1_000_000n, 'the lease begins as queueing ends');
    assert.ok(staging.endNs <= execution.startNs, 'inputs staged before the command ran');
    assert.ok(execution.endNs <= upload.startNs, 'outputs uploaded after it');
    assert.ok(upload.endNs <= onWorker.endNs);

    // Scheduler spans from the server, worker spans from the worker process.
    for (const s of [rpc, action, queued, lease]) assert.equal(s.service, 'kiln-test', s.name);
    for (const s of [onWorker, staging, execution, upload]) {
      assert.equal(s.service, 'kiln-worker', s.name);
    }
    for (const s of [action, onWorker]) {
      assert.equal(s.attributes['kiln.action_digest'], digest, s.name);
      assert.equal(s.attributes['kiln.invocation_id'], INVOCATION, s.name);
    }
    assert.equal(onWorker.attributes['kiln.worker'], 'traced-worker');
    assert.equal(lease.attributes['kiln.exit_code'], 0);
    assert.equal(onWorker.attributes['kiln.exit_code'], 0);
  });

  it('without an endpoint, loads no OpenTelemetry SDK module; with one, loads them', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kiln-tracing-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    assert.deepEqual(await sdkModulesLoaded(join(dir, 'off'), ''), []);
    // The same probe sees them when tracing is on.
    const receiver = await startOtlpReceiver();
    cleanups.push(() => receiver.close());
    const on = await sdkModulesLoaded(
      join(dir, 'on'),
      `observability: { tracing: { endpoint: "${receiver.url}" } }\n`,
    );
    assert.ok(receiver.spans.some((s) => s.name.endsWith('Capabilities/GetCapabilities')));
    for (const name of [
      '@opentelemetry/sdk-trace-base',
      '@opentelemetry/exporter-trace-otlp-http',
    ]) {
      assert.ok(on.includes(name), `${name} in ${on.join(', ')}`);
    }
  });

  it('traces an action once: an identical Execute joining it gets an event, not spans', async () => {
    const receiver = await startOtlpReceiver();
    cleanups.push(() => receiver.close());
    const dir = await mkdtemp(join(tmpdir(), 'kiln-tracing-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const server = await startKilnWith(
      join(dir, 'data'),
      `execution:\n  localWorkers: 0\nobservability:\n  tracing:\n    endpoint: ${receiver.url}\n`,
    );
    let serverOpen = true;
    cleanups.push(async () => {
      if (serverOpen) await server.close();
    });
    const clients = connectClients(server.grpcAddress);
    cleanups.push(async () => clients.close());
    const digest = await uploadAction(clients, {
      args: ['true'],
      salt: randomBytes(8).toString('hex'),
    });
    // Both queued before any worker exists: the second joins the first.
    const first = startExecute(clients, digest, bazelMetadata());
    await first.queued;
    const second = startExecute(clients, digest, bazelMetadata());
    await second.queued;
    const worker = await startWorker({
      address: server.grpcAddress,
      workDir: join(dir, 'worker'),
      cacheBytes: 16 * 2 ** 20,
      capacity: 1,
      platform: detectPlatform(),
      log: silentLogger(),
      actionUsers: 'off',
      sandbox: 'off',
    });
    await Promise.all([first.done, second.done]);
    await worker.stop();
    await server.close();
    serverOpen = false;

    const executes = receiver.spans.filter((s) => s.name === EXECUTE);
    assert.equal(executes.length, 2);
    const action = only(receiver.spans, 'kiln.action');
    const [queuer, joiner] =
      executes[0]?.spanId === action.parentSpanId ? executes : [...executes].reverse();
    assert.equal(queuer?.spanId, action.parentSpanId, 'the first Execute parents the action');
    assert.deepEqual(joiner?.events, ['joined an execution in flight']);
    assert.deepEqual(queuer?.events, []);
    assert.equal(receiver.spans.filter((s) => s.name === 'kiln.action.lease').length, 1);
  });

  it('logs an unreachable collector once, and still shuts down within its bound', async () => {
    const lines: string[] = [];
    const log = pino({ level: 'info' }, { write: (line: string) => lines.push(line) });
    const port = await freePort();
    const tracing = await startTracing({
      endpoint: `http://127.0.0.1:${port}`,
      serviceName: 'kiln-test',
      sampleRatio: 1,
      exportDelayMs: 10,
      exportTimeoutMs: 300,
      shutdownTimeoutMs: 500,
      log,
    });
    tracing.tracer.startSpan('first', {}, tracing.api.ROOT_CONTEXT).end();
    // The first export fails (after the exporter's own retries); then another one.
    await waitFor(() => lines.length > 0, 20_000);
    tracing.tracer.startSpan('second', {}, tracing.api.ROOT_CONTEXT).end();
    const start = performance.now();
    await tracing.shutdown();
    assert.ok(performance.now() - start < 2000, 'shutdown waited for the collector too long');
    const messages = lines.map((l) => (JSON.parse(l) as { msg: string }).msg);
    assert.deepEqual(messages, [
      'cannot send traces to the OTLP collector; spans are dropped until it answers',
    ]);
  });

  it('continues a client’s sampled trace even when the server samples nothing itself', async () => {
    const receiver = await startOtlpReceiver();
    cleanups.push(() => receiver.close());
    const dir = await mkdtemp(join(tmpdir(), 'kiln-tracing-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const server = await startKilnWith(
      join(dir, 'data'),
      'execution:\n  localWorkers: 1\n  localPrefetch: 0\n  actionUsers: "off"\n  sandbox: "off"\n' +
        `observability:\n  tracing:\n    endpoint: ${receiver.url}\n    sampleRatio: 0\n`,
    );
    let serverOpen = true;
    cleanups.push(async () => {
      if (serverOpen) await server.close();
    });
    const clients = connectClients(server.grpcAddress);
    cleanups.push(async () => clients.close());

    const unsampled = await uploadAction(clients, { args: ['true'], salt: 'unsampled' });
    await execute(clients, unsampled, bazelMetadata());
    const clientTrace = randomBytes(16).toString('hex');
    const clientSpan = randomBytes(8).toString('hex');
    const sampled = await uploadAction(clients, { args: ['true'], salt: 'sampled' });
    await execute(clients, sampled, bazelMetadata(`00-${clientTrace}-${clientSpan}-01`));
    await server.close();
    serverOpen = false;

    const { spans } = receiver;
    assert.ok(spans.length > 0);
    assert.deepEqual(
      [...new Set(spans.map((s) => s.traceId))],
      [clientTrace],
      'only the trace the client sampled is recorded',
    );
    const rpc = only(spans, EXECUTE);
    assert.equal(rpc.parentSpanId, clientSpan);
    assertChild(only(spans, 'kiln.action'), rpc);
    // The in-process worker continues the trace too.
    assertChild(only(spans, 'kiln.worker.action'), only(spans, 'kiln.action.lease'));
    assert.equal(only(spans, 'kiln.worker.action').attributes['kiln.worker'], 'local');
  });
});

/**
 * Starts a Kiln with `tracingYaml` in a fresh Node process, makes one call,
 * and returns the OpenTelemetry SDK packages that process loaded.
 */
async function sdkModulesLoaded(dir: string, tracingYaml: string): Promise<string[]> {
  const yaml =
    `server: { listen: 127.0.0.1:0, httpListen: "off", dataDir: ${JSON.stringify(dir)} }\n` +
    `execution: { localWorkers: 0 }\n${tracingYaml}`;
  const probe = join(ROOT, 'test', 'support', 'tracing-sdk-probe.ts');
  const { stdout } = await promisify(execFile)(NODE24, [probe, yaml], { cwd: ROOT });
  return JSON.parse(stdout) as string[];
}

async function waitFor(condition: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  await once(child, 'exit');
}
