import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { credentials } from '@grpc/grpc-js';
import { CLIENT_CHANNEL_OPTIONS } from '../src/client/channel-options.ts';
import {
  type Digest as DigestMessage,
  ExecutionClient,
} from '../src/gen/build/bazel/remote/execution/v2/remote_execution.js';
import { call, connectClients } from '../test/support/grpc-clients.ts';
import { benchAuthYaml, benchInterceptors } from './bench-token.ts';
import { execute, NoopActions } from './exec-bench.ts';
import {
  burstSummary,
  checkSuccess,
  floorBurst,
  leaseLatencies,
  measureBurst,
  probeCapabilities,
  within,
} from './fleet-burst.ts';
import { Fleet, FleetServer } from './fleet-processes.ts';
import { percentile } from './fleet-stats.ts';
import { epochMs, sleep, timed } from './measure.ts';
import { postgresSchedulerYaml } from './postgres-bench.ts';
import { startBenchPostgres } from './postgres-db.ts';
import type { ResultRow } from './report.ts';

const MB = 1_000_000;
/** Sessions per connection: well under the server's 1000 concurrent streams per connection. */
const SESSIONS_PER_CONNECTION = 500;
const MAX_PROCESSES = 4;
const EXECUTE_CONNECTIONS = 4;
const SERIAL_ACTIONS = 50;
/**
 * One whole long poll (the server answers an idle UpdateBotSession after
 * 25-28 s): every idle worker's call ends and is renewed once within the
 * window. Ten seconds right after registration ended before the first
 * renewals on a quiet machine and measured almost nothing (0.6% of a core
 * with 20,000 workers, whose renewals cost 15-25% of a core).
 */
const IDLE_SECONDS = 28;
const THROUGHPUT_SECONDS = 5;
const PROBE_INTERVAL_MS = 20;
/** How often the restart phase asks the server how many workers it holds. */
const REGISTERED_POLL_MS = 100;

const TARGETS = {
  idleCpuPercent: { op: '<=', value: 15 },
  idleRssMB: { op: '<=', value: 1024 * 1.048576 },
  serialP99Ms: { op: '<=', value: 20 },
  burstP99Ms: { op: '<=', value: 200 },
  capabilitiesP99Ms: { op: '<=', value: 50 },
  actionsPerSecond: { op: '>=', value: 1000 },
  listenSeconds: { op: '<=', value: 2 },
  backSeconds: { op: '<=', value: 10 },
} as const;

/** Options of {@link fleetRows}. */
export interface FleetOptions {
  /** Repository root. */
  readonly root: string;
  /** Simulated workers. */
  readonly workers: number;
  /** Connections they share; one per {@link SESSIONS_PER_CONNECTION} workers by default. */
  readonly connections?: number;
  /** Simulator processes; up to {@link MAX_PROCESSES} by default. */
  readonly processes?: number;
  /** Executes sent at once in the burst. */
  readonly burst: number;
  /**
   * Where the server writes its CPU profile (`--cpu-prof`). Node writes it
   * only on a clean exit, so the first server is then stopped with SIGTERM
   * instead of kill -9, and the restart rows measure a graceful stop.
   */
  readonly cpuProfDir?: string;
  /** The server's scheduler; `postgres` runs one on a throwaway PostgreSQL. Default memory. */
  readonly scheduler?: 'memory' | 'postgres';
}

/** How many connections and processes carry `workers` simulated workers. */
export function fleetLayout(
  workers: number,
  connections?: number,
  processes?: number,
): { connections: number; processes: number } {
  const c = connections ?? Math.max(1, Math.ceil(workers / SESSIONS_PER_CONNECTION));
  const p = processes ?? Math.min(MAX_PROCESSES, c);
  if (c < p) throw new Error(`--fleet-connections ${c} is fewer than the ${p} simulator processes`);
  return { connections: c, processes: p };
}

function row(name: string, unit: string, value: number, extra: Partial<ResultRow> = {}): ResultRow {
  return { name, unit, best: value, median: value, samples: [value], ...extra };
}

/** Runs the fleet measurements and returns their rows. */
export async function fleetRows(options: FleetOptions): Promise<ResultRow[]> {
  const { root, workers, burst } = options;
  const { connections, processes } = fleetLayout(workers, options.connections, options.processes);
  const db = options.scheduler === 'postgres' ? await startBenchPostgres() : undefined;
  const dir = await mkdtemp(join(tmpdir(), 'kiln-fleet-bench-'));
  const schedulerYaml = db === undefined ? '' : postgresSchedulerYaml(db.url);
  await writeFile(
    join(dir, 'kiln.yaml'),
    `execution:\n  localWorkers: 0\n${schedulerYaml}${benchAuthYaml()}`,
  );
  // The server's sockets: the fleet's connections, the bench's own, files and listeners.
  const nodeFlags = [
    ...(process.env.BENCH_SERVER_NODE_FLAGS?.split(' ').filter(Boolean) ?? []),
    ...(options.cpuProfDir === undefined
      ? []
      : ['--cpu-prof', `--cpu-prof-dir=${options.cpuProfDir}`]),
  ];
  const server = new FleetServer(root, dir, connections + 1024, nodeFlags);
  const rows: ResultRow[] = [];
  const label = `Fleet ${workers.toLocaleString('en-US')}${db === undefined ? '' : ' (PostgreSQL)'}`;
  // Each connection carries at most 500 Executes at once, under the server's stream limit.
  const executeConnections = Math.max(EXECUTE_CONNECTIONS, Math.ceil(burst / 500));

  // The floor first: the same fleet and burst against a server that does no work of its own.
  const floorRun = await floorBurst({
    root,
    workers,
    connections,
    processes,
    burst,
    executeConnections,
  });
  const floor = burstSummary(floorRun);
  const floorSample = floorRun.sample;
  const floorLabel = `Reference: minimal grpc-js fleet server, ${workers.toLocaleString('en-US')} workers`;
  rows.push(
    row(`${floorLabel}: Execute→lease, burst of ${burst}, p50`, 'ms', floor.p50, {
      cpu: {
        server: floorSample.serverCpu,
        client: floorSample.clientCpu,
        other: floorSample.otherCpu,
      },
      note:
        `server ${((floorSample.serverCpu * floorSample.seconds * 1000) / burst).toFixed(2)} ms of CPU per action; ` +
        'fleet-floor-server.ts: the Bots, Execution and Capabilities messages with no storage, cache, validation or scheduling behind them (an Execute becomes a lease to the longest-waiting poll), the same simulated fleet and bench client; what grpc-js and this machine allow',
    }),
    row(`${floorLabel}: Execute→lease, burst of ${burst}, p99`, 'ms', floor.p99),
    row(`${floorLabel}: GetCapabilities during the burst, p99`, 'ms', floor.probeP99),
  );
  const overFloor = (value: number, reference: number) => ({
    value: value / reference,
    to: 'floor',
  });
  let fleet: Fleet | undefined;
  const creds = credentials.createInsecure();
  const channelOptions = {
    ...CLIENT_CHANNEL_OPTIONS,
    'grpc.use_local_subchannel_pool': 1,
    interceptors: benchInterceptors(),
  };
  const closers: (() => void)[] = [];
  try {
    await server.start();
    const clients = connectClients(server.address, benchInterceptors());
    closers.push(() => clients.close());
    const executions = Array.from({ length: executeConnections }, () => {
      const client = new ExecutionClient(server.address, creds, channelOptions);
      closers.push(() => client.close());
      return client;
    });
    await call(clients.capabilities, 'getCapabilities', { instanceName: '' });
    const rssBefore = await server.stats.rssBytes();

    // Registration: every simulated worker opens a session, from connected channels.
    fleet = new Fleet(root, server.address, workers, connections, processes);
    const f = fleet;
    await f.waitFor(() => f.ready(), 60_000, 'simulator processes connected');
    const registration = await timed(server.stats, async () => {
      f.send({ type: 'start' });
      await f.waitFor(() => f.registered() === workers, 60_000 + workers * 5, 'registration');
    });
    rows.push(
      row(`${label}: registration of all workers`, 's', registration.seconds, {
        cpu: {
          server: registration.serverCpu,
          client: registration.clientCpu,
          other: registration.otherCpu,
        },
        note: `${workers} simulated workers over ${connections} connection(s) from ${processes} process(es), all opening a session at once`,
      }),
    );

    // Idle: every worker long-polling, nothing to do.
    await sleep(2000);
    const idle = await timed(server.stats, () => sleep(IDLE_SECONDS * 1000));
    const rss = await server.stats.rssBytes();
    rows.push(
      row(`${label}: idle server CPU`, '% of a core', idle.serverCpu * 100, {
        target: TARGETS.idleCpuPercent,
        cpu: { server: idle.serverCpu, client: idle.clientCpu, other: idle.otherCpu },
        note: `server CPU over ${IDLE_SECONDS} s with every worker long-polling; ${((idle.serverCpu * 100 * 1000) / workers).toFixed(2)}% per 1,000 workers`,
      }),
      row(`${label}: idle server RSS`, 'MB', rss / MB, { target: TARGETS.idleRssMB }),
      row(`${label}: server memory per connected worker`, 'bytes', (rss - rssBefore) / workers, {
        note: `(RSS with the fleet − RSS before it, ${Math.round(rssBefore / MB)} MB) / workers`,
      }),
    );

    // Execute→lease, one action at a time.
    const actions = new NoopActions(clients, `fleet-${Date.now()}`);
    const warmUp = await actions.make(5);
    await within(
      (async () => {
        for (const digest of warmUp)
          checkSuccess(await execute(executions[0] as ExecutionClient, digest));
      })(),
      60_000,
      'the first Executes',
    );
    const serial = new Map<string, number>();
    const serialPool = await actions.make(SERIAL_ACTIONS);
    const serialSample = await timed(server.stats, () =>
      within(
        (async () => {
          for (const digest of serialPool) {
            serial.set(digest.hash, epochMs());
            checkSuccess(await execute(executions[0] as ExecutionClient, digest));
          }
        })(),
        60_000 + SERIAL_ACTIONS * 2000,
        `${SERIAL_ACTIONS} Executes one at a time`,
      ),
    );
    const serialMs = await leaseLatencies(f, serial);
    const serialCpu = {
      server: serialSample.serverCpu,
      client: serialSample.clientCpu,
      other: serialSample.otherCpu,
    };
    rows.push(
      row(`${label}: Execute→lease, one at a time, p50`, 'ms', percentile(serialMs, 0.5), {
        cpu: serialCpu,
        note: `Execute call to the lease's arrival at a simulated worker, ${SERIAL_ACTIONS} distinct no-op actions one after another`,
      }),
      row(`${label}: Execute→lease, one at a time, p99`, 'ms', percentile(serialMs, 0.99), {
        target: TARGETS.serialP99Ms,
      }),
    );

    // A burst of Executes at once, with GetCapabilities probing the server meanwhile.
    const burstRun = await measureBurst(
      server.stats,
      f,
      executions,
      root,
      await actions.make(burst),
    );
    const burstSample = burstRun.sample;
    const burstMs = burstRun.leaseMs;
    const probeMs = burstRun.probeMs;
    const burstCpu = {
      server: burstSample.serverCpu,
      client: burstSample.clientCpu,
      other: burstSample.otherCpu,
    };
    rows.push(
      row(`${label}: Execute→lease, burst of ${burst}, p50`, 'ms', percentile(burstMs, 0.5), {
        cpu: burstCpu,
        note: `${burst} Executes sent at once over ${executeConnections} connections; all done in ${burstSample.seconds.toFixed(2)} s; server ${((burstSample.serverCpu * burstSample.seconds * 1000) / burst).toFixed(2)} ms of CPU per action`,
        ratio: overFloor(percentile(burstMs, 0.5), floor.p50),
      }),
      row(`${label}: Execute→lease, burst of ${burst}, p99`, 'ms', percentile(burstMs, 0.99), {
        target: TARGETS.burstP99Ms,
        ratio: overFloor(percentile(burstMs, 0.99), floor.p99),
      }),
      row(`${label}: GetCapabilities during the burst, p99`, 'ms', percentile(probeMs, 0.99), {
        target: TARGETS.capabilitiesP99Ms,
        ratio: overFloor(percentile(probeMs, 0.99), floor.probeP99),
        note: `${probeMs.length} calls, one every ${PROBE_INTERVAL_MS} ms on a connection of its own; p50 ${percentile(probeMs, 0.5).toFixed(2)} ms`,
      }),
    );

    // Throughput: many Executes in flight, each completed by a simulated worker at once.
    const inFlight = Math.min(workers, 500);
    const drive = async (pool: DigestMessage[], seconds: number): Promise<number> => {
      const until = performance.now() + seconds * 1000;
      let next = 0;
      let done = 0;
      const all = Promise.all(
        Array.from({ length: inFlight }, async (_, i) => {
          while (performance.now() < until && next < pool.length) {
            const digest = pool[next++] as DigestMessage;
            checkSuccess(
              await execute(executions[i % executions.length] as ExecutionClient, digest),
            );
            done++;
          }
        }),
      );
      await within(all, seconds * 1000 + 60_000, `${seconds} s of Executes, ${inFlight} in flight`);
      return done;
    };
    const warm = await drive(await actions.make(2000), 1);
    const pool = await actions.make(Math.ceil(Math.max(warm, 500) * THROUGHPUT_SECONDS * 2));
    let completed = 0;
    const simBefore = await f.cpuSeconds();
    const throughput = await timed(server.stats, async () => {
      completed = await drive(pool, THROUGHPUT_SECONDS);
    });
    const simCores = ((await f.cpuSeconds()) - simBefore) / throughput.seconds;
    // CPU per action tells what the server can do apart from what this
    // machine's other processes (the simulators, the bench, other users) left it.
    const serverMsPerAction = (throughput.serverCpu * throughput.seconds * 1000) / completed;
    rows.push(
      row(
        `${label}: no-op actions scheduled and completed`,
        'actions/s',
        completed / throughput.seconds,
        {
          target: TARGETS.actionsPerSecond,
          cpu: {
            server: throughput.serverCpu,
            client: throughput.clientCpu,
            other: throughput.otherCpu,
          },
          note:
            `${inFlight} Executes in flight for ${THROUGHPUT_SECONDS} s after a 1 s warm-up; ${completed} of ${pool.length} actions; ` +
            `server ${serverMsPerAction.toFixed(2)} ms of CPU per action (at most ${Math.floor(1000 / serverMsPerAction)}/s on one core), ` +
            `simulators ${simCores.toFixed(2)} cores, bench client ${throughput.clientCpu.toFixed(2)} cores, ` +
            `everything else ${Math.max(0, throughput.otherCpu - simCores).toFixed(2)} cores`,
        },
      ),
      row(`${label}: server CPU per no-op action`, 'ms', serverMsPerAction, {
        note: "server CPU seconds over the throughput run / actions completed (Execute, lease, completion, result write and the worker's next poll)",
      }),
    );

    // kill -9 and restart on the same port and data directory; the fleet
    // reconnects. A worker is back when the new server's scheduler holds it
    // again (its session re-opened or a new one), whatever its call then waits for.
    const simCpuBefore = await f.cpuSeconds();
    const killedAt = performance.now();
    if (server.profiled) await server.stop();
    else await server.kill();
    const listenSeconds = await server.start();
    const serverCpuAtListen = await server.stats.cpuSeconds();
    const duringReconnect = await probeCapabilities(root, server.address, false);
    const until = performance.now() + 120_000;
    for (;;) {
      const back = await server.registeredWorkers();
      if (back >= workers) break;
      if (performance.now() > until) {
        throw new Error(`fleet: ${back} of ${workers} workers back within 120 s of the restart`);
      }
      await sleep(REGISTERED_POLL_MS);
    }
    const backSeconds = (performance.now() - killedAt) / 1000;
    const reregisterCpu = (await server.stats.cpuSeconds()) - serverCpuAtListen;
    const simReconnectCpu = (await f.cpuSeconds()) - simCpuBefore;
    const reconnectMs = await duringReconnect.stop();
    rows.push(
      row(`${label}: listening after kill -9 and restart`, 's', listenSeconds, {
        target: TARGETS.listenSeconds,
        note: `process start to the "serving" line, over the data directory of the run; server CPU by then ${serverCpuAtListen.toFixed(2)} s`,
      }),
      row(`${label}: all workers back after kill -9 and restart`, 's', backSeconds, {
        target: TARGETS.backSeconds,
        note: `from the kill to the new server holding every simulated worker (jittered exponential backoff from 100 ms to 5 s); failed calls over the run: ${f.errors()}`,
      }),
      row(`${label}: server CPU to re-register all workers`, 's', reregisterCpu, {
        note: `server CPU from listening to holding every worker again: ${((reregisterCpu * 1000) / workers).toFixed(3)} ms per worker; the simulators used ${simReconnectCpu.toFixed(1)} s from the kill`,
      }),
      row(
        `${label}: GetCapabilities during the reconnection, p99`,
        'ms',
        percentile(reconnectMs, 0.99),
        {
          note: `${reconnectMs.length} calls`,
        },
      ),
    );
  } catch (err) {
    // What the simulated workers saw is the first clue to a phase that failed.
    const calls = fleet === undefined ? 'none' : fleet.errors();
    throw new Error(`${(err as Error).message} (failed calls of the simulated workers: ${calls})`, {
      cause: err,
    });
  } finally {
    for (const close of closers) close();
    await fleet?.stop();
    await server.stop();
    await db?.stop();
    await rm(dir, { recursive: true, force: true });
  }
  return rows;
}
