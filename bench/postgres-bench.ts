/**
 * The PostgreSQL rows (`--only postgres`): two `kiln serve` processes
 * sharing a PostgreSQL scheduler on this machine, each with simulated
 * workers (fleet-sim.ts) long-polling it, which complete every lease at
 * once. Measures no-op actions per second with Executes spread over both
 * processes, Execute→lease latency (one at a time, and under that load),
 * PostgreSQL statements per action (`pg_stat_statements`, every statement
 * one round trip of a Kiln process) with the CPU of both processes and of
 * PostgreSQL per action, and the time from a process's start to serving
 * after a kill -9 of the other.
 *
 * Each process keeps its own disk CAS and every action is uploaded to both:
 * shared storage (s3, grpc) is another bench's subject; here the scheduler is.
 * Runs on its own with `node bench/postgres-bench.ts [--runs N]`, or as a
 * group of `npm run bench` (`postgresRows`).
 */
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import type { Digest as DigestMessage } from '../src/gen/build/bazel/remote/execution/v2/remote_execution.js';
import { call, connectClients, type KilnClients } from '../test/support/grpc-clients.ts';
import { benchInterceptors } from './bench-token.ts';
import { execute, NoopActions } from './exec-bench.ts';
import { checkSuccess } from './fleet-burst.ts';
import { Fleet } from './fleet-processes.ts';
import { percentile } from './fleet-stats.ts';
import { epochMs, median, type Sample, sleep, timed } from './measure.ts';
import {
  type BenchPostgres,
  type StatementCount,
  shortStatement,
  startBenchPostgres,
} from './postgres-db.ts';
import { type ResultRow, toMarkdown } from './report.ts';
import { type ServerProcess, startServerProcess } from './server-process.ts';

/** Simulated workers on each process. */
const WORKERS_PER_PROCESS = 40;
/** Executes in flight during the throughput runs, alternating between the processes. */
const IN_FLIGHT = 64;
const RUN_SECONDS = 5;
const SERIAL_ACTIONS = 100;
/** Executes per second of the paced dispatch run: the throughput target. */
const PACED_RATE = 500;
const PACED_SECONDS = 3;
/** Seconds of the paced run before its measured part, as the throughput runs' warm-up. */
const PACED_WARM_UP_SECONDS = 1;

const TARGETS = {
  actionsPerSecond: { op: '>=', value: 500 },
  dispatchP99Ms: { op: '<=', value: 50 },
  restartSeconds: { op: '<=', value: 5 },
} as const;

/** `execution` YAML of a process without local workers on the scheduler at `url`. */
export function postgresSchedulerYaml(url: string): string {
  return `  scheduler:\n    postgres:\n      url: ${url}\n`;
}

function row(name: string, unit: string, value: number, extra: Partial<ResultRow> = {}): ResultRow {
  return { name, unit, best: value, median: value, samples: [value], ...extra };
}

/** Two processes as one for {@link timed}: their CPU summed. */
function bothProcesses(a: ServerProcess, b: () => ServerProcess): ServerProcess {
  return {
    ...a,
    cpuSeconds: async () => (await a.cpuSeconds()) + (await b().cpuSeconds()),
  };
}

/** Options of {@link postgresRows}. */
export interface PostgresRowsOptions {
  readonly root: string;
  readonly runs: number;
}

/** Runs the PostgreSQL measurements on their own database and processes. */
export async function postgresRows(options: PostgresRowsOptions): Promise<ResultRow[]> {
  const { root } = options;
  const db = await startBenchPostgres();
  const rows: ResultRow[] = [];
  const closers: (() => Promise<void> | void)[] = [];
  try {
    const configYaml = `execution:\n  localWorkers: 0\n${postgresSchedulerYaml(db.url)}`;
    const start = async (): Promise<{ server: ServerProcess; seconds: number }> => {
      const begun = performance.now();
      const server = await startServerProcess({ root, configYaml, startTimeoutMs: 30_000 });
      return { server, seconds: (performance.now() - begun) / 1000 };
    };
    // Started together: both apply the schema migrations at once.
    const [first, second] = await Promise.all([start(), start()]);
    const servers = [first.server, second.server];
    closers.push(() => Promise.all(servers.map((s) => s.stop())).then(() => undefined));
    const clients = servers.map((s) => connectClients(s.address, benchInterceptors()));
    closers.push(() => {
      for (const c of clients) c.close();
    });
    for (const c of clients) await call(c.capabilities, 'getCapabilities', { instanceName: '' });
    const fleets = servers.map((s) => new Fleet(root, s.address, WORKERS_PER_PROCESS, 1, 1));
    closers.push(() => Promise.all(fleets.map((f) => f.stop())).then(() => undefined));
    for (const f of fleets) await f.waitFor(() => f.ready(), 60_000, 'simulators connected');
    for (const f of fleets) f.send({ type: 'start' });
    for (const f of fleets) {
      await f.waitFor(() => f.registered() === WORKERS_PER_PROCESS, 60_000, 'registration');
    }
    const leaseAt = (hash: string): number | undefined =>
      fleets[0]?.leaseAt.get(hash) ?? fleets[1]?.leaseAt.get(hash);
    const latencies = async (starts: Map<string, number>): Promise<number[]> => {
      const until = performance.now() + 10_000;
      while ([...starts.keys()].some((h) => leaseAt(h) === undefined)) {
        if (performance.now() > until) throw new Error('postgres: a lease was never reported');
        await sleep(20);
      }
      return [...starts].map(([hash, at]) => (leaseAt(hash) as number) - at);
    };

    // The same actions in both processes' CAS (same prefix, same salts).
    const prefix = `postgres-${Date.now()}`;
    const makers = clients.map((c) => new NoopActions(c, prefix));
    const make = async (count: number): Promise<DigestMessage[]> => {
      const [a, b] = await Promise.all(makers.map((m) => m.make(count)));
      if (a === undefined || b === undefined || a.some((d, i) => d.hash !== b[i]?.hash)) {
        throw new Error('postgres: the two processes were given different actions');
      }
      return a;
    };
    const executeOn = (i: number, digest: DigestMessage): Promise<void> =>
      execute((clients[i % 2] as KilnClients).execution, digest).then(checkSuccess);

    // Warm-up, then one at a time (alternating processes): nothing queues.
    for (const [i, d] of (await make(20)).entries()) await executeOn(i, d);
    const serialStarts = new Map<string, number>();
    for (const [i, d] of (await make(SERIAL_ACTIONS)).entries()) {
      serialStarts.set(d.hash, epochMs());
      await executeOn(i, d);
    }
    const serialMs = await latencies(serialStarts);

    // Throughput: IN_FLIGHT Executes open at once, spread over both processes.
    const both = bothProcesses(servers[0] as ServerProcess, () => servers[1] as ServerProcess);
    const loadStarts = new Map<string, number>();
    const drive = async (pool: DigestMessage[], seconds: number): Promise<number> => {
      const until = performance.now() + seconds * 1000;
      let next = 0;
      let done = 0;
      await Promise.all(
        Array.from({ length: IN_FLIGHT }, async (_, lane) => {
          while (performance.now() < until && next < pool.length) {
            const digest = pool[next++] as DigestMessage;
            loadStarts.set(digest.hash, epochMs());
            await executeOn(lane, digest);
            done++;
          }
        }),
      );
      return done;
    };
    await drive(await make(1000), 1);
    loadStarts.clear();
    const samples: { actions: number; sample: Sample; pgCpu: number; statements: number }[] = [];
    let rate = 500;
    for (let run = 0; run < options.runs; run++) {
      const pool = await make(Math.ceil(rate * RUN_SECONDS * 2));
      await db.resetStatements();
      const pgBefore = await db.cpuSeconds();
      let actions = 0;
      const sample = await timed(both, async () => {
        actions = await drive(pool, RUN_SECONDS);
      });
      const pgCpu = (await db.cpuSeconds()) - pgBefore;
      const statements = await db.statements();
      samples.push({ actions, sample, pgCpu, statements });
      rate = actions / sample.seconds;
    }
    const top = await db.topStatements(8);
    const lastActions = samples.at(-1)?.actions ?? 1;
    const loadMs = await latencies(loadStarts);

    // Dispatch at the target rate: Executes started on a schedule (an open
    // loop), not as fast as completions allow. In the runs above every
    // Execute waits behind the 63 others in flight, so their latencies tell
    // the throughput (in flight / rate), not the dispatch.
    const warmUpCount = PACED_RATE * PACED_WARM_UP_SECONDS;
    const pacedPool = await make(PACED_RATE * (PACED_WARM_UP_SECONDS + PACED_SECONDS));
    const pacedStarts = new Map<string, number>();
    const pacedSample = await timed(both, async () => {
      const started: Promise<void>[] = [];
      const begin = performance.now();
      while (started.length < pacedPool.length) {
        const due = Math.min(
          pacedPool.length,
          Math.floor(((performance.now() - begin) * PACED_RATE) / 1000) + 1,
        );
        while (started.length < due) {
          const digest = pacedPool[started.length] as DigestMessage;
          if (started.length >= warmUpCount) pacedStarts.set(digest.hash, epochMs());
          started.push(executeOn(started.length, digest));
        }
        await sleep(1);
      }
      await Promise.all(started);
    });
    const pacedMs = await latencies(pacedStarts);

    rows.push(...throughputRows(samples, top, lastActions, db));
    rows.push(
      row(
        'PostgreSQL, 2 processes: Execute→lease, one at a time, p50',
        'ms',
        percentile(serialMs, 0.5),
        {
          note: `Execute call to the lease's arrival at a simulated worker of either process; ${SERIAL_ACTIONS} distinct no-op actions, alternately on each process`,
        },
      ),
      row(
        'PostgreSQL, 2 processes: Execute→lease, one at a time, p99',
        'ms',
        percentile(serialMs, 0.99),
        {
          target: TARGETS.dispatchP99Ms,
        },
      ),
      row(
        `PostgreSQL, 2 processes: Execute→lease at ${PACED_RATE} Executes/s, p50`,
        'ms',
        percentile(pacedMs, 0.5),
        {
          cpu: {
            server: pacedSample.serverCpu,
            client: pacedSample.clientCpu,
            other: pacedSample.otherCpu,
          },
          note: `${pacedMs.length} Executes started on a schedule of ${PACED_RATE} per second (the throughput target) for ${PACED_SECONDS} s after ${PACED_WARM_UP_SECONDS} s at that rate not counted, alternately on each process, each waited for from its start`,
        },
      ),
      row(
        `PostgreSQL, 2 processes: Execute→lease at ${PACED_RATE} Executes/s, p99`,
        'ms',
        percentile(pacedMs, 0.99),
        { target: TARGETS.dispatchP99Ms },
      ),
      row(
        `PostgreSQL, 2 processes: Execute→lease, ${IN_FLIGHT} in flight, p50`,
        'ms',
        percentile(loadMs, 0.5),
        {
          note: `every action of the throughput runs (${loadMs.length}), at the most the processes can do: each Execute waits behind the others in flight`,
        },
      ),
      row(
        `PostgreSQL, 2 processes: Execute→lease, ${IN_FLIGHT} in flight, p99`,
        'ms',
        percentile(loadMs, 0.99),
      ),
    );

    // kill -9 of the second process, then a new one on the same database.
    await (fleets[1] as Fleet).stop();
    const victim = servers[1] as ServerProcess;
    process.kill(victim.pid, 'SIGKILL');
    await victim.stop();
    const restarted = await start();
    servers[1] = restarted.server;
    const again = connectClients(restarted.server.address, benchInterceptors());
    clients[1]?.close();
    clients[1] = again;
    // A fresh action in both CAS: the old uploader held the dead process's channel.
    const afterPrefix = `${prefix}-restart`;
    const [after] = await Promise.all(
      clients.map((c) => new NoopActions(c as KilnClients, afterPrefix).make(1)),
    ).then((made) => made[0] ?? []);
    const firstStarted = performance.now();
    await executeOn(1, after as DigestMessage);
    const firstActionMs = performance.now() - firstStarted;
    rows.push(
      row('PostgreSQL: process start to serving, after a kill -9', 's', restarted.seconds, {
        target: TARGETS.restartSeconds,
        note:
          `spawn of kiln serve to its "serving" line (scheduler opened, schema checked, listening); ` +
          `the first two started together in ${first.seconds.toFixed(2)} and ${second.seconds.toFixed(2)} s ` +
          `(migrations applied); its first Execute (run by a worker of the other process) took ${firstActionMs.toFixed(1)} ms`,
      }),
    );
  } finally {
    for (const close of closers.reverse()) await close();
    await db.stop();
  }
  return rows;
}

/** The throughput, statements-per-action and CPU rows of the timed runs. */
function throughputRows(
  samples: readonly { actions: number; sample: Sample; pgCpu: number; statements: number }[],
  top: readonly StatementCount[],
  lastActions: number,
  db: BenchPostgres,
): ResultRow[] {
  const rates = samples.map((s) => s.actions / s.sample.seconds);
  const perAction = (f: (s: (typeof samples)[number]) => number): number[] =>
    samples.map((s) => f(s) / s.actions);
  const kilnMs = perAction((s) => s.sample.serverCpu * s.sample.seconds * 1000);
  const pgMs = perAction((s) => s.pgCpu * 1000);
  const statements = perAction((s) => s.statements);
  const rows: ResultRow[] = [
    {
      name: `PostgreSQL, 2 processes: no-op actions, ${IN_FLIGHT} in flight`,
      unit: 'actions/s',
      best: Math.max(...rates),
      median: median(rates),
      samples: rates,
      target: TARGETS.actionsPerSecond,
      cpu: {
        server: median(samples.map((s) => s.sample.serverCpu)),
        client: median(samples.map((s) => s.sample.clientCpu)),
        other: median(samples.map((s) => s.sample.otherCpu)),
      },
      note:
        `${samples.length} runs of ${RUN_SECONDS} s after a 1 s warm-up; Executes alternately on each ` +
        `process, ${WORKERS_PER_PROCESS} simulated workers on each; per action (median): both ` +
        `processes ${median(kilnMs).toFixed(2)} ms of CPU, PostgreSQL ${median(pgMs).toFixed(2)} ms ` +
        '(server CPU is both processes; other includes PostgreSQL and the simulators)',
    },
  ];
  if (db.counting) {
    rows.push({
      name: 'PostgreSQL, 2 processes: statements per no-op action',
      unit: 'statements',
      best: Math.min(...statements),
      median: median(statements),
      samples: statements,
      note:
        'pg_stat_statements calls over each run / actions completed (each a round trip; BEGIN and ' +
        `COMMIT count), with PostgreSQL's planning and execution time; most frequent in the last run, per action: ${top
          .map(
            (t) =>
              `${(t.calls / lastActions).toFixed(2)} × ${shortStatement(t.query)} ` +
              `(${(t.totalMs / t.calls).toFixed(3)} ms each, ${(t.planMs / t.calls).toFixed(3)} of it planning)`,
          )
          .join('; ')}`,
    });
  }
  return rows;
}

if (import.meta.main) {
  const { values } = parseArgs({ options: { runs: { type: 'string', default: '3' } } });
  const rows = await postgresRows({
    root: resolve(import.meta.dirname, '..'),
    runs: Number(values.runs),
  });
  process.stdout.write(`${toMarkdown(rows)}\n`);
}
