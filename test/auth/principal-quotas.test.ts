import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type ClientReadableStream, type ServiceError, status } from '@grpc/grpc-js';
import { createAuthenticator } from '../../src/auth/authenticator.ts';
import type { Permission } from '../../src/auth/permissions.ts';
import { bearerTokenInterceptor } from '../../src/client/bearer-token.ts';
import type { Digest as DigestMessage } from '../../src/gen/build/bazel/remote/execution/v2/remote_execution.js';
import type { Operation } from '../../src/gen/google/longrunning/operations.js';
import { uploadAction } from '../support/actions.ts';
import { connectClients, type KilnClients } from '../support/grpc-clients.ts';
import { startTestServer, type TestServer } from '../support/test-server.ts';

const CI_TOKEN = 'ci-token-0123456789abcdef';
const DEV_TOKEN = 'dev-token-0123456789abcdef';
const BUILDER: Permission[] = ['cas:read', 'cas:write', 'execute'];

/** An Execute call left open (no worker runs it), its first message and its end. */
interface OpenExecute {
  readonly stream: ClientReadableStream<Operation>;
  readonly ended: Promise<ServiceError | undefined>;
}

function execute(clients: KilnClients, actionDigest: DigestMessage): OpenExecute {
  const stream = clients.execution.execute({
    instanceName: '',
    skipCacheLookup: false,
    actionDigest,
    executionPolicy: undefined,
    resultsCachePolicy: undefined,
    digestFunction: 0,
    inlineStdout: false,
    inlineStderr: false,
    inlineOutputFiles: [],
  });
  stream.on('data', () => {});
  const ended = new Promise<ServiceError | undefined>((resolve) => {
    stream.on('error', (err: ServiceError) => resolve(err));
    stream.on('end', () => resolve(undefined));
  });
  return { stream, ended };
}

describe('per-principal quotas and fairness through Execute', () => {
  let t: TestServer;
  let ci: KilnClients;
  let dev: KilnClients;
  const open: OpenExecute[] = [];

  before(async () => {
    t = await startTestServer({
      // No worker is connected: actions stay queued for the length of the test.
      scheduler: {
        unschedulableTimeoutMs: 60_000,
        principalLimits: { principals: { ci: { maxQueued: 2 } } },
      },
      authenticator: createAuthenticator({
        anonymous: [],
        tokens: [
          { principal: 'ci', token: CI_TOKEN, permissions: BUILDER, instances: [''] },
          { principal: 'dev', token: DEV_TOKEN, permissions: BUILDER, instances: [''] },
        ],
      }),
    });
    ci = connectClients(t.server.address, [bearerTokenInterceptor(CI_TOKEN)]);
    dev = connectClients(t.server.address, [bearerTokenInterceptor(DEV_TOKEN)]);
  });
  after(async () => {
    for (const e of open) e.stream.cancel();
    ci.close();
    dev.close();
    await t.stop();
  });

  /** Waits until the scheduler counts `queued` actions for `principal`. */
  async function queuedFor(principal: string, queued: number): Promise<void> {
    const scheduler = t.scheduler;
    assert.ok(scheduler);
    for (let i = 0; i < 200; i++) {
      const stats = await scheduler.stats();
      if (stats.byPrincipal.find((p) => p.principal === principal)?.queued === queued) return;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    assert.fail(
      `${principal} never had ${queued} queued: ${JSON.stringify(await scheduler.stats())}`,
    );
  }

  it("refuses a principal's Execute over its maxQueued with RESOURCE_EXHAUSTED, and only its own", async () => {
    for (const salt of ['ci-1', 'ci-2']) {
      open.push(execute(ci, await uploadAction(ci, { args: ['true'], salt })));
    }
    await queuedFor('ci', 2);

    const refused = execute(ci, await uploadAction(ci, { args: ['true'], salt: 'ci-3' }));
    const err = await refused.ended;
    assert.equal(err?.code, status.RESOURCE_EXHAUSTED);
    assert.match(err?.details ?? '', /principal "ci" already has 2 actions queued/);
    assert.match(err?.details ?? '', /maxQueued 2/);

    // dev has no limit and is not held back by ci's.
    open.push(execute(dev, await uploadAction(dev, { args: ['true'], salt: 'dev-1' })));
    await queuedFor('dev', 1);
  });

  it("shares a worker between the callers' principals, not in arrival order", async () => {
    const scheduler = t.scheduler;
    assert.ok(scheduler);
    // Queued by now, in this order: ci-1, ci-2, dev-1.
    await scheduler.registerWorker({ id: 'w', name: 'w', platform: [], capacity: 1 });
    const first = (await scheduler.takeWork('w')).leases[0];
    assert.ok(first);
    await scheduler.completeLease('w', first.id, {
      status: { code: status.INTERNAL, message: 'not run', details: [] },
    });
    const second = (await scheduler.takeWork('w')).leases[0];
    assert.ok(second);

    const args = [first, second].map((l) => l.command.arguments.join(' '));
    const salts = [first, second].map((l) => Buffer.from(l.action.salt).toString());
    assert.deepEqual(args, ['true', 'true']);
    assert.deepEqual(salts, ['ci-1', 'dev-1']);
  });
});
