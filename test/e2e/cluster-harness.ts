/**
 * A Kiln cluster on loopback for fault tests: two `kiln serve` processes
 * sharing a PostgreSQL scheduler and an S3 bucket (the emulator; each
 * process keeps a local disk tier in front of it), behind HAProxy, with one
 * `kiln worker` connected through the balancer to each process. The test
 * can kill a process, restart it on its port, restart PostgreSQL, and read
 * the scheduler's tables and the workers' logs.
 */
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Client } from 'pg';
import { freePort } from '../support/free-port.ts';
import { type Balancer, startHaproxy } from '../support/haproxy.ts';
import { type KilnProcess, startKiln, startKilnWorker } from '../support/kiln-process.ts';
import { type PostgresServer, startPostgres } from '../support/postgres-server.ts';
import { type S3Server, startS3Server } from '../support/s3-server.ts';

/** The scheduler's retry bound (`execution.maxRetries`, its default). */
export const MAX_RETRIES = 2;

/** A `kiln worker` with everything it logged. */
export interface ClusterWorker {
  readonly name: string;
  readonly child: ChildProcess;
  /** Its log so far (JSON lines). */
  log(): string;
}

/** A running cluster; {@link close} stops all of it. */
export interface Cluster {
  readonly pg: PostgresServer;
  readonly balancer: Balancer;
  /** The two processes; replaced in place by {@link restartKiln}. */
  readonly kilns: KilnProcess[];
  readonly workers: readonly ClusterWorker[];
  /** kill -9 of process `i`; resolves once it is gone. */
  killKiln(i: number): Promise<void>;
  /** Starts process `i` again on its port and waits until the balancer sends it calls. */
  restartKiln(i: number): Promise<void>;
  /** Runs one query on the scheduler's database (a new connection each time). */
  query<R extends object>(sql: string): Promise<R[]>;
  /**
   * How many leases the scheduler handed out for each action digest since
   * the last call: every lease is one run of the action on a worker (an
   * upper bound: a lease given back unstarted counts too).
   */
  takeLeaseCounts(): Promise<Map<string, number>>;
  /** The unfinished rows of the scheduler's tables and the end of every log, for failure messages. */
  describe(): Promise<string>;
  close(): Promise<void>;
}

function nodeConfig(dir: string, name: string, s3: S3Server, pg: PostgresServer): object {
  const bucket = (prefix: string) => ({
    s3: {
      endpoint: s3.endpoint,
      bucket: s3.bucket,
      prefix,
      accessKeyId: s3.accessKeyId,
      secretAccessKey: s3.secretAccessKey,
      forcePathStyle: true,
    },
  });
  return {
    server: { httpListen: 'off', dataDir: join(dir, name) },
    storage: {
      stores: { local: { disk: { path: 'cas', maxSize: '1GiB' } }, shared: bucket('cas/') },
      cas: { readCaching: { fast: 'local', slow: 'shared' } },
      actionCache: bucket('ac/'),
      assets: bucket('assets/'),
    },
    execution: {
      localWorkers: 0,
      // A lost worker's actions are retried after 3 s rather than a minute.
      workerTimeout: '3s',
      maxRetries: MAX_RETRIES,
      scheduler: { postgres: { url: pg.url, poolSize: 4 } },
    },
  };
}

/**
 * A trigger of the test's own on the scheduler's lease table (created by the
 * processes' schema migration): each lease handed to a worker is recorded
 * with its action digest, in a table of the test outside Kiln's schema.
 */
const LEASE_LOG_SQL = `
CREATE TABLE public.kiln_test_leases (digest text NOT NULL, attempt integer NOT NULL);
CREATE FUNCTION public.kiln_test_log_lease() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO public.kiln_test_leases
    SELECT e.digest_hash, NEW.attempt FROM kiln.executions e WHERE e.id = NEW.execution_id;
  RETURN NEW;
END $$;
CREATE TRIGGER kiln_test_log_lease AFTER INSERT ON kiln.leases
  FOR EACH ROW EXECUTE FUNCTION public.kiln_test_log_lease();
`;

/** Starts `kiln worker` against `address` and waits until it works. */
async function startWorker(address: string, name: string, dir: string): Promise<ClusterWorker> {
  const worker = await startKilnWorker(
    [
      '--scheduler',
      `grpc://${address}`,
      '--concurrency',
      '2',
      // A staged lease is lost with its process too, and must be retried like a running one.
      '--prefetch',
      '1',
      '--name',
      name,
      '--work-dir',
      join(dir, name),
      '--log-format',
      'json',
    ],
    {},
    // Started, then connected: its bot session exists on the process its connection reached.
    (out, log) => out.includes('is working for') && log.includes('"worker connected"'),
  );
  return { name, child: worker.child, log: worker.stderr };
}

/** Starts the cluster in `dir` (PostgreSQL, the bucket, two processes, HAProxy, two workers). */
export async function startCluster(dir: string): Promise<Cluster> {
  const stops: (() => Promise<unknown>)[] = [];
  const close = async () => {
    for (const stop of stops.reverse()) await stop().catch(() => undefined);
  };
  try {
    const pg = await startPostgres();
    stops.push(() => pg.stop());
    const s3 = await startS3Server({ dir: join(dir, 's3') });
    stops.push(() => s3.stop());
    const args: string[][] = [];
    for (const name of ['kiln1', 'kiln2']) {
      const file = join(dir, `${name}.json`);
      await writeFile(file, JSON.stringify(nodeConfig(dir, name, s3, pg)));
      // A fixed port: the restarted process comes back where the balancer looks.
      args.push(['--config', file, '--listen', `127.0.0.1:${await freePort()}`]);
    }
    // Started together: both apply the schema migrations at once.
    const kilns = await Promise.all(args.map((a) => startKiln(a)));
    // A process killed with SIGKILL has already exited (with a signal, no code).
    stops.push(() =>
      Promise.all(kilns.map((k) => (k.child.signalCode === null ? k.stop() : undefined))),
    );
    const balancer = await startHaproxy(
      dir,
      kilns.map((k) => k.address),
    );
    stops.push(() => balancer.stop());
    // Each worker's frontend prefers one process and fails over to the other.
    const workers: ClusterWorker[] = [];
    stops.push(async () => {
      for (const w of workers) {
        if (w.child.exitCode === null && w.child.signalCode === null) {
          w.child.kill('SIGKILL');
          await once(w.child, 'exit');
        }
      }
    });
    for (const [i, name] of ['w1', 'w2'].entries()) {
      workers.push(await startWorker(balancer.workerAddresses[i] as string, name, dir));
    }
    const query = async <R extends object>(sql: string): Promise<R[]> => {
      const pgModule = (await import('pg')).default;
      const client: Client = new pgModule.Client({ connectionString: pg.url });
      await client.connect();
      try {
        return (await client.query(sql)).rows as R[];
      } finally {
        await client.end();
      }
    };
    await query(LEASE_LOG_SQL);
    return {
      pg,
      balancer,
      kilns,
      workers,
      async killKiln(i) {
        const { child } = kilns[i] as KilnProcess;
        const exited = once(child, 'exit');
        child.kill('SIGKILL');
        await exited;
      },
      async restartKiln(i) {
        const downs = balancer.log().split(`kiln/kiln${i + 1} is DOWN`).length;
        kilns[i] = await startKiln(args[i] as string[]);
        const deadline = Date.now() + 20_000;
        while (balancer.log().split(`Server kiln/kiln${i + 1} is UP`).length < downs) {
          if (Date.now() > deadline) throw new Error(`kiln${i + 1} not UP:\n${balancer.log()}`);
          await new Promise((r) => setTimeout(r, 100));
        }
      },
      query,
      async takeLeaseCounts() {
        const rows = await query<{ digest: string; n: string }>(
          `WITH taken AS (DELETE FROM public.kiln_test_leases RETURNING digest)
           SELECT digest, count(*) AS n FROM taken GROUP BY digest`,
        );
        return new Map(rows.map((r) => [r.digest, Number(r.n)]));
      },
      async describe() {
        const tables = await query<{ row: string }>(
          `SELECT 'operation ' || name || ' ' || stage || ' ' || coalesce(worker, '-') AS row
             FROM kiln.operations WHERE stage <> 'COMPLETED'
           UNION ALL SELECT 'execution ' || id || ' ' || state || ' lease ' || coalesce(lease_id, '-')
             || ' on ' || coalesce(worker_name, '-') || ' attempts ' || attempts || ' losses ' || losses
             FROM kiln.executions
           UNION ALL SELECT 'lease ' || id || ' ' || state || ' of ' || worker_id FROM kiln.leases
           UNION ALL SELECT 'worker ' || id || ' ' || name || ' expires ' || expires_ms FROM kiln.workers`,
        ).catch((err: Error) => [{ row: `(database: ${err.message})` }]);
        const tail = (text: string) => text.trimEnd().split('\n').slice(-15).join('\n');
        return [
          ...tables.map((r) => r.row),
          ...kilns.map((k, i) => `--- kiln${i + 1}:\n${tail(k.stderr())}`),
          ...workers.map((w) => `--- ${w.name}:\n${tail(w.log())}`),
        ].join('\n');
      },
      close,
    };
  } catch (err) {
    await close();
    throw err;
  }
}
