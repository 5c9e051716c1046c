/**
 * Two PostgresScheduler instances on one database stand for two Kiln
 * processes: what one does, the other sees, through the tables and
 * LISTEN/NOTIFY only. Real clock, real PostgreSQL (required under CI=true).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { status as Code } from '@grpc/grpc-js';
import type { KilnError } from '../../src/errors.ts';
import type { SchedulerPolicy } from '../../src/scheduler/policy.ts';
import { SCHEMA_VERSION } from '../../src/scheduler/postgres/migrations.ts';
import { PostgresScheduler } from '../../src/scheduler/postgres/postgres-scheduler.ts';
import { type PostgresServer, startPostgres } from '../support/postgres-server.ts';
import { ok, RecordingActionCache, request, result, testAction } from './scenario.ts';
import { freshSchema, postgresAvailable, sharedPostgres } from './scheduler-kinds.ts';

const available = await postgresAvailable();

describe('PostgreSQL scheduler across processes', { skip: !available, timeout: 60_000 }, () => {
  let pg: PostgresServer;
  const open: PostgresScheduler[] = [];

  before(async () => {
    pg = await sharedPostgres();
  });
  after(async () => {
    for (const s of open) await s.close();
    await pg?.stop();
  });

  /** An instance on `schema`, as one process would open it. */
  async function instance(
    schema: string,
    policy: Partial<SchedulerPolicy> = {},
    maintenanceIntervalMs?: number,
  ): Promise<PostgresScheduler> {
    const s = await PostgresScheduler.open({
      url: pg.url,
      schema,
      poolSize: 4,
      actionCache: new RecordingActionCache(),
      policy,
      maintenanceIntervalMs,
    });
    open.push(s);
    return s;
  }

  async function pair(
    policy: Partial<SchedulerPolicy> = {},
    intervalMs?: number,
  ): Promise<[PostgresScheduler, PostgresScheduler]> {
    const schema = freshSchema();
    return [await instance(schema, policy, intervalMs), await instance(schema, policy, intervalMs)];
  }

  const register = (s: PostgresScheduler, id: string, capacity = 1) =>
    s.registerWorker({ id, name: id, platform: [], capacity });

  it('an operation submitted and completed on A is watched to completion on B', async () => {
    const [a, b] = await pair();
    await register(a, 'w1');
    const op = await a.submit(request(testAction('compile')));
    const stages: string[] = [];
    const watching = (async () => {
      let last: string | undefined;
      for await (const state of b.watchOperation(op.name)) {
        stages.push(state.stage);
        last = state.response?.result?.stdoutRaw.toString();
      }
      return last;
    })();
    // The watcher on B has read its first state before A moves on.
    while (stages.length === 0) await new Promise((r) => setTimeout(r, 5));

    const lease = (await a.takeWork('w1')).leases[0];
    await a.completeLease('w1', lease?.id ?? '', ok(result(0, 'from A')));

    assert.equal(await watching, 'from A');
    assert.deepEqual(stages, ['QUEUED', 'EXECUTING', 'COMPLETED']);
    assert.equal((await b.getOperation(op.name)).response?.status?.code, Code.OK);
  });

  it('identical actions submitted to A and B at once share one execution', async () => {
    const [a, b] = await pair();
    await register(b, 'w1', 8);
    const action = testAction('same everywhere');
    const ops = await Promise.all(
      [a, b, a, b, a, b].map((s, i) => s.submit(request(action, { toolInvocationId: `b${i}` }))),
    );

    const { leases } = await b.takeWork('w1');
    assert.equal(leases.length, 1, 'one execution for six Execute calls');
    await b.completeLease('w1', leases[0]?.id ?? '', ok(result(0, 'shared')));
    for (const op of ops) {
      const done = await a.getOperation(op.name);
      assert.equal(done.response?.result?.stdoutRaw.toString(), 'shared');
    }
  });

  it("a worker long-polling on B is woken by A's submission, not by its poll timeout", async () => {
    const [a, b] = await pair();
    await register(b, 'w1');
    const waitMs = 30_000;
    const polling = b.takeWork('w1', { waitMs });
    // Let the poll reach its wait (its first claim found nothing).
    await new Promise((r) => setTimeout(r, 200));

    const started = performance.now();
    const op = await a.submit(request(testAction('wake up')));
    const { leases } = await polling;
    const latencyMs = performance.now() - started;

    assert.equal(leases.length, 1);
    assert.equal(leases[0]?.actionDigest.key, testAction('wake up').digest.key);
    assert.ok(latencyMs < 1_000, `leased ${latencyMs.toFixed(1)} ms after Execute`);
    assert.equal((await a.getOperation(op.name)).stage, 'EXECUTING');
  });

  it('several processes starting at once on an empty database migrate it once', async () => {
    const schema = freshSchema();
    const starts = await Promise.all([0, 1, 2, 3].map(() => instance(schema)));
    assert.equal(starts.length, 4);
    const pgModule = await import('pg');
    const client = new pgModule.default.Client({ connectionString: pg.url });
    await client.connect();
    try {
      const { rows } = await client.query(
        `SELECT version FROM ${schema}.schema_migrations ORDER BY version`,
      );
      assert.deepEqual(
        rows.map((r) => r.version),
        Array.from({ length: SCHEMA_VERSION }, (_, i) => i + 1),
      );
    } finally {
      await client.end();
    }
    // And every one of them works on the shared tables.
    const [first, , , last] = starts as [PostgresScheduler, ...PostgresScheduler[]];
    const op = await (last as PostgresScheduler).submit(request(testAction('after migration')));
    assert.equal((await first.getOperation(op.name)).stage, 'QUEUED');
  });

  it('a process that restarts finds the queue and the operations where they were', async () => {
    const schema = freshSchema();
    const before = await instance(schema);
    await before.registerWorker({ id: 'w1', name: 'w1', platform: [], capacity: 1 });
    const done = await before.submit(request(testAction('done before the restart')));
    const first = (await before.takeWork('w1')).leases[0];
    await before.completeLease('w1', first?.id ?? '', ok(result(0, 'kept')));
    const queued = await before.submit(request(testAction('queued before the restart')));
    await before.close();

    const after = await instance(schema);
    assert.equal(
      (await after.getOperation(done.name)).response?.result?.stdoutRaw.toString(),
      'kept',
    );
    assert.equal((await after.getOperation(queued.name)).stage, 'QUEUED');
    const { leases } = await after.takeWork('w1');
    assert.equal(leases[0]?.actionDigest.key, testAction('queued before the restart').digest.key);
    await after.completeLease('w1', leases[0]?.id ?? '', ok());
    assert.equal((await after.getOperation(queued.name)).done, true);
  });

  it("a vanished process's worker expires and its action is retried through another process", async () => {
    const schema = freshSchema();
    const policy = { workerTimeoutMs: 500 };
    const a = await instance(schema, policy, 100);
    const b = await instance(schema, policy, 100);
    await register(a, 'on-a');
    const op = await b.submit(request(testAction('survives')));
    const first = (await a.takeWork('on-a')).leases[0];
    assert.equal(first?.attempt, 1);
    // A goes away without unregistering its worker or releasing the lease.
    await a.close();
    await register(b, 'on-b');

    // B's maintenance notices the silent worker and queues the action again.
    const { leases } = await b.takeWork('on-b', { waitMs: 5_000 });
    assert.equal(leases[0]?.attempt, 2);
    assert.deepEqual(
      (await b.listWorkers()).map((w) => w.id),
      ['on-b'],
    );
    await b.completeLease('on-b', leases[0]?.id ?? '', ok());
    assert.equal((await b.getOperation(op.name)).response?.status?.code, Code.OK);
  });

  it('calls fail with UNAVAILABLE while the database is down', async () => {
    const own = await startPostgres();
    const s = await PostgresScheduler.open({
      url: own.url,
      actionCache: new RecordingActionCache(),
    });
    try {
      const op = await s.submit(request(testAction('before the outage')));
      await own.stop();
      await assert.rejects(s.getOperation(op.name), (err: KilnError) => {
        assert.equal(err.code, Code.UNAVAILABLE);
        assert.match(err.message, /scheduler database \(PostgreSQL\) is unreachable/);
        return true;
      });
    } finally {
      await s.close();
      await own.stop();
    }
  });
});
