// What a waiting UpdateBotSession holds. Every idle worker keeps one such
// call open, so its objects are multiplied by the fleet (20,000 workers) and,
// as they live through the long poll, promoted and later collected by the
// old generation's garbage collector. Counted, not timed: AbortControllers
// per pending call over gRPC.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { queryObjects, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { type ClientUnaryCall, status as Code, Metadata } from '@grpc/grpc-js';
import {
  type BotSession,
  BotSession as BotSessionMessage,
} from '../../src/gen/google/devtools/remoteworkers/v1test2/bots.js';
import { createBotsCore, DEFAULT_LONG_POLL_MS } from '../../src/services/bots-service.ts';
import { silentLogger } from '../../src/util/logger.ts';
import { request, scenario, testAction } from '../scheduler/scenario.ts';
import { call } from '../support/grpc-clients.ts';
import { startTestServer } from '../support/test-server.ts';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const abortControllers = (): number => queryObjects(AbortController, { format: 'count' });

function bot(botId: string): BotSession {
  return BotSessionMessage.fromPartial({
    botId,
    worker: { properties: [{ key: 'OSFamily', value: 'linux' }] },
  });
}

describe('a waiting UpdateBotSession', { timeout: 30_000 }, () => {
  it('holds one AbortController (its poll), none for its gRPC call, and still ends when the client cancels', async () => {
    const t = await startTestServer({ scheduler: { workerTimeoutMs: 600_000 } });
    const polls = 40;
    const pending: ClientUnaryCall[] = [];
    try {
      const sessions: BotSession[] = [];
      for (let i = 0; i < polls; i++) {
        sessions.push(
          await call(t.clients.bots, 'createBotSession', { parent: '', botSession: bot(`b${i}`) }),
        );
      }
      gc();
      const before = abortControllers();
      const ends: (Error | null)[] = [];
      for (const s of sessions) {
        pending.push(
          t.clients.bots.updateBotSession(
            { name: s.name, botSession: s, updateMask: undefined },
            new Metadata(),
            { deadline: Date.now() + 60_000 },
            (err) => ends.push(err),
          ),
        );
      }
      for (let i = 0; i < 500 && abortControllers() - before < polls; i++) await sleep(10);
      // Calls on one connection reach their handlers in order: once this
      // answer is back, every poll above is waiting in the scheduler.
      await call(t.clients.capabilities, 'getCapabilities', { instanceName: '' });
      assert.equal(abortControllers() - before, polls, 'one AbortController per waiting poll');

      // The first bot's call is cancelled, then a later bot polls: the
      // action goes to the later one, so the cancelled poll left the line.
      pending[0]?.cancel();
      for (let i = 0; i < 500 && ends.length === 0; i++) await sleep(10);
      assert.equal((ends[0] as { code?: number } | null)?.code, Code.CANCELLED);
      await call(t.clients.capabilities, 'getCapabilities', { instanceName: '' });
      const later = await call(t.clients.bots, 'createBotSession', {
        parent: '',
        botSession: bot('later'),
      });
      const answered = call(
        t.clients.bots,
        'updateBotSession',
        { name: later.name, botSession: later, updateMask: undefined },
        new Metadata(),
        { deadline: Date.now() + 60_000 },
      );
      // The other 39 polls waited longer than the later bot's: they take
      // the first 39 actions, the 40th is the later bot's.
      for (let i = 0; i < polls; i++) {
        await t.scheduler?.submit(request(testAction(`footprint-${i}`)));
      }
      const reply = await answered;
      assert.equal(
        reply.leases.length,
        1,
        'the later bot got the action the cancelled poll did not',
      );
    } finally {
      for (const c of pending) c.cancel();
      await t.stop();
    }
  });

  it("waits 28 s for work by default, as long as kiln worker's 30 s call deadline allows", async () => {
    // Every idle bot renews its call once per wait: 20,000 bots cost a
    // thousand calls a second at 20 s, 750 at 28 s.
    assert.equal(DEFAULT_LONG_POLL_MS, 28_000);
    const s = scenario({ workerTimeoutMs: 60_000 });
    const core = createBotsCore({ log: silentLogger(), scheduler: s.scheduler });
    const idle = await core.createBotSession({ parent: '', botSession: bot('idle') });
    let answered = false;
    const reply = core
      .updateBotSession(
        { name: idle.name, botSession: idle, updateMask: undefined },
        { signal: new AbortController().signal, deadlineMs: Date.now() + 30_000 },
      )
      .then((r) => {
        answered = true;
        return r;
      });
    // Up to a tenth of a long wait is cut off (polls that started together
    // then end apart): this one ends between 25.2 and 28 s.
    s.clock.advance(25_100);
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(answered, false, 'still waiting after 25.1 s (20 s before)');
    s.clock.advance(2_900);
    assert.deepEqual((await reply).leases, []);
  });
});
