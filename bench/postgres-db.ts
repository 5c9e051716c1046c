/**
 * The PostgreSQL the benchmark's PostgreSQL rows run on: a throwaway
 * cluster (as the tests start one), with `pg_stat_statements` loaded when
 * the installed server has it, so a row can say how many statements (each
 * one round trip of a Kiln process) its work cost, and with the CPU time of
 * the server and its backends read from /proc.
 */
import type { Client } from 'pg';
import { type PostgresServer, startPostgres } from '../test/support/postgres-server.ts';
import { treeCpuSeconds } from './measure.ts';

/** A statement, how often it ran and the server's time on it. */
export interface StatementCount {
  readonly query: string;
  readonly calls: number;
  /** Planning plus execution, milliseconds in all. */
  readonly totalMs: number;
  /** Of {@link totalMs}, planning. */
  readonly planMs: number;
}

/** A running benchmark database. */
export interface BenchPostgres {
  readonly url: string;
  readonly server: PostgresServer;
  /** Whether statements are counted (`pg_stat_statements` could be loaded). */
  readonly counting: boolean;
  /** CPU seconds of the postmaster and every backend, live or exited, so far. */
  cpuSeconds(): Promise<number>;
  /** Statements run by others than this bench since the last reset; 0 when not counting. */
  statements(): Promise<number>;
  /** The `limit` most frequent statements since the last reset, most frequent first. */
  topStatements(limit: number): Promise<StatementCount[]>;
  /** Starts counting statements from zero. */
  resetStatements(): Promise<void>;
  stop(): Promise<void>;
}

/** Starts the cluster and loads `pg_stat_statements` (a restart) when it is installed. */
export async function startBenchPostgres(): Promise<BenchPostgres> {
  const server = await startPostgres();
  const pg = (await import('pg')).default;
  const connect = async (): Promise<Client> => {
    const client = new pg.Client({ connectionString: server.url });
    await client.connect();
    return client;
  };
  let client: Client | undefined;
  let counting = false;
  try {
    const setup = await connect();
    try {
      await setup.query("ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'");
    } finally {
      await setup.end();
    }
    await server.restart();
    client = await connect();
    try {
      await client.query('CREATE EXTENSION IF NOT EXISTS pg_stat_statements');
      // Planning time too: a statement planned on every call shows it.
      await client.query('ALTER SYSTEM SET pg_stat_statements.track_planning = on');
      await client.query('SELECT pg_reload_conf()');
      counting = true;
    } catch {
      // Without the extension the rows still run; they say statements were not counted.
    }
  } catch (err) {
    await client?.end().catch(() => {});
    await server.stop();
    throw err;
  }
  const own = client;
  // The bench's own statements all name the view; Kiln's never do.
  const others = "query NOT LIKE '%pg_stat_statements%'";
  // Kiln reaches the cluster over its Unix socket, as a deployment with
  // PostgreSQL on the same machine would (BENCH_PG_TCP=1: over loopback TCP).
  const socketUrl = `postgresql://${new URL(server.url).username}@/postgres?host=${encodeURIComponent(server.socketDir)}&port=${server.port}`;
  return {
    url: process.env.BENCH_PG_TCP === '1' ? server.url : socketUrl,
    server,
    counting,
    cpuSeconds: () => treeCpuSeconds(server.pid),
    async statements() {
      if (!counting) return 0;
      const { rows } = await own.query<{ n: string }>(
        `SELECT coalesce(sum(calls), 0)::bigint AS n FROM pg_stat_statements WHERE ${others}`,
      );
      return Number(rows[0]?.n ?? 0);
    },
    async topStatements(limit) {
      if (!counting) return [];
      const { rows } = await own.query<{ query: string; calls: string; ms: number; plan: number }>(
        `SELECT query, sum(calls)::bigint AS calls,
           sum(total_plan_time + total_exec_time)::float8 AS ms, sum(total_plan_time)::float8 AS plan
         FROM pg_stat_statements WHERE ${others} GROUP BY query ORDER BY 2 DESC LIMIT $1`,
        [limit],
      );
      return rows.map((r) => ({
        query: r.query,
        calls: Number(r.calls),
        totalMs: r.ms,
        planMs: r.plan,
      }));
    },
    async resetStatements() {
      if (counting) await own.query('SELECT pg_stat_statements_reset()');
    },
    async stop() {
      await own.end().catch(() => {});
      await server.stop();
    },
  };
}

/** A statement shortened for a table note: its first words, whitespace folded. */
export function shortStatement(query: string, length = 60): string {
  const text = query.replace(/\s+/g, ' ').trim();
  return text.length <= length ? text : `${text.slice(0, length - 1)}…`;
}
