/**
 * Completing a lease on the PostgreSQL scheduler is one round trip (the
 * `complete_lease` function), yet an operation that joins the execution
 * while the completion waits for the execution's row lock is completed with
 * the others: the function locks first and completes in a later statement,
 * whose snapshot sees the joined operation. The test plays the joining
 * process itself, on its own connection, so the interleaving is exact.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Client } from 'pg';
import { PostgresScheduler } from '../../src/scheduler/postgres/postgres-scheduler.ts';
import type { PostgresServer } from '../support/postgres-server.ts';
import { ok, RecordingActionCache, request, testAction } from './scenario.ts';
import { freshSchema, postgresAvailable, sharedPostgres } from './scheduler-kinds.ts';

const available = await postgresAvailable();

describe('PostgreSQL lease completion', { skip: !available, timeout: 60_000 }, () => {
  let pg: PostgresServer;
  let scheduler: PostgresScheduler | undefined;
  let client: Client | undefined;

  before(async () => {
    pg = await sharedPostgres();
  });
  after(async () => {
    await client?.end();
    await scheduler?.close();
    await pg?.stop();
  });

  it('completes an operation that joined while the completion waited for the lock', async () => {
    const schema = freshSchema();
    const s = await PostgresScheduler.open({
      url: pg.url,
      schema,
      poolSize: 4,
      actionCache: new RecordingActionCache(),
    });
    scheduler = s;
    await s.registerWorker({ id: 'w1', name: 'w1', platform: [], capacity: 1 });
    const first = await s.submit(request(testAction('joined late')));
    const [lease] = (await s.takeWork('w1')).leases;
    assert.ok(lease !== undefined);

    const pgModule = (await import('pg')).default;
    const c = new pgModule.Client({ connectionString: pg.url });
    client = c;
    await c.connect();
    // The joining process: it holds the execution's row lock…
    await c.query('BEGIN');
    const locked = await c.query<{ execution_id: string }>(
      `SELECT e.id AS execution_id FROM ${schema}.executions e
       JOIN ${schema}.operations o ON o.execution_id = e.id WHERE o.name = $1 FOR UPDATE OF e`,
      [first.name],
    );
    assert.equal(locked.rowCount, 1);
    // …while the worker's completion starts and must wait for it.
    const completing = s.completeLease('w1', lease.id, ok());
    await waitForLockWait(c, schema);
    // The joined operation is committed only now, after the completion began.
    await c.query(
      `INSERT INTO ${schema}.operations (name, instance_name, digest_fn, digest_hash,
         digest_size, platform, priority, tool_invocation_id, correlated_invocations_id,
         created_at_ms, stage, execution_id)
       SELECT 'operations/joined', instance_name, digest_fn, digest_hash, digest_size, platform,
         priority, tool_invocation_id, correlated_invocations_id, created_at_ms, 'EXECUTING',
         execution_id
       FROM ${schema}.operations WHERE name = $1`,
      [first.name],
    );
    await c.query('COMMIT');
    await completing;

    for (const name of [first.name, 'operations/joined']) {
      const state = await s.getOperation(name);
      assert.equal(state.done, true, `${name} is done`);
      assert.equal(state.response?.result?.exitCode, 0);
    }
    const left = await c.query(`SELECT count(*)::int AS n FROM ${schema}.executions`);
    assert.equal(left.rows[0]?.n, 0);
  });
});

/** Resolves once a statement of the scheduler's pool waits for a lock (the only wait here). */
async function waitForLockWait(c: Client, schema: string): Promise<void> {
  const until = Date.now() + 20_000;
  for (;;) {
    const { rowCount } = await c.query(
      `SELECT 1 FROM pg_stat_activity
       WHERE wait_event_type = 'Lock' AND application_name = 'kiln-scheduler'`,
    );
    if ((rowCount ?? 0) > 0) return;
    if (Date.now() > until) throw new Error(`no completion waited for the lock in ${schema}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
