/**
 * The PostgreSQL scheduler's schema, as numbered migrations. Every process
 * applies the missing ones at start, one process at a time: they run under a
 * transaction-scoped advisory lock, so processes starting together wait for
 * each other and then find the schema already current.
 */
import type { PoolClient } from 'pg';

/** One schema change; `version` numbers are dense and never reused. */
interface Migration {
  readonly version: number;
  readonly sql: string;
}

/**
 * The migrations in order. Times are clock milliseconds written by Kiln
 * (never the database's `now()`), so every process and the tests' fake clock
 * agree on deadlines.
 */
const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    sql: `
CREATE TABLE workers (
  id text PRIMARY KEY,
  seq bigserial NOT NULL,
  name text NOT NULL,
  platform jsonb NOT NULL,
  offered text[] NOT NULL,
  capacity integer NOT NULL,
  principal text NOT NULL,
  registered_at_ms bigint NOT NULL,
  last_seen_ms bigint NOT NULL,
  expires_ms bigint NOT NULL,
  actions_done bigint NOT NULL DEFAULT 0
);
CREATE INDEX workers_expiry ON workers (expires_ms);

CREATE SEQUENCE queue_order;
CREATE SEQUENCE fair_turn;

CREATE TABLE executions (
  id text PRIMARY KEY,
  dedup_key text UNIQUE,
  state text NOT NULL,
  instance_name text NOT NULL,
  digest_fn text NOT NULL,
  digest_hash text NOT NULL,
  digest_size bigint NOT NULL,
  action bytea NOT NULL,
  command bytea NOT NULL,
  do_not_cache boolean NOT NULL,
  platform jsonb NOT NULL,
  required text[] NOT NULL,
  priority integer NOT NULL,
  principal text NOT NULL,
  client_address text,
  tool_invocation_id text NOT NULL,
  correlated_invocations_id text NOT NULL,
  timeout_ms bigint NOT NULL,
  queued_at_ms bigint NOT NULL,
  queue_order bigint NOT NULL,
  attempts integer NOT NULL DEFAULT 0,
  losses integer NOT NULL DEFAULT 0,
  lease_id text,
  worker_name text,
  unschedulable_at_ms bigint
);
-- The claim walks the queue build by build: (priority, principal, build) groups, each in queue order.
CREATE INDEX executions_queue ON executions (priority, principal, tool_invocation_id, queue_order)
  WHERE state = 'QUEUED';
CREATE INDEX executions_unschedulable ON executions (unschedulable_at_ms)
  WHERE unschedulable_at_ms IS NOT NULL;

CREATE TABLE leases (
  id text PRIMARY KEY,
  worker_id text NOT NULL,
  execution_id text,
  state text NOT NULL,
  attempt integer NOT NULL,
  deadline_ms bigint NOT NULL
);
CREATE INDEX leases_worker ON leases (worker_id);
CREATE INDEX leases_deadline ON leases (deadline_ms) WHERE state <> 'CANCELLED';

CREATE TABLE operations (
  seq bigserial PRIMARY KEY,
  name text NOT NULL UNIQUE,
  execution_id text,
  instance_name text NOT NULL,
  digest_fn text NOT NULL,
  digest_hash text NOT NULL,
  digest_size bigint NOT NULL,
  platform jsonb NOT NULL,
  priority integer NOT NULL,
  tool_invocation_id text NOT NULL,
  correlated_invocations_id text NOT NULL,
  stage text NOT NULL,
  worker text,
  response bytea,
  created_at_ms bigint NOT NULL,
  completed_at_ms bigint,
  -- Bumped by every change; watchers apply a notification only when it is newer than what they have.
  version integer NOT NULL DEFAULT 0
);
CREATE INDEX operations_execution ON operations (execution_id) WHERE execution_id IS NOT NULL;
CREATE INDEX operations_completed ON operations (completed_at_ms) WHERE completed_at_ms IS NOT NULL;

-- Round-robin turns: the claim order prefers the principal, then the build,
-- served longest ago.
CREATE TABLE fair_turns (
  key text PRIMARY KEY,
  served bigint NOT NULL
);
`,
  },
  {
    version: 2,
    sql: `
-- maxExecuting: a claim counts the running actions of each limited principal.
CREATE INDEX executions_executing ON executions (principal) WHERE state = 'EXECUTING';

-- ListOperations pages in list_seq order. A listing numbers the operations
-- committed since the previous one (under a lock, in seq order), so an
-- operation whose Execute committed after a later one's is numbered after
-- it, not behind a page token already handed out.
ALTER TABLE operations ADD COLUMN list_seq bigint;
CREATE SEQUENCE list_order;
CREATE UNIQUE INDEX operations_listed ON operations (list_seq) WHERE list_seq IS NOT NULL;
CREATE INDEX operations_unlisted ON operations (seq) WHERE list_seq IS NULL;
`,
  },
  {
    version: 3,
    sql: `
-- Completing a lease in one round trip (worker-writes.ts, releaseLease):
-- the lease goes and its execution, while the lease still owns it, is
-- locked; then a new statement, whose snapshot sees every operation that
-- joined the execution before the lock, completes them, notifies their
-- watchers and counts the action for the worker. False: no such lease.
CREATE FUNCTION release_lease(p_lease text, p_worker text, p_response bytea,
  p_worker_name text, p_now bigint, p_channel text) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
  v_execution text;
  v_live boolean;
  v_notified bigint;
BEGIN
  WITH l AS (DELETE FROM leases WHERE id = p_lease AND worker_id = p_worker
             RETURNING execution_id, state)
  SELECT l.execution_id, x.id IS NOT NULL INTO v_execution, v_live
  FROM l LEFT JOIN LATERAL (
    SELECT e.id FROM executions e
    WHERE e.id = l.execution_id AND e.lease_id = p_lease AND l.state <> 'CANCELLED'
    FOR UPDATE) x ON true;
  IF NOT FOUND THEN
    RETURN false;
  END IF;
  IF v_live THEN
    WITH e AS (DELETE FROM executions WHERE id = v_execution RETURNING id),
      w AS (UPDATE workers SET actions_done = actions_done + 1 WHERE id = p_worker),
      o AS (UPDATE operations SET stage = 'COMPLETED', execution_id = NULL,
              response = p_response, worker = coalesce(p_worker_name, worker),
              completed_at_ms = p_now, version = version + 1
            FROM e WHERE operations.execution_id = e.id
            RETURNING name, stage, worker, version)
    SELECT count(pg_notify(p_channel, json_build_array(name, stage, worker, version)::text))
      INTO v_notified FROM o;
  END IF;
  RETURN true;
END $$;
`,
  },
  {
    version: 4,
    sql: `
-- The W3C trace context of the span that queued an execution (null when
-- its submitter did not trace): whichever process leases it continues
-- that trace, so the lease and the worker's spans join the submitter's.
ALTER TABLE executions ADD COLUMN traceparent text;
`,
  },
  {
    version: 5,
    sql: `
-- complete_lease: release_lease (kept for processes of an older version
-- during a rolling upgrade), and also the worker's sign of life (present
-- until p_expires at least: the long-poll that follows a completion needs
-- no statement of its own when no work is queued for it), and the
-- worker's cancelled leases. The response rides in the completion
-- notification when it is small, so watchers in every process apply it
-- without reading the operation again. A NOTIFY payload must stay under
-- 8000 bytes: a response of up to 4000 bytes (5336 in base64) fits beside
-- the operation's name and worker; a larger one is left out and read.
-- held false: the worker holds no such lease.
CREATE FUNCTION complete_lease(p_lease text, p_worker text, p_response bytea,
  p_worker_name text, p_now bigint, p_channel text, p_expires bigint,
  OUT held boolean, OUT cancelled text[])
LANGUAGE plpgsql AS $$
DECLARE
  v_execution text;
  v_live boolean;
  v_notified bigint;
  v_inline text;
BEGIN
  WITH l AS (DELETE FROM leases WHERE id = p_lease AND worker_id = p_worker
             RETURNING execution_id, state)
  SELECT l.execution_id, x.id IS NOT NULL INTO v_execution, v_live
  FROM l LEFT JOIN LATERAL (
    SELECT e.id FROM executions e
    WHERE e.id = l.execution_id AND e.lease_id = p_lease AND l.state <> 'CANCELLED'
    FOR UPDATE) x ON true;
  held := FOUND;
  IF NOT held THEN
    RETURN;
  END IF;
  IF v_live THEN
    IF octet_length(p_response) <= 4000 THEN
      v_inline := translate(encode(p_response, 'base64'), chr(10), '');
    END IF;
    WITH e AS (DELETE FROM executions WHERE id = v_execution RETURNING id),
      o AS (UPDATE operations SET stage = 'COMPLETED', execution_id = NULL,
              response = p_response, worker = coalesce(p_worker_name, worker),
              completed_at_ms = p_now, version = version + 1
            FROM e WHERE operations.execution_id = e.id
            RETURNING name, stage, worker, version)
    SELECT count(pg_notify(p_channel,
        json_build_array(name, stage, worker, version, p_now, v_inline)::text))
      INTO v_notified FROM o;
  END IF;
  UPDATE workers SET actions_done = actions_done + CASE WHEN v_live THEN 1 ELSE 0 END,
    last_seen_ms = greatest(last_seen_ms, p_now), expires_ms = greatest(expires_ms, p_expires)
  WHERE id = p_worker;
  SELECT array_agg(id ORDER BY id) INTO cancelled FROM leases
  WHERE worker_id = p_worker AND state = 'CANCELLED';
END $$;
`,
  },
];

/** The newest schema version this build knows. */
export const SCHEMA_VERSION = MIGRATIONS.length;

/** A fixed advisory lock key ("kiln" + 1), the same in every process. */
const MIGRATION_LOCK = 0x6b696c6e01;

/**
 * Brings `schema` up to {@link SCHEMA_VERSION}; returns the versions it
 * applied (empty when another process already had). Refuses a database
 * that a newer Kiln migrated further than this one knows.
 */
export async function migrate(client: PoolClient, schema: string): Promise<number[]> {
  const applied: number[] = [];
  await client.query('BEGIN');
  try {
    await client.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
    await client.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
    await client.query(
      `CREATE TABLE IF NOT EXISTS ${schema}.schema_migrations (
         version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`,
    );
    const { rows } = await client.query<{ v: number | null }>(
      `SELECT max(version) AS v FROM ${schema}.schema_migrations`,
    );
    const current = rows[0]?.v ?? 0;
    if (current > SCHEMA_VERSION) {
      throw new Error(
        `the scheduler schema "${schema}" is at version ${current}, newer than this Kiln knows (${SCHEMA_VERSION}): upgrade Kiln`,
      );
    }
    await client.query(`SET LOCAL search_path TO ${schema}`);
    for (const m of MIGRATIONS) {
      if (m.version <= current) continue;
      await client.query(m.sql);
      await client.query(`INSERT INTO ${schema}.schema_migrations (version) VALUES ($1)`, [
        m.version,
      ]);
      applied.push(m.version);
    }
    await client.query('COMMIT');
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {});
    throw err;
  }
  return applied;
}
