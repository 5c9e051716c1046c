/**
 * Nothing lost when PostgreSQL goes away under a PostgreSQL scheduler.
 *
 * A restart in the middle of recording a result: a bot forgets a result as
 * soon as the UpdateBotSession call that reported it is answered, so the
 * answer must not come before the result is recorded. When the database
 * goes away meanwhile, the call fails (UNAVAILABLE) and the bot reports the
 * result again once the database is back. Before, the answer went out while
 * the result was still being stored, the recording then failed, and the
 * action stayed EXECUTING (held by a live bot that no longer ran it) until
 * its lease deadline, hours later for a long timeout.
 *
 * A watcher told of a completion that cannot read it (no connection to be
 * had) reads it again later: the notification does not come twice, and the
 * client's Execute or WaitExecution stream would otherwise wait forever.
 * With a small response it needs no read at all: the notification carries
 * it, and an Execute's watch starts from what its submit wrote.
 *
 * Real PostgreSQL of its own (restarted and locked out, so not the
 * file-shared one), required under CI=true.
 */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { status as Code } from '@grpc/grpc-js';
import pgDriver from 'pg';
import pino from 'pino';
import type { Digest } from '../../src/digest/digest.ts';
import { hasCode } from '../../src/errors.ts';
import { packExecuteResponse } from '../../src/execution/lease-payload.ts';
import type { ActionResult } from '../../src/gen/build/bazel/remote/execution/v2/remote_execution.js';
import {
  type BotSession,
  BotSession as BotSessionMessage,
  type Lease as LeaseMessage,
  LeaseState,
} from '../../src/gen/google/devtools/remoteworkers/v1test2/bots.js';
import { PostgresScheduler } from '../../src/scheduler/postgres/postgres-scheduler.ts';
import type { OperationState } from '../../src/scheduler/types.ts';
import { type BotsCore, createBotsCore } from '../../src/services/bots-service.ts';
import { type PostgresServer, startPostgres } from '../support/postgres-server.ts';
import { ok, RecordingActionCache, request, result, testAction } from './scenario.ts';
import { postgresAvailable } from './scheduler-kinds.ts';

const available = await postgresAvailable();

/** An action cache whose next put waits until the test lets it finish. */
class GatedActionCache extends RecordingActionCache {
  #entered: (() => void) | undefined;
  #gate: Promise<void> | undefined;
  #open: (() => void) | undefined;

  /** Makes the next put wait; resolves once that put has started. */
  holdNextPut(): Promise<void> {
    this.#gate = new Promise((r) => {
      this.#open = r;
    });
    return new Promise((r) => {
      this.#entered = r;
    });
  }

  /** Lets the held put finish. */
  open(): void {
    this.#open?.();
  }

  override async put(instanceName: string, digest: Digest, r: ActionResult): Promise<void> {
    const gate = this.#gate;
    this.#gate = undefined;
    this.#entered?.();
    await gate;
    await super.put(instanceName, digest, r);
  }
}

/** Log lines as parsed JSON, for waiting on one. */
class LogLines extends Writable {
  readonly lines: Record<string, unknown>[] = [];
  #waiting: { match: (l: Record<string, unknown>) => boolean; done: () => void }[] = [];

  override _write(chunk: Buffer, _enc: string, cb: () => void): void {
    for (const text of chunk.toString().split('\n')) {
      if (text === '') continue;
      const line = JSON.parse(text) as Record<string, unknown>;
      this.lines.push(line);
      for (const w of this.#waiting.filter((x) => x.match(line))) w.done();
    }
    cb();
  }

  /** Resolves once a line matches. */
  next(match: (l: Record<string, unknown>) => boolean): Promise<void> {
    if (this.lines.some(match)) return Promise.resolve();
    return new Promise((done) => this.#waiting.push({ match, done }));
  }
}

/** What a bot says about a lease it finished with exit code 0 and `stdout`. */
function completed(id: string, stdout: string): LeaseMessage {
  const status = { code: Code.OK, message: '', details: [] };
  return {
    id,
    payload: undefined,
    state: LeaseState.COMPLETED,
    status,
    result: packExecuteResponse({
      result: result(0, stdout),
      cachedResult: false,
      status,
      serverLogs: {},
      message: '',
    }),
    requirements: undefined,
    expireTime: undefined,
    assignment: '',
    inlineAssignment: undefined,
  };
}

/** One UpdateBotSession reporting `leases`, with no time to wait for work. */
function update(core: BotsCore, session: BotSession, leases: LeaseMessage[]): Promise<BotSession> {
  return core.updateBotSession(
    { name: session.name, botSession: { ...session, leases }, updateMask: undefined },
    { signal: new AbortController().signal, deadlineMs: Date.now() + 2000 },
  );
}

describe('the PostgreSQL scheduler through database outages', {
  skip: !available,
  timeout: 120_000,
}, () => {
  let server: PostgresServer;
  const opened: PostgresScheduler[] = [];

  before(async () => {
    server = await startPostgres();
  });
  after(async () => {
    for (const s of opened) await s.close();
    await server?.stop();
  });

  it('reaches PostgreSQL over its Unix socket when the URL names the socket directory', async () => {
    const url = `postgresql://${new URL(server.url).username}@/postgres?host=${encodeURIComponent(server.socketDir)}&port=${server.port}`;
    const probe = new pgDriver.Client({ connectionString: url });
    await probe.connect();
    try {
      // A Unix-socket session has no client address.
      const { rows } = await probe.query<{ addr: string | null }>(
        'SELECT inet_client_addr() AS addr',
      );
      assert.equal(rows[0]?.addr, null);
    } finally {
      await probe.end();
    }
    const s = await PostgresScheduler.open({
      url,
      schema: 'socket',
      poolSize: 2,
      actionCache: new RecordingActionCache(),
      log: pino({ level: 'silent' }),
    });
    opened.push(s);
    await s.registerWorker({ id: 'w1', name: 'w1', platform: [], capacity: 1 });
    const op = await s.submit(request(testAction('over the socket')));
    const leaseId = (await s.takeWork('w1')).leases[0]?.id as string;
    assert.ok(leaseId, 'the worker got the action');
    await s.completeLease('w1', leaseId, ok(result(0, 'socket')));
    const done = await s.getOperation(op.name);
    assert.equal(done.done, true);
    assert.equal(done.response?.result?.stdoutRaw.toString(), 'socket');
  });

  it('a restart while a result is recorded loses no result: the bot is answered only once it is recorded', async () => {
    const cache = new GatedActionCache();
    const logs = new LogLines();
    const log = pino({ level: 'warn' }, logs);
    const s = await PostgresScheduler.open({
      url: server.url,
      schema: 'restart',
      poolSize: 4,
      actionCache: cache,
      log,
      maintenanceIntervalMs: 100,
    });
    opened.push(s);
    const core = createBotsCore({ log, scheduler: s, longPollMs: 100 });
    const session = await core.createBotSession({
      parent: '',
      botSession: BotSessionMessage.fromPartial({ botId: 'bot-1' }),
    });
    const op = await s.submit(request(testAction('outlives a restart')));
    const leaseId = (await update(core, session, [])).leases[0]?.id as string;
    assert.ok(leaseId, 'the bot got the action');

    // The bot reports the result; the scheduler stores it in the action
    // cache first, and PostgreSQL goes down before the operation completes.
    const storing = cache.holdNextPut();
    const replied = update(core, session, [completed(leaseId, 'done')]).then(
      () => 'answered' as const,
      (err: unknown) => err,
    );
    // The result is being stored (the call's claim for more work waits for
    // the completion, so as to see the place it frees).
    await storing;
    let outcome: unknown;
    await server.restart(async () => {
      cache.open();
      outcome = await replied;
      // Answered early: wait for the recording to meet the database down.
      if (outcome === 'answered') await logs.next((l) => l.lease === leaseId);
    });

    // The bot as src/worker/worker-agent.ts behaves: an answered report is
    // forgotten; a failed call is made again with the same report.
    let report = outcome === 'answered' ? [] : [completed(leaseId, 'done')];
    if (report.length > 0) assert.ok(hasCode(outcome, Code.UNAVAILABLE), String(outcome));
    // A read on a connection the restart cut may still fail once.
    const isDone = () =>
      s.getOperation(op.name).then(
        (o) => o.done,
        () => false,
      );
    for (let round = 0; round < 20 && !(await isDone()); round++) {
      try {
        await update(core, session, report);
        report = [];
      } catch (err) {
        assert.ok(hasCode(err, Code.UNAVAILABLE), String(err));
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    const done = await s.getOperation(op.name);
    assert.equal(done.stage, 'COMPLETED', `the result was lost (call answered: ${outcome})`);
    assert.equal(done.response?.result?.stdoutRaw.toString(), 'done');
    const [worker] = await s.listWorkers();
    assert.deepEqual([worker?.actionsDone, worker?.leaseIds], [1, []]);
  });
  /**
   * Two schedulers on `schema`: A as role kiln, B as role kiln_b, whose
   * connections `lockOutB` refuses and ends (its listening one aside), so
   * that anything B must read fails while what B hears still arrives.
   */
  async function lockablePair(schema: string, logs: LogLines) {
    const admin = new pgDriver.Client({
      // Another database: connections to the scheduler's are about to be refused.
      connectionString: server.url.replace(/\/postgres$/, '/template1'),
    });
    await admin.connect();
    // B connects as its own role, so that its connections can be told apart.
    await admin.query(
      'DO $$ BEGIN CREATE ROLE kiln_b SUPERUSER LOGIN; EXCEPTION WHEN duplicate_object THEN END $$',
    );
    const open = (url: string, log = pino({ level: 'silent' })) =>
      PostgresScheduler.open({
        url,
        schema,
        poolSize: 4,
        actionCache: new RecordingActionCache(),
        log,
        // No maintenance round needs a connection while the test holds them back.
        maintenanceIntervalMs: 600_000,
      });
    const a = await open(server.url);
    const b = await open(server.url.replace('//kiln@', '//kiln_b@'), pino({ level: 'warn' }, logs));
    opened.push(a, b);
    return {
      a,
      b,
      lockOutB: async () => {
        await admin.query('ALTER DATABASE postgres ALLOW_CONNECTIONS false');
        await admin.query(
          `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
           WHERE usename = 'kiln_b' AND query NOT LIKE 'LISTEN%'`,
        );
      },
      allowB: () => admin.query('ALTER DATABASE postgres ALLOW_CONNECTIONS true'),
      end: async () => {
        await admin.query('ALTER DATABASE postgres ALLOW_CONNECTIONS true').catch(() => {});
        await admin.end();
      },
    };
  }

  /** Resolves to 'ended' when `watching` ends within 10 s. */
  const endsSoon = (watching: Promise<void>) =>
    Promise.race([
      watching.then(() => 'ended'),
      new Promise((r) => setTimeout(() => r('still waiting after 10 s'), 10_000).unref()),
    ]);

  it('a watcher whose read of a completed operation fails reads it again', async () => {
    const logs = new LogLines();
    const { a, b, lockOutB, allowB, end } = await lockablePair('reread', logs);
    try {
      await a.registerWorker({ id: 'w1', name: 'w1', platform: [], capacity: 1 });
      const op = await a.submit(request(testAction('watched on B')));
      const leaseId = (await a.takeWork('w1')).leases[0]?.id as string;
      const stages: string[] = [];
      const watching = (async () => {
        for await (const state of b.watchOperation(op.name)) stages.push(state.stage);
      })();
      while (stages.length === 0) await new Promise((r) => setTimeout(r, 5));

      // B's pooled connections are gone and it cannot open one; its
      // listening connection stays, so no reconnection re-reads anything.
      await lockOutB();
      // A completes it on a connection it already has; B hears of it and
      // cannot read it (the response is too large for the notification).
      const failed = logs.next((l) =>
        String(l.msg).startsWith('reading watched operations failed'),
      );
      await a.completeLease('w1', leaseId, ok(result(0, 'x'.repeat(5000))));
      await failed;
      await allowB();

      assert.equal(await endsSoon(watching), 'ended');
      assert.equal(stages.at(-1), 'COMPLETED');
    } finally {
      await end();
    }
  });

  it('an Execute follows its operation to the result without reading it: the submit starts the watch, the completion carries the response', async () => {
    const logs = new LogLines();
    const { a, b, lockOutB, end } = await lockablePair('unread', logs);
    try {
      await b.registerWorker({ id: 'w1', name: 'w1', platform: [], capacity: 1 });
      // Submitted on B, as an Execute call would; from here on B can read nothing.
      const op = await b.submit(request(testAction('followed on B')));
      await lockOutB();
      const states: OperationState[] = [];
      const watching = (async () => {
        for await (const state of b.watchOperation(op.name)) states.push(state);
      })();
      // A worker of A takes the action and completes it.
      const leaseId = (await a.takeWork('w1')).leases[0]?.id as string;
      assert.ok(leaseId, 'A leased the action');
      await a.completeLease('w1', leaseId, ok(result(0, 'done')));

      assert.equal(await endsSoon(watching), 'ended');
      assert.deepEqual(states.at(0), op);
      const last = states.at(-1);
      assert.equal(last?.response?.result?.stdoutRaw.toString(), 'done');
      // The state built from the notification is the one a read gives.
      assert.deepEqual(last, await a.getOperation(op.name));
      // (Its pooled connections that the lock-out ended are logged; nothing else.)
      assert.deepEqual(
        logs.lines.map((l) => l.msg).filter((m) => m !== 'idle PostgreSQL connection failed'),
        [],
        'B read nothing',
      );
    } finally {
      await end();
    }
  });
});
