/**
 * Operations shared by PostgreSQL scheduler processes: ListOperations pages
 * through the operations of every process with page tokens any process
 * accepts, and the caps on done operations are applied to all of them by
 * whichever process is running. Two PostgresScheduler instances on one
 * schema stand for two Kiln processes. Real clock, real PostgreSQL
 * (required under CI=true).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { status as Code } from '@grpc/grpc-js';
import pg from 'pg';
import type { SchedulerPolicy } from '../../src/scheduler/policy.ts';
import { PostgresScheduler } from '../../src/scheduler/postgres/postgres-scheduler.ts';
import type { ListOperationsQuery } from '../../src/scheduler/types.ts';
import type { PostgresServer } from '../support/postgres-server.ts';
import { ok, RecordingActionCache, request, result, testAction } from './scenario.ts';
import { freshSchema, postgresAvailable, sharedPostgres } from './scheduler-kinds.ts';

const available = await postgresAvailable();

describe('operations across PostgreSQL scheduler processes', {
  skip: !available,
  timeout: 60_000,
}, () => {
  let server: PostgresServer;
  const open: PostgresScheduler[] = [];

  before(async () => {
    server = await sharedPostgres();
  });
  after(async () => {
    for (const s of open) await s.close();
    await server?.stop();
  });

  async function instance(schema: string, policy: Partial<SchedulerPolicy> = {}) {
    const s = await PostgresScheduler.open({
      url: server.url,
      schema,
      poolSize: 4,
      actionCache: new RecordingActionCache(),
      policy,
      maintenanceIntervalMs: 100,
    });
    open.push(s);
    return s;
  }

  /** Pages through every operation, asking `via(page number)` for each page. */
  async function pageAll(
    via: (page: number) => PostgresScheduler,
    query: ListOperationsQuery,
    between: (page: number) => Promise<void> = async () => {},
  ): Promise<string[]> {
    const names: string[] = [];
    let token = '';
    for (let page = 0; ; page++) {
      const got = await via(page).listOperations({ ...query, pageToken: token });
      names.push(...got.operations.map((o) => o.name));
      token = got.nextPageToken;
      if (token === '') return names;
      await between(page);
    }
  }

  it('pages alternate between processes: every operation once, in order, new ones included', async () => {
    const schema = freshSchema();
    const [a, b] = [await instance(schema), await instance(schema)];
    const created: string[] = [];
    const submit = async (on: PostgresScheduler, n: string) => {
      created.push((await on.submit(request(testAction(n), { toolInvocationId: 'build' }))).name);
    };
    for (let i = 0; i < 6; i++) await submit(i % 2 === 0 ? a : b, `first-${i}`);

    // Each page from the other process, and two new operations between pages.
    let added = 0;
    const listed = await pageAll(
      (page) => (page % 2 === 0 ? a : b),
      { pageSize: 3 },
      async () => {
        if (added >= 6) return;
        await submit(a, `during-${added++}`);
        await submit(b, `during-${added++}`);
      },
    );

    assert.equal(new Set(listed).size, listed.length, 'no operation twice');
    assert.deepEqual(listed, created, 'every operation, oldest first');
    // Newest first, from B with tokens of A and back.
    const newest = await pageAll((page) => (page % 2 === 0 ? b : a), {
      pageSize: 4,
      newestFirst: true,
    });
    assert.deepEqual(newest, [...created].reverse());
  });

  it('an Execute whose transaction commits after a later one is not skipped by a page token', async () => {
    const schema = freshSchema();
    const [a, b] = [await instance(schema), await instance(schema)];
    const first = await a.submit(request(testAction('before')));

    // A third process's Execute takes its place in the sequence, then is slow to commit.
    const slow = new pg.Client({ connectionString: server.url });
    await slow.connect();
    try {
      await slow.query('BEGIN');
      await slow.query(
        `INSERT INTO ${schema}.operations (name, instance_name, digest_fn, digest_hash,
           digest_size, platform, priority, tool_invocation_id, correlated_invocations_id,
           stage, created_at_ms)
         VALUES ('operations/slow', '', 'sha256', $1, 1, '[]', 0, '', '', 'QUEUED', $2)`,
        ['0'.repeat(64), Date.now()],
      );
      const later = await b.submit(request(testAction('after')));
      const page1 = await a.listOperations({ pageSize: 2 });
      assert.deepEqual(
        page1.operations.map((o) => o.name),
        [first.name, later.name],
      );
      // A page token with nothing after it yet: a client keeps it to look again.
      const token = (await a.listOperations({ pageSize: 1 })).nextPageToken;
      await slow.query('COMMIT');

      const rest = await b.listOperations({ pageSize: 10, pageToken: token });
      assert.deepEqual(
        rest.operations.map((o) => o.name),
        [later.name, 'operations/slow'],
      );
    } finally {
      await slow.end();
    }
  });

  it('applies the caps on done operations once a quarter of a cap has completed since, not after every completion', async () => {
    const schema = freshSchema();
    const s = await instance(schema, { maxCompletedOperations: 8 });
    await s.registerWorker({ id: 'w1', name: 'w1', platform: [], capacity: 1 });
    const run = async (n: string) => {
      await s.submit(request(testAction(n)));
      const lease = (await s.takeWork('w1')).leases[0];
      await s.completeLease('w1', lease?.id ?? '', ok(result(0, n)));
    };
    const settle = () => new Promise((r) => setTimeout(r, 400)); // four maintenance rounds
    for (let i = 0; i < 8; i++) await run(`q${i}`);
    await settle();
    assert.equal((await s.stats()).completedOperations, 8);
    // One more: over the cap, but a quarter of it (2) has not completed since the last application.
    await run('q8');
    await settle();
    assert.equal((await s.stats()).completedOperations, 9, 'applied after every completion');
    // The second since: applied.
    await run('q9');
    for (let i = 0; i < 20 && (await s.stats()).completedOperations > 8; i++) await settle();
    assert.equal((await s.stats()).completedOperations, 8);
  });

  it('the caps on done operations cover every process, applied by whichever is running', async () => {
    const schema = freshSchema();
    const policy = { maxCompletedOperations: 2 };
    const a = await instance(schema, policy);
    const b = await instance(schema, policy);
    await a.registerWorker({ id: 'w1', name: 'w1', platform: [], capacity: 1 });
    const run = async (on: PostgresScheduler, n: string) => {
      const op = await on.submit(request(testAction(n)));
      const lease = (await on.takeWork('w1')).leases[0];
      await on.completeLease('w1', lease?.id ?? '', ok(result(0, n)));
      return op.name;
    };
    const onA = [await run(a, 'a1'), await run(a, 'a2')];
    await a.close();
    const onB = [await run(b, 'b1'), await run(b, 'b2')];

    // B's maintenance forgets A's operations, the oldest done ones.
    const gone = async (name: string) =>
      b.getOperation(name).then(
        () => false,
        (err: { code?: number }) => err.code === Code.NOT_FOUND,
      );
    for (let i = 0; i < 100 && !(await gone(onA[1] as string)); i++) {
      await new Promise((r) => setTimeout(r, 20));
    }
    for (const name of onA) assert.equal(await gone(name), true, `${name} forgotten`);
    for (const name of onB) assert.equal((await b.getOperation(name)).done, true);
    assert.equal((await b.stats()).completedOperations, 2);
  });
});
