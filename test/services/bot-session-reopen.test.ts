// A bot whose session a restarted in-memory scheduler forgot comes back in
// one UpdateBotSession: the server re-opens the session when its name was
// made for that bot and caller. Anything else stays NOT_FOUND.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { status as Code } from '@grpc/grpc-js';
import type { Identity } from '../../src/auth/permissions.ts';
import {
  type BotSession,
  BotSession as BotSessionMessage,
  BotStatus,
  Lease as LeaseMessage,
  LeaseState,
} from '../../src/gen/google/devtools/remoteworkers/v1test2/bots.js';
import { mayReopenSession, newSessionName } from '../../src/services/bot-session-names.ts';
import { CAPACITY_PROPERTY, createBotsCore } from '../../src/services/bots-service.ts';
import { silentLogger } from '../../src/util/logger.ts';
import { request, scenario, testAction } from '../scheduler/scenario.ts';

/** A `kiln serve` process's Bots logic over its own in-memory scheduler. */
function serverProcess() {
  const s = scenario();
  const core = createBotsCore({
    log: silentLogger(),
    scheduler: s.scheduler,
    longPollMs: 100,
    sessionSweepMs: 0,
  });
  return { ...s, core };
}

const as = (principal: string): Identity => ({
  principal,
  authenticated: true,
  permissions: new Set(['worker']),
  instances: [''],
});

/** What `kiln worker` sends: the bot, its platform and capacity. */
function bot(botId: string): BotSession {
  return BotSessionMessage.fromPartial({
    botId,
    status: BotStatus.OK,
    worker: {
      properties: [
        { key: CAPACITY_PROPERTY, value: '2' },
        { key: 'OSFamily', value: 'linux' },
      ],
    },
  });
}

/**
 * One UpdateBotSession of `session`. Its deadline leaves no time to wait for
 * work unless `waitMs` asks for some (on the scenario's fake clock, which
 * the test does not advance: such a poll answers only when told at once).
 */
function update(
  core: ReturnType<typeof serverProcess>['core'],
  session: BotSession,
  identity?: Identity,
  leases: LeaseMessage[] = [],
  waitMs = 0,
): Promise<BotSession> {
  return core.updateBotSession(
    { name: session.name, botSession: { ...session, leases }, updateMask: undefined },
    { signal: new AbortController().signal, deadlineMs: Date.now() + 2000 + waitMs, identity },
  );
}

describe('bot sessions re-opened after a restart', { timeout: 20_000 }, () => {
  it('one UpdateBotSession brings a bot back, with its platform and capacity, and it gets work', async () => {
    const before = serverProcess();
    const session = await before.core.createBotSession(
      { parent: '', botSession: bot('bot-1') },
      { identity: as('fleet-a') },
    );
    await before.scheduler.close();

    const after = serverProcess(); // Restarted: it knows no session.
    const op = await after.scheduler.submit(
      request(testAction('after the restart', { platform: [['OSFamily', 'linux']] })),
    );
    const reply = await update(after.core, session, as('fleet-a'));

    assert.equal(reply.name, session.name);
    assert.equal(reply.botId, 'bot-1');
    assert.equal(reply.leases.length, 1, 'the same call hands out the queued action');
    assert.equal(reply.leases[0]?.state, LeaseState.PENDING);
    const workers = await after.scheduler.listWorkers();
    assert.deepEqual(
      workers.map((w) => [w.id, w.name, w.capacity, w.platform]),
      [[session.name, 'bot-1', 2, [{ name: 'OSFamily', value: 'linux' }]]],
    );
    assert.equal((await after.scheduler.getOperation(op.name)).stage, 'EXECUTING');
    await after.scheduler.close();
  });

  it('another principal cannot take over a forgotten session: NOT_FOUND, and the owner still comes back', async () => {
    const before = serverProcess();
    const session = await before.core.createBotSession(
      { parent: '', botSession: bot('bot-1') },
      { identity: as('fleet-a') },
    );
    await before.scheduler.close();
    const after = serverProcess();

    // Mallory knows the name and the bot id, but is not the principal the name was made for.
    await assert.rejects(update(after.core, session, as('mallory')), { code: Code.NOT_FOUND });
    await assert.rejects(update(after.core, session), { code: Code.NOT_FOUND });
    assert.equal(after.core.sessionCount(), 0);
    assert.deepEqual(await after.scheduler.listWorkers(), []);
    // The owner, with another bot id, is refused too: the name is for bot-1.
    await assert.rejects(update(after.core, { ...session, botId: 'bot-2' }, as('fleet-a')), {
      code: Code.NOT_FOUND,
    });

    await update(after.core, session, as('fleet-a'));
    // Once re-opened, the session is fleet-a's, as before the restart.
    await assert.rejects(update(after.core, session, as('mallory')), {
      code: Code.PERMISSION_DENIED,
    });
    assert.equal((await after.scheduler.findWorker(session.name))?.principal, 'fleet-a');
    await after.scheduler.close();
  });

  it('stays NOT_FOUND for names of another form, a leaving bot and an update without its worker', async () => {
    const before = serverProcess();
    const session = await before.core.createBotSession({ parent: '', botSession: bot('bot-1') });
    await before.scheduler.close();
    const after = serverProcess();

    const unsealed = session.name.slice(0, session.name.lastIndexOf('.'));
    await assert.rejects(update(after.core, { ...session, name: unsealed }), {
      code: Code.NOT_FOUND,
    });
    await assert.rejects(update(after.core, { ...session, status: BotStatus.BOT_TERMINATING }), {
      code: Code.NOT_FOUND,
    });
    await assert.rejects(update(after.core, { ...session, worker: undefined }), {
      code: Code.NOT_FOUND,
    });
    assert.deepEqual(await after.scheduler.listWorkers(), []);
    await after.scheduler.close();
  });

  it('a re-opened bot that reports a running action the server lost is told at once, without it', async () => {
    const before = serverProcess();
    const session = await before.core.createBotSession({ parent: '', botSession: bot('bot-1') });
    await before.scheduler.submit(request(testAction('lost in the restart')));
    const leaseId = (await update(before.core, session)).leases[0]?.id as string;
    await before.scheduler.close();
    const after = serverProcess();

    const running = BotSessionMessage.fromPartial({ ...session }).leases;
    running.push(LeaseMessage.fromPartial({ id: leaseId, state: LeaseState.ACTIVE }));
    // Allowed to wait for work, the poll answers at once (the fake clock never moves).
    const timer = new AbortController();
    const reply = await Promise.race([
      update(after.core, session, undefined, running, 100),
      sleep(3000, 'waited' as const, { signal: timer.signal }),
    ]);
    timer.abort();
    assert.notEqual(reply, 'waited', 'the bot was left running a lost action');
    assert.deepEqual(
      (reply as BotSession).leases,
      [],
      'the lost lease is left out, so the bot stops it',
    );
    await after.scheduler.close();
  });
});

describe('bot session names', () => {
  it('bind the parent, the bot id and the principal', () => {
    const name = newSessionName('team/a', 'bot-1', 'fleet-a');
    assert.match(name, /^team\/a\/botSessions\/[0-9a-f-]{36}\.[\w-]{22}$/);
    assert.equal(mayReopenSession(name, 'bot-1', 'fleet-a'), true);
    assert.equal(mayReopenSession(name, 'bot-1', 'fleet-b'), false);
    assert.equal(mayReopenSession(name, 'bot-1', undefined), false);
    assert.equal(mayReopenSession(name, 'bot-2', 'fleet-a'), false);
    assert.equal(mayReopenSession(name.replace('team/a/', 'team/b/'), 'bot-1', 'fleet-a'), false);
    assert.equal(mayReopenSession(`x${name}`, 'bot-1', 'fleet-a'), false);
    const anonymous = newSessionName('', 'bot-1', undefined);
    assert.match(anonymous, /^botSessions\//);
    assert.equal(mayReopenSession(anonymous, 'bot-1', undefined), true);
    assert.equal(mayReopenSession(anonymous, 'bot-1', ''), false);
  });
});
