/**
 * Bot sessions that outlive the frontend they were created on. A Bots
 * frontend (a `createBotsCore`) that did not create a session continues it
 * from the scheduler's record of its worker: the same bot id, owner and
 * leases. With the in-memory scheduler that is a second frontend over the
 * same scheduler; with PostgreSQL it is another process (another
 * PostgresScheduler on the same database), where a bot goes when its own
 * process dies or a load balancer sends its next call elsewhere.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { status as Code } from '@grpc/grpc-js';
import type { Identity } from '../../src/auth/permissions.ts';
import { packExecuteResponse, unpackAssignment } from '../../src/execution/lease-payload.ts';
import { ActionResult } from '../../src/gen/build/bazel/remote/execution/v2/remote_execution.js';
import {
  type BotSession,
  BotSession as BotSessionMessage,
  Lease as LeaseMessage,
  LeaseState,
  leaseStateToJSON,
} from '../../src/gen/google/devtools/remoteworkers/v1test2/bots.js';
import type { SchedulerPolicy } from '../../src/scheduler/policy.ts';
import { PostgresScheduler } from '../../src/scheduler/postgres/postgres-scheduler.ts';
import type { OperationScheduler, WorkerScheduler } from '../../src/scheduler/scheduler.ts';
import type { OperationState } from '../../src/scheduler/types.ts';
import { type BotsCore, createBotsCore } from '../../src/services/bots-service.ts';
import { silentLogger } from '../../src/util/logger.ts';
import { RecordingActionCache, request, testAction } from './scenario.ts';
import {
  forEachScheduler,
  freshSchema,
  postgresAvailable,
  sharedPostgres,
} from './scheduler-kinds.ts';

/** A frontend over `scheduler` whose polls wait at most 100 ms. */
const frontend = (scheduler: WorkerScheduler): BotsCore =>
  createBotsCore({ log: silentLogger(), scheduler, longPollMs: 100, sessionSweepMs: 0 });

/** The identity of an authenticated `principal`. */
const as = (principal: string): Identity => ({
  principal,
  authenticated: true,
  permissions: new Set(['worker']),
  instances: [''],
});

/**
 * One UpdateBotSession of `session` reporting `leases`. Its deadline leaves
 * no time to wait for work unless `waitMs` asks for some.
 */
function update(
  core: BotsCore,
  session: BotSession,
  leases: LeaseMessage[] = [],
  identity?: Identity,
  waitMs = 0,
): Promise<BotSession> {
  return core.updateBotSession(
    { name: session.name, botSession: { ...session, leases }, updateMask: undefined },
    { signal: new AbortController().signal, deadlineMs: Date.now() + 2000 + waitMs, identity },
  );
}

/** What a bot says about a lease it runs. */
function active(id: string): LeaseMessage {
  return { ...blankLease(id), state: LeaseState.ACTIVE };
}

/** What a bot says about a lease it finished with exit code 0 and `stdout`. */
function completed(id: string, stdout: string): LeaseMessage {
  const status = { code: Code.OK, message: '', details: [] };
  return {
    ...blankLease(id),
    state: LeaseState.COMPLETED,
    status,
    result: packExecuteResponse({
      result: ActionResult.fromPartial({ stdoutRaw: Buffer.from(stdout) }),
      cachedResult: false,
      status,
      serverLogs: {},
      message: '',
    }),
  };
}

/** What a bot says about a cancelled lease it stopped. */
function cancelled(id: string): LeaseMessage {
  return {
    ...blankLease(id),
    state: LeaseState.CANCELLED,
    status: { code: Code.CANCELLED, message: 'stopped', details: [] },
  };
}

function blankLease(id: string): LeaseMessage {
  return LeaseMessage.fromPartial({ id });
}

/** The (id, state) pairs of a reply's leases. */
const states = (reply: BotSession) => reply.leases.map((l) => [l.id, leaseStateToJSON(l.state)]);

/** Follows an operation to its end; resolves with its last state. */
async function follow(s: OperationScheduler, name: string): Promise<OperationState> {
  let last: OperationState | undefined;
  for await (const state of s.watchOperation(name)) last = state;
  return last as OperationState;
}

const createRequest = (botId: string) => ({
  parent: '',
  botSession: BotSessionMessage.fromPartial({ botId }),
});

describe('a bot session continued by a frontend that did not create it', {
  skip: !(await postgresAvailable()),
  timeout: 60_000,
}, () => {
  forEachScheduler((kind, open) => {
    it(`${kind}: continues with the same leases, owner and bot id`, async () => {
      const { scheduler } = await open();
      const [first, second] = [frontend(scheduler), frontend(scheduler)];
      const session = await first.createBotSession(createRequest('bot-1'), {
        identity: as('ci-bots'),
      });
      await scheduler.submit(request(testAction('long')));
      const handed = await update(first, session, [], as('ci-bots'));
      const leaseId = handed.leases[0]?.id as string;
      assert.equal(handed.leases[0]?.state, LeaseState.PENDING);

      // Another principal may not take the session over, nor another bot id.
      await assert.rejects(update(second, session, [active(leaseId)], as('mallory')), {
        code: Code.PERMISSION_DENIED,
      });
      await assert.rejects(
        update(second, { ...session, botId: 'bot-2' }, [active(leaseId)], as('ci-bots')),
        { code: Code.INVALID_ARGUMENT },
      );
      // The owner goes on: the running lease is listed, so the bot keeps running it.
      const reply = await update(second, session, [active(leaseId)], as('ci-bots'));
      assert.deepEqual(states(reply), [[leaseId, 'ACTIVE']]);
      assert.equal(reply.botId, 'bot-1');
      // A session the scheduler never knew is still NOT_FOUND.
      await assert.rejects(update(second, { ...session, name: 'botSessions/unknown' }), {
        code: Code.NOT_FOUND,
      });
    });
  });

  const opened: PostgresScheduler[] = [];

  async function pair(policy: Partial<SchedulerPolicy> = {}) {
    const schema = freshSchema();
    const url = (await sharedPostgres()).url;
    const one = () =>
      PostgresScheduler.open({
        url,
        schema,
        poolSize: 4,
        actionCache: new RecordingActionCache(),
        policy,
        maintenanceIntervalMs: 100,
      });
    const [a, b] = [await one(), await one()];
    opened.push(a, b);
    return { a, b, onA: frontend(a), onB: frontend(b) };
  }

  it('a bot whose process died reports its running action to another; the client there gets the result', async (t) => {
    t.after(async () => {
      for (const s of opened.splice(0)) await s.close();
    });
    const { a, b, onA, onB } = await pair();
    const session = await onA.createBotSession(createRequest('bot-1'));
    const op = await a.submit(request(testAction('outlives its process')));
    const handed = await update(onA, session);
    const leaseId = handed.leases[0]?.id as string;
    const assignment = unpackAssignment(handed.leases[0]?.payload);
    assert.equal(assignment.actionDigest.key, testAction('outlives its process').digest.key);
    // The client waits on B; A dies without a word to the database.
    const waited = follow(b, op.name);
    await a.close();

    // The bot's next calls reach B, which has never seen the session.
    const still = await update(onB, session, [active(leaseId)]);
    assert.deepEqual(states(still), [[leaseId, 'ACTIVE']], 'the lease stays valid');
    const after = await update(onB, session, [completed(leaseId, 'done on B')]);
    assert.deepEqual(states(after), [], 'nothing more to run');

    const done = await waited;
    assert.equal(done.response?.status?.code, Code.OK);
    assert.equal(done.response?.result?.stdoutRaw.toString(), 'done on B');
    assert.equal(done.worker, 'bot-1');
    // One attempt: the action was never queued again.
    const workers = await b.listWorkers();
    assert.deepEqual(
      workers.map((w) => [w.name, w.actionsDone, w.leaseIds.length]),
      [['bot-1', 1, 0]],
    );
  });

  it('a bot that alternates between two live processes runs each action once', async (t) => {
    t.after(async () => {
      for (const s of opened.splice(0)) await s.close();
    });
    const { a, b, onA, onB } = await pair();
    const session = await onA.createBotSession(createRequest('bot-1'));
    const op = await b.submit(request(testAction('round robin')));
    const waitedOnA = follow(a, op.name);
    const handed = await update(onA, session);
    const leaseId = handed.leases[0]?.id as string;

    // B learns the lease from the scheduler: listed as running, not re-sent.
    assert.deepEqual(states(await update(onB, session, [active(leaseId)])), [[leaseId, 'ACTIVE']]);
    // The result goes to A; the client waiting on A gets it.
    await update(onA, session, [completed(leaseId, 'via A')]);
    const done = await waitedOnA;
    assert.equal(done.response?.result?.stdoutRaw.toString(), 'via A');
    // B still remembers the lease, but the scheduler says it is over: B
    // must not offer it again (the bot would run it a second time).
    assert.deepEqual(states(await update(onB, session)), []);
  });

  it('a lease the bot finished through the other process, not yet recorded there, is not offered again', async (t) => {
    t.after(async () => {
      for (const s of opened.splice(0)) await s.close();
    });
    const { a, onA, onB } = await pair();
    const session = await onA.createBotSession(createRequest('bot-1'));
    const op = await a.submit(request(testAction('finished elsewhere')));
    const leaseId = (await update(onA, session)).leases[0]?.id as string;
    assert.deepEqual(states(await update(onA, session, [active(leaseId)])), [[leaseId, 'ACTIVE']]);

    // The bot reported the result to A, which is still storing it (not
    // simulated: its report has simply not reached the scheduler yet), and
    // its next call reaches B without the lease.
    assert.deepEqual(states(await update(onB, session)), [], 'B does not hand it out again');
    await update(onA, session, [completed(leaseId, 'once')]);
    for (let i = 0; i < 100 && !(await a.getOperation(op.name)).done; i++) {
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.equal((await a.getOperation(op.name)).response?.result?.stdoutRaw.toString(), 'once');
  });

  it('a lease cancelled through one process reaches the bot through the other, and its acknowledgement frees the worker', async (t) => {
    t.after(async () => {
      for (const s of opened.splice(0)) await s.close();
    });
    const { a, b, onA, onB } = await pair();
    const session = await onA.createBotSession(createRequest('bot-1'));
    const op = await a.submit(request(testAction('cancelled midway')));
    const leaseId = (await update(onA, session)).leases[0]?.id as string;
    await a.cancelOperation(op.name);

    assert.deepEqual(states(await update(onB, session, [active(leaseId)])), [
      [leaseId, 'CANCELLED'],
    ]);
    await update(onB, session, [cancelled(leaseId)]);
    // The acknowledgement is applied after the reply: wait for it.
    for (let i = 0; i < 100; i++) {
      if ((await b.listWorkers())[0]?.leaseIds.length === 0) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.deepEqual((await b.listWorkers())[0]?.leaseIds, []);
  });

  it('a bot that stays away past the worker timeout loses its session and its action is retried', async (t) => {
    t.after(async () => {
      for (const s of opened.splice(0)) await s.close();
    });
    const { a, b, onA, onB } = await pair({ workerTimeoutMs: 500 });
    const session = await onA.createBotSession(createRequest('gone'));
    const op = await a.submit(request(testAction('retried')));
    const leaseId = (await update(onA, session)).leases[0]?.id as string;
    await a.close();
    const other = await onB.createBotSession(createRequest('other'));
    // B's maintenance drops the silent worker and queues the action again.
    let retried: BotSession | undefined;
    for (let i = 0; i < 50 && (retried?.leases.length ?? 0) === 0; i++) {
      retried = await update(onB, other, [], undefined, 100);
    }
    assert.equal(retried?.leases.length, 1);
    assert.notEqual(retried?.leases[0]?.id, leaseId);
    await assert.rejects(update(onB, session, [active(leaseId)]), { code: Code.NOT_FOUND });
    assert.equal((await b.getOperation(op.name)).stage, 'EXECUTING');
  });
});
