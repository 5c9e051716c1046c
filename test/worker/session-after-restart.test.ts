// `kiln worker` across a restart of an in-memory `kiln serve`: it keeps its
// session through the outage, and the restarted server re-opens it on the
// worker's first UpdateBotSession. No NOT_FOUND, no CreateBotSession.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { InterceptingCall, type Interceptor, status } from '@grpc/grpc-js';
import type { InMemoryScheduler } from '../../src/scheduler/in-memory-scheduler.ts';
import { silentLogger } from '../../src/util/logger.ts';
import { detectPlatform } from '../../src/worker/platform-detect.ts';
import { startWorker } from '../../src/worker/start-worker.ts';
import { startTestServer } from '../support/test-server.ts';

/** Every call the worker makes: its method and, once ended, its status code. */
interface Call {
  readonly method: string;
  code: number | undefined;
}

function countingInterceptor(calls: Call[]): Interceptor {
  return (options, next) => {
    const call: Call = { method: options.method_definition.path, code: undefined };
    calls.push(call);
    return new InterceptingCall(next(options), {
      start(metadata, _listener, nextStart) {
        nextStart(metadata, {
          onReceiveStatus(received, nextStatus) {
            call.code = received.code;
            nextStatus(received);
          },
        });
      },
    });
  };
}

/** The ids of the workers `scheduler` holds, once it holds one (within 10 s). */
async function workerIds(scheduler: InMemoryScheduler | undefined): Promise<string[]> {
  assert.ok(scheduler !== undefined);
  for (let i = 0; i < 200; i++) {
    const workers = await scheduler.listWorkers();
    if (workers.length > 0) return workers.map((w) => w.id);
    await sleep(50);
  }
  assert.fail('the worker did not register within 10 s');
}

const bots = (method: string) => `/google.devtools.remoteworkers.v1test2.Bots/${method}`;

test('kiln worker comes back after a restart of kiln serve with one UpdateBotSession, in the same session', {
  timeout: 60_000,
}, async () => {
  const dir = await mkdtemp(join(tmpdir(), 'kiln-restart-'));
  const calls: Call[] = [];
  const first = await startTestServer({ scheduler: {} });
  const address = first.server.address;
  const worker = await startWorker({
    address,
    interceptors: [countingInterceptor(calls)],
    workDir: dir,
    cacheBytes: 16 * 2 ** 20,
    capacity: 1,
    platform: detectPlatform(),
    name: 'restarting',
    log: silentLogger(),
    actionUsers: 'off',
    sandbox: 'off',
  });
  let second: Awaited<ReturnType<typeof startTestServer>> | undefined;
  try {
    const [session] = await workerIds(first.scheduler);
    for (let i = 0; i < 200 && calls.length < 2; i++) await sleep(10);
    assert.deepEqual(
      calls.map((c) => c.method),
      [bots('CreateBotSession'), bots('UpdateBotSession')],
    );

    await first.stop();
    // Its long poll fails with the server; then a few attempts find nobody listening.
    second = await startTestServer({ scheduler: {}, listen: address });
    const after = await workerIds(second.scheduler);

    assert.deepEqual(after, [session], 'the same session, re-opened');
    const since = calls.slice(2);
    assert.equal(
      since.filter((c) => c.method === bots('CreateBotSession')).length,
      0,
      'no new session was created',
    );
    assert.equal(since.filter((c) => c.code === status.NOT_FOUND).length, 0);
    // Every call since the restart failed for want of a server (UNAVAILABLE),
    // except the one that re-opened the session, still polling.
    assert.deepEqual(
      since.filter((c) => c.code !== status.UNAVAILABLE).map((c) => [c.method, c.code]),
      [[bots('UpdateBotSession'), undefined]],
    );
  } finally {
    await worker.stop();
    await second?.stop();
    await first.stop().catch(() => {});
    await rm(dir, { recursive: true, force: true });
  }
});
