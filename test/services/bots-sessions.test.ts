import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { status as Code } from '@grpc/grpc-js';
import {
  BotSession,
  type CreateBotSessionRequest,
} from '../../src/gen/google/devtools/remoteworkers/v1test2/bots.js';
import type { WorkerScheduler } from '../../src/scheduler/scheduler.ts';
import { createBotsCore } from '../../src/services/bots-service.ts';
import { silentLogger } from '../../src/util/logger.ts';
import { scenario } from '../scheduler/scenario.ts';
import { call } from '../support/grpc-clients.ts';
import { startTestServer } from '../support/test-server.ts';

function createRequest(botId: string): CreateBotSessionRequest {
  return { parent: '', botSession: BotSession.fromPartial({ botId }) };
}

describe('bot sessions', { timeout: 10_000 }, () => {
  it('a session whose worker the scheduler dropped is forgotten by a later CreateBotSession', async () => {
    const s = scenario({ workerTimeoutMs: 60_000 });
    const core = createBotsCore({ log: silentLogger(), scheduler: s.scheduler, sessionSweepMs: 0 });
    const silent = await core.createBotSession(createRequest('silent'));
    await core.createBotSession(createRequest('also-silent'));
    assert.equal(core.sessionCount(), 2);

    s.clock.advance(60_001); // The scheduler drops both workers.
    const fresh = await core.createBotSession(createRequest('fresh'));

    assert.equal(core.sessionCount(), 1, 'only the live session is kept');
    await assert.rejects(
      core.updateBotSession(
        { name: silent.name, botSession: silent, updateMask: undefined },
        { signal: new AbortController().signal, deadlineMs: undefined },
      ),
      { code: Code.NOT_FOUND },
    );
    assert.deepEqual(
      (await s.scheduler.listWorkers()).map((w) => w.id),
      [fresh.name],
    );
  });

  it('a fleet reconnecting within the worker timeout has the sessions swept once, not every few seconds', async () => {
    const s = scenario({ workerTimeoutMs: 60_000 });
    // The real scheduler, with its full listings (a sweep's cost: every worker) counted.
    let listings = 0;
    const inner = s.scheduler;
    const counted: WorkerScheduler = {
      registerWorker: (registration) => inner.registerWorker(registration),
      unregisterWorker: (id) => inner.unregisterWorker(id),
      heartbeat: (id) => inner.heartbeat(id),
      takeWork: (id, options) => inner.takeWork(id, options),
      updateLease: (id, lease, progress) => inner.updateLease(id, lease, progress),
      completeLease: (id, lease, completion) => inner.completeLease(id, lease, completion),
      listWorkers: () => {
        listings++;
        return inner.listWorkers();
      },
      findWorker: (id) => inner.findWorker(id),
    };
    const core = createBotsCore({
      log: silentLogger(),
      scheduler: counted,
      workerTimeoutMs: 60_000,
      now: () => s.clock.now(),
    });
    // 2,000 bots over 40 s, as after a restart: one sweep, by the first of them.
    for (let i = 0; i < 2_000; i++) {
      await core.createBotSession(createRequest(`bot-${i}`));
      s.clock.advance(20);
    }
    assert.equal(listings, 1);
    assert.equal(core.sessionCount(), 2_000);
    // A worker timeout later, the next session sweeps again.
    s.clock.advance(20_001);
    await core.createBotSession(createRequest('late'));
    assert.equal(listings, 2);
  });

  it('sessions of live workers are kept', async () => {
    const s = scenario({ workerTimeoutMs: 60_000 });
    const core = createBotsCore({ log: silentLogger(), scheduler: s.scheduler, sessionSweepMs: 0 });
    for (const bot of ['a', 'b', 'c']) await core.createBotSession(createRequest(bot));
    assert.equal(core.sessionCount(), 3);
  });
});

describe('bot session expire_time', () => {
  it("tells bots the server's configured worker timeout", async () => {
    const t = await startTestServer({ scheduler: { workerTimeoutMs: 7_000 } });
    try {
      const before = Date.now();
      const session = await call(t.clients.bots, 'createBotSession', createRequest('timed'));
      const expires = (session.expireTime?.seconds ?? 0) * 1000;
      assert.ok(
        expires >= before + 5_000 && expires <= Date.now() + 8_000,
        `expire_time ${expires - before} ms after the call, expected about 7,000`,
      );
    } finally {
      await t.stop();
    }
  });
});
