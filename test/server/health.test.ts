/**
 * gRPC health checking on the Kiln server: the whole server and each
 * registered service answer SERVING, unknown names NOT_FOUND; Watch sends
 * the status now and each change; draining turns it NOT_SERVING; Watch
 * streams are bounded per connection and in total; and health needs no
 * credentials where everything else does.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { status } from '@grpc/grpc-js';
import { createAuthenticator } from '../../src/auth/authenticator.ts';
import { ActionCache } from '../../src/cache/action-cache.ts';
import type { HealthClient } from '../../src/gen/grpc/health/v1/health.js';
import { registerHealthMetrics } from '../../src/observe/health-metrics.ts';
import { KilnMetrics } from '../../src/observe/metrics.ts';
import { InMemoryScheduler } from '../../src/scheduler/in-memory-scheduler.ts';
import {
  type GrpcServerOptions,
  type RunningGrpcServer,
  startGrpcServer,
} from '../../src/server/grpc-server.ts';
import { MemoryBlobStore } from '../../src/storage/memory-blob-store.ts';
import { VerifyingBlobStore } from '../../src/storage/verifying-blob-store.ts';
import { silentLogger } from '../../src/util/logger.ts';
import { parsePrometheusText, sampleValue } from '../observe/prometheus-text.ts';
import { connectClients } from '../support/grpc-clients.ts';
import { check, healthClient, watch } from '../support/health-client.ts';

const REAPI = 'build.bazel.remote.execution.v2';

interface Started {
  readonly server: RunningGrpcServer;
  readonly scheduler: InMemoryScheduler | undefined;
}

async function start(
  options: { execution?: boolean } & Partial<GrpcServerOptions> = {},
): Promise<Started> {
  const cas = new VerifyingBlobStore({ backend: new MemoryBlobStore({ maxBytes: 1 << 20 }) });
  const actionCacheStore = new MemoryBlobStore({ maxBytes: 1 << 20 });
  const actionCache = new ActionCache({ store: actionCacheStore, cas });
  const scheduler = options.execution ? new InMemoryScheduler({ actionCache }) : undefined;
  const server = await startGrpcServer({
    listen: '127.0.0.1:0',
    cas,
    actionCacheStore,
    actionCache,
    scheduler,
    log: silentLogger(),
    ...options,
  });
  return { server, scheduler };
}

describe('health checking', () => {
  let started: Started;
  let client: HealthClient;
  before(async () => {
    started = await start({ execution: true });
    client = healthClient(started.server.address);
  });
  after(async () => {
    client.close();
    await started.scheduler?.close();
    await started.server.close();
  });

  it('answers SERVING for the whole server', async () => {
    assert.deepEqual(await check(client, ''), { status: 'SERVING' });
  });

  it('answers SERVING for every service the server registers', async () => {
    for (const service of [
      `${REAPI}.ContentAddressableStorage`,
      `${REAPI}.ActionCache`,
      `${REAPI}.Capabilities`,
      `${REAPI}.Execution`,
      'google.bytestream.ByteStream',
      'google.longrunning.Operations',
      'google.devtools.remoteworkers.v1test2.Bots',
      'grpc.health.v1.Health',
    ]) {
      assert.deepEqual(await check(client, service), { status: 'SERVING' }, service);
    }
  });

  it('answers NOT_FOUND for a service it does not serve, naming it', async () => {
    const out = await check(client, 'no.such.Service');
    assert.equal(out.error?.code, status.NOT_FOUND);
    assert.match(out.error?.details ?? '', /does not serve "no\.such\.Service"/);
  });

  it('Watch sends SERVING at once, and SERVICE_UNKNOWN for an unknown name', async () => {
    const whole = watch(client, '');
    const unknown = watch(client, 'no.such.Service');
    assert.deepEqual(await whole.next(1), ['SERVING']);
    assert.deepEqual(await unknown.next(1), ['SERVICE_UNKNOWN']);
    whole.call.cancel();
    unknown.call.cancel();
    await Promise.all([whole.ended, unknown.ended]);
  });
});

describe('health of a server without execution', () => {
  it('answers NOT_FOUND for Execution, which it does not register', async () => {
    const { server } = await start();
    const client = healthClient(server.address);
    try {
      assert.deepEqual(await check(client, `${REAPI}.ContentAddressableStorage`), {
        status: 'SERVING',
      });
      const out = await check(client, `${REAPI}.Execution`);
      assert.equal(out.error?.code, status.NOT_FOUND);
    } finally {
      client.close();
      await server.close();
    }
  });
});

describe('health during shutdown', () => {
  it('drain turns Check and every Watch NOT_SERVING while calls are still served', async () => {
    const { server } = await start();
    const client = healthClient(server.address);
    const clients = connectClients(server.address);
    try {
      const whole = watch(client, '');
      const cas = watch(client, `${REAPI}.ContentAddressableStorage`);
      assert.deepEqual(await whole.next(1), ['SERVING']);
      assert.deepEqual(await cas.next(1), ['SERVING']);
      server.drain();
      assert.deepEqual(await whole.next(2), ['SERVING', 'NOT_SERVING']);
      assert.deepEqual(await cas.next(2), ['SERVING', 'NOT_SERVING']);
      assert.deepEqual(await check(client, ''), { status: 'NOT_SERVING' });
      // Draining refuses nothing: the listener is still open and answers.
      const caps = await new Promise<unknown>((resolve, reject) =>
        clients.capabilities.getCapabilities({ instanceName: '' }, (err, res) =>
          err ? reject(err) : resolve(res),
        ),
      );
      assert.ok(caps);
      // Closing ends the Watch streams itself, saying why, after the last status.
      const closing = server.close();
      const ends = await Promise.all([whole.ended, cas.ended]);
      for (const end of ends) {
        assert.equal(end.code, status.UNAVAILABLE);
        assert.match(end.details, /shutting down/);
      }
      assert.deepEqual(whole.received, ['SERVING', 'NOT_SERVING']);
      await closing;
    } finally {
      clients.close();
      client.close();
      await server.close();
    }
  });
});

/** A Watch on `client` that got its first status, retried while refused (for at most 2 s). */
async function watchOnceAdmitted(client: HealthClient): Promise<ReturnType<typeof watch>> {
  for (let attempt = 0; attempt < 100; attempt++) {
    const w = watch(client, '');
    const admitted = await Promise.race([
      w.next(1).then(
        () => true,
        () => false,
      ),
      w.ended.then(() => false),
    ]);
    if (admitted) return w;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error('a Watch stream was never admitted again');
}

describe('health Watch bounds', () => {
  it('refuses Watch streams past the per-connection and total bounds, and frees them', async () => {
    const { server } = await start({ health: { maxWatches: 3, maxWatchesPerConnection: 2 } });
    const metrics = new KilnMetrics({ processMetrics: false });
    registerHealthMetrics(metrics.registry, () => server.healthStats());
    const sample = async (name: string): Promise<number | undefined> =>
      sampleValue(parsePrometheusText(await metrics.text()), name);
    const a = healthClient(server.address);
    const b = healthClient(server.address);
    const c = healthClient(server.address);
    try {
      const a1 = watch(a, '');
      const a2 = watch(a, '');
      await Promise.all([a1.next(1), a2.next(1)]);
      const a3 = watch(a, '');
      const refusedA = await a3.ended;
      assert.equal(refusedA.code, status.RESOURCE_EXHAUSTED);
      assert.match(refusedA.details, /on this connection \(the limit is 2\)/);
      assert.deepEqual(a3.received, []);

      const b1 = watch(b, '');
      await b1.next(1);
      const c1 = watch(c, '');
      const refusedC = await c1.ended;
      assert.equal(refusedC.code, status.RESOURCE_EXHAUSTED);
      assert.match(refusedC.details, /server's limit is 3/);
      assert.equal(await sample('kiln_health_watch_streams'), 3);
      assert.equal(await sample('kiln_health_watch_streams_refused_total'), 2);
      assert.equal(await sample('kiln_health_serving'), 1);
      // Check is never bounded by watches.
      assert.deepEqual(await check(c, ''), { status: 'SERVING' });

      // A cancelled stream frees its place, on its connection and in total.
      a1.call.cancel();
      await a1.ended;
      // The server learns of the cancellation a moment later: until then, refused.
      const c2 = await watchOnceAdmitted(c);
      assert.deepEqual(c2.received, ['SERVING']);
      for (const w of [a2, b1, c2]) w.call.cancel();
      server.drain();
      assert.equal(await sample('kiln_health_serving'), 0);
    } finally {
      for (const client of [a, b, c]) client.close();
      await server.close();
    }
  });
});

describe('health without credentials', () => {
  it('answers Check and Watch to callers without a token; other methods still refuse them', async () => {
    const authenticator = createAuthenticator({
      anonymous: [],
      tokens: [
        {
          principal: 'ci',
          token: 'health-test-token-0123',
          permissions: ['cas:read'],
          instances: [''],
        },
      ],
    });
    const { server } = await start({ authenticator });
    const client = healthClient(server.address);
    const clients = connectClients(server.address);
    try {
      assert.deepEqual(await check(client, ''), { status: 'SERVING' });
      // A wrong token does not matter either: health is not authenticated at all.
      assert.deepEqual(await check(client, '', 'Bearer wrong'), { status: 'SERVING' });
      const watching = watch(client, '');
      assert.deepEqual(await watching.next(1), ['SERVING']);
      watching.call.cancel();
      const refused = await new Promise<{ code?: number }>((resolve) =>
        clients.capabilities.getCapabilities({ instanceName: '' }, (err) =>
          resolve({ code: err?.code }),
        ),
      );
      assert.equal(refused.code, status.UNAUTHENTICATED);
    } finally {
      clients.close();
      client.close();
      await server.close();
    }
  });
});
