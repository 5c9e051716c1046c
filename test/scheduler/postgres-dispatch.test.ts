/**
 * An action submitted while a worker waits in the same process is leased
 * by the submit's own statement: no work notification and no claim stand
 * between the Execute and the worker, so the submit already answers
 * EXECUTING, as the in-memory scheduler does; the other process hears of
 * nothing. A worker that could not take it (no room) leaves it queued for
 * the others. And claims that run at once (a process claims for several
 * waiting workers together, and so do other processes) skip each other's
 * rows and take the next ones, instead of finding nothing and leaving the
 * queue to a later notification. A worker that completes an action while
 * nothing is queued for it waits for the next one without a claim: the
 * completion records its sign of life. Every statement that records the
 * round-robin turns locks them in the same order. Real PostgreSQL
 * (required under CI=true).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Client } from 'pg';
import { PostgresScheduler } from '../../src/scheduler/postgres/postgres-scheduler.ts';
import type { PostgresServer } from '../support/postgres-server.ts';
import { ok, RecordingActionCache, request, testAction } from './scenario.ts';
import { freshSchema, postgresAvailable, sharedPostgres } from './scheduler-kinds.ts';

const available = await postgresAvailable();

describe('PostgreSQL: dispatch to waiting workers', {
  skip: !available,
  timeout: 60_000,
}, () => {
  let pg: PostgresServer;
  const opened: PostgresScheduler[] = [];

  before(async () => {
    pg = await sharedPostgres();
  });
  after(async () => {
    for (const s of opened) await s.close();
    await pg?.stop();
  });

  async function pair(
    poolSize = 1,
    schema = freshSchema(),
  ): Promise<[PostgresScheduler, PostgresScheduler]> {
    const open = async () => {
      const s = await PostgresScheduler.open({
        url: pg.url,
        schema,
        poolSize,
        actionCache: new RecordingActionCache(),
      });
      opened.push(s);
      return s;
    };
    return [await open(), await open()];
  }

  /**
   * Starts a long-poll of `id` and resolves once it waits (its first claim
   * found nothing): the claim is sent before the first statement below is
   * answered (that takes I/O), so with one pooled connection the second is
   * answered after it.
   */
  async function polling(s: PostgresScheduler, id: string) {
    const taking = s.takeWork(id, { waitMs: 15_000 });
    await s.listWorkers();
    await s.listWorkers();
    return { taking };
  }

  it('a worker waiting in the submitting process gets the action from the submit itself', async () => {
    const [a, b] = await pair();
    await a.registerWorker({ id: 'w1', name: 'w1', platform: [], capacity: 1 });
    await b.registerWorker({ id: 'w2', name: 'w2', platform: [], capacity: 1 });
    const onA = (await polling(a, 'w1')).taking;
    const onB = (await polling(b, 'w2')).taking;
    const action = testAction('leased at once');

    const op = await a.submit(request(action));

    assert.equal(op.stage, 'EXECUTING', 'the submit leased it');
    assert.equal(op.worker, 'w1');
    const { leases } = await onA;
    assert.equal(leases.length, 1);
    assert.equal(leases[0]?.actionDigest.key, action.digest.key);
    assert.equal(leases[0]?.attempt, 1);
    assert.deepEqual((await a.listWorkers()).map((w) => [w.id, w.leaseIds.length]).sort(), [
      ['w1', 1],
      ['w2', 0],
    ]);
    // The other process heard of no work: its worker still waits.
    const second = await a.submit(request(testAction('for B')));
    assert.equal(second.stage, 'QUEUED', 'no worker of A waits any more');
    assert.equal((await onB).leases[0]?.actionDigest.key, testAction('for B').digest.key);
  });

  it('a waiting worker without room leaves the action queued', async () => {
    const [a] = await pair();
    await a.registerWorker({ id: 'w1', name: 'w1', platform: [], capacity: 1 });
    const first = await a.submit(request(testAction('running')));
    const [held] = (await a.takeWork('w1')).leases;
    assert.ok(held !== undefined);
    // w1 long-polls for cancellations with its only place taken.
    const waiting = (await polling(a, 'w1')).taking;

    const full = await a.submit(request(testAction('no room')));
    assert.equal(full.stage, 'QUEUED');
    assert.equal(full.worker, undefined);
    assert.equal((await a.getOperation(first.name)).stage, 'EXECUTING');

    // Another worker takes it from the queue; w1's poll never got it.
    await a.registerWorker({ id: 'w2', name: 'w2', platform: [], capacity: 1 });
    const w2 = await a.takeWork('w2');
    assert.equal(w2.leases[0]?.actionDigest.key, testAction('no room').digest.key);
    assert.equal((await a.stats()).queued, 0);
    await a.unregisterWorker('w1');
    assert.deepEqual((await waiting).leases, []);
  });

  it('a claim passes by an action another claim holds and takes the next one', async () => {
    const schema = freshSchema();
    const [a] = await pair(1, schema);
    await a.registerWorker({ id: 'w1', name: 'w1', platform: [], capacity: 1 });
    const first = testAction('held by another claim');
    const second = testAction('next in line');
    await a.submit(request(first));
    await a.submit(request(second));
    // Another process's claim holds the first action's row (until it commits).
    const pgModule = (await import('pg')).default;
    const other = new pgModule.Client({ connectionString: pg.url });
    await other.connect();
    try {
      await other.query('BEGIN');
      const held = await other.query(
        `SELECT id FROM ${schema}.executions WHERE digest_hash = $1 FOR UPDATE`,
        [first.digest.hash],
      );
      assert.equal(held.rowCount, 1);

      const { leases } = await a.takeWork('w1');

      assert.equal(leases[0]?.actionDigest.key, second.digest.key);
    } finally {
      await other.query('ROLLBACK').catch(() => {});
      await other.end();
    }
  });

  it('after a completion, a worker with nothing queued for it waits without a claim of its own', async () => {
    const schema = freshSchema();
    const [a, b] = await pair(1, schema);
    await a.registerWorker({ id: 'w1', name: 'w1', platform: [], capacity: 1 });
    // Counts the statements that change w1's row: each sign of life or claim is one.
    const pgModule = (await import('pg')).default;
    const admin = new pgModule.Client({ connectionString: pg.url });
    await admin.connect();
    try {
      await admin.query(`
        CREATE TABLE ${schema}.worker_updates (n integer NOT NULL);
        CREATE FUNCTION ${schema}.count_update() RETURNS trigger LANGUAGE plpgsql AS $$
          BEGIN INSERT INTO ${schema}.worker_updates VALUES (1); RETURN NEW; END $$;
        CREATE TRIGGER counted AFTER UPDATE ON ${schema}.workers
          FOR EACH ROW EXECUTE FUNCTION ${schema}.count_update();`);
      const updates = async () =>
        (await admin.query(`SELECT count(*)::int AS n FROM ${schema}.worker_updates`)).rows[0]
          ?.n as number;
      // w1 polls (its claim finds the queue empty) and gets an action from the submit.
      const first = (await polling(a, 'w1')).taking;
      await a.submit(request(testAction('first')));
      const [lease] = (await first).leases;
      assert.ok(lease !== undefined);
      const before = await updates();

      // As the Bots service does: the completion, then at once the next long-poll.
      const waitMs = 15_000;
      const completing = a.completeLease('w1', lease.id, ok());
      const next = a.takeWork('w1', { waitMs });
      await completing;
      // A claim of the poll would be sent by now, and answered before these (one connection).
      await a.listWorkers();
      await a.listWorkers();

      // The completion's two statements touched w1's row; no claim did.
      assert.equal((await updates()) - before, 2);
      const row = await admin.query(
        `SELECT expires_ms, last_seen_ms FROM ${schema}.workers WHERE id = 'w1'`,
      );
      const { expires_ms: expires, last_seen_ms: seen } = row.rows[0] as Record<string, string>;
      assert.ok(Number(expires) - Number(seen) >= waitMs, 'present for the whole poll');
      // Work queued elsewhere still reaches the waiting poll.
      const later = testAction('later, from B');
      await b.submit(request(later));
      assert.equal((await next).leases[0]?.actionDigest.key, later.digest.key);
    } finally {
      await admin.end();
    }
  });

  // (Claims record them in key order too; their DISTINCT happens to sort
  // the keys already, so a claim without the ORDER BY would pass as well.)
  it('a lease by the submit locks the round-robin turns in key order, as claims do, so the two never deadlock', async () => {
    const schema = freshSchema();
    const [a] = await pair(1, schema);
    await a.registerWorker({ id: 'w1', name: 'w1', platform: [], capacity: 1 });
    // A first action creates the principal's and the build's turns.
    const first = (await polling(a, 'w1')).taking;
    await a.submit(request(testAction('first')));
    const [lease] = (await first).leases;
    await a.completeLease('w1', lease?.id ?? '', ok());
    const pgModule = (await import('pg')).default;
    const other = new pgModule.Client({ connectionString: pg.url });
    await other.connect();
    try {
      const keys = (
        await other.query<{ key: string }>(`SELECT key FROM ${schema}.fair_turns ORDER BY key`)
      ).rows.map((r) => r.key);
      assert.equal(keys.length, 2);
      // Another transaction holds the first turn in key order…
      await other.query('BEGIN');
      await other.query(`SELECT 1 FROM ${schema}.fair_turns WHERE key = $1 FOR UPDATE`, [keys[0]]);
      // …while the scheduler leases the next action, and waits for it.
      const next = testAction('second');
      const leased = polling(a, 'w1').then(async ({ taking }) => {
        await a.submit(request(next));
        return taking;
      });
      await waitForLockWait(other);
      // The scheduler holds no turn while it waits: the other transaction
      // takes the second at once (in the opposite order, one would wait
      // for the other for ever, until PostgreSQL aborted one of them).
      await other.query(`SELECT 1 FROM ${schema}.fair_turns WHERE key = $1 FOR UPDATE NOWAIT`, [
        keys[1],
      ]);
      await other.query('COMMIT');
      assert.equal((await leased).leases[0]?.actionDigest.key, next.digest.key);
    } finally {
      await other.query('ROLLBACK').catch(() => {});
      await other.end();
    }
  });
});

/** Resolves once a statement of a scheduler waits for a lock. */
async function waitForLockWait(c: Client): Promise<void> {
  const until = Date.now() + 20_000;
  for (;;) {
    const { rowCount } = await c.query(
      `SELECT 1 FROM pg_stat_activity
       WHERE wait_event_type = 'Lock' AND application_name = 'kiln-scheduler'`,
    );
    if ((rowCount ?? 0) > 0) return;
    if (Date.now() > until) throw new Error('no statement of the scheduler waited for a lock');
    await new Promise((r) => setTimeout(r, 10));
  }
}
