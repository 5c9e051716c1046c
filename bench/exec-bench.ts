/**
 * Remote execution benchmarks against a real `kiln serve` child with its
 * in-process worker: no-op actions per second under load, and the
 * scheduling overhead of one action at a time (client-observed Execute time
 * minus the command's own run time).
 */
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { executeResponseOf } from '../src/execution/operation-message.ts';
import {
  Action,
  Command,
  type Digest as DigestMessage,
  type ExecutedActionMetadata,
  ExecuteRequest,
  type ExecuteResponse,
  type ExecutionClient,
} from '../src/gen/build/bazel/remote/execution/v2/remote_execution.js';
import type { Operation } from '../src/gen/google/longrunning/operations.js';
import type { Timestamp } from '../src/gen/google/protobuf/timestamp.js';
import { uploadBlobs } from '../test/support/actions.ts';
import { call, connectClients, type KilnClients } from '../test/support/grpc-clients.ts';
import { startKiln } from '../test/support/kiln-process.ts';
import { benchAuthYaml, benchInterceptors } from './bench-token.ts';
import { epochMs, meanCpu, median, type Sample, timed, treeCpuSeconds } from './measure.ts';
import type { ResultRow } from './report.ts';
import type { ServerProcess } from './server-process.ts';

/** Actions per BatchUpdateBlobs request when filling the pool (~150 bytes each). */
const UPLOAD_BATCH = 2000;

/** Options of {@link startExecServer}. */
export interface ExecServerOptions {
  /** Actions the in-process worker runs at once (`execution.localWorkers`). */
  readonly localWorkers: number;
  /** `execution.localPrefetch`, when not the default. */
  readonly localPrefetch?: number;
  /** When set, the server writes a CPU profile here on exit. */
  readonly cpuProfDir?: string;
  /**
   * Called with the data directory instead of deleting it at stop, for a
   * caller that deletes it later (deleting many files makes the next file
   * creations on ext4 slower for a while, which would land in the next sample).
   */
  readonly deferRemoval?: (dir: string) => void;
}

/**
 * Starts `kiln serve` with a config file setting `execution.localWorkers`,
 * over a fresh data directory that {@link ServerProcess.stop} deletes.
 */
export async function startExecServer(options: ExecServerOptions): Promise<ServerProcess> {
  const dataDir = await mkdtemp(join(tmpdir(), 'kiln-exec-bench-'));
  const configFile = join(dataDir, 'kiln.yaml');
  const prefetch =
    options.localPrefetch === undefined ? '' : `  localPrefetch: ${options.localPrefetch}\n`;
  // KILN_BENCH_ACTION_USERS=off measures without privilege separation (for its cost).
  const users = process.env.KILN_BENCH_ACTION_USERS;
  const actionUsers = users === undefined ? '' : `  actionUsers: ${users}\n`;
  await writeFile(
    configFile,
    `execution:\n  localWorkers: ${options.localWorkers}\n${prefetch}${actionUsers}${benchAuthYaml()}`,
  );
  const nodeOptions =
    options.cpuProfDir === undefined
      ? process.env.NODE_OPTIONS
      : `${process.env.NODE_OPTIONS ?? ''} --cpu-prof --cpu-prof-dir=${options.cpuProfDir}`.trim();
  let kiln: Awaited<ReturnType<typeof startKiln>>;
  try {
    kiln = await startKiln(
      ['--listen', '127.0.0.1:0', '--data-dir', join(dataDir, 'data'), '--config', configFile],
      {
        // KILN_BENCH_NODE: another Node.js binary or wrapper (for V8 flags NODE_OPTIONS refuses).
        node: process.env.KILN_BENCH_NODE,
        env: {
          KILN_LOG_LEVEL: process.env.KILN_LOG_LEVEL ?? 'warn',
          ...(nodeOptions === undefined ? {} : { NODE_OPTIONS: nodeOptions }),
        },
      },
    );
  } catch (err) {
    await rm(dataDir, { recursive: true, force: true });
    throw err;
  }
  const pid = kiln.child.pid as number;
  const statusKiB = async (field: string): Promise<number> => {
    const status = await readFile(`/proc/${pid}/status`, 'utf8');
    const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status);
    if (!match) throw new Error(`/proc/${pid}/status has no ${field}`);
    return Number(match[1]) * 1024;
  };
  return {
    address: kiln.address,
    pid,
    cpuSeconds: () => treeCpuSeconds(pid),
    actionCpuSeconds: () => treeCpuSeconds(pid, 'reaped'),
    peakRssBytes: () => statusKiB('VmHWM'),
    rssBytes: () => statusKiB('VmRSS'),
    async stop() {
      const timer = setTimeout(() => kiln.child.kill('SIGKILL'), 10_000);
      await kiln.stop();
      clearTimeout(timer);
      if (options.deferRemoval !== undefined) options.deferRemoval(dataDir);
      else await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/** Makes distinct no-op Actions (`/bin/true`, empty input root) and uploads them. */
export class NoopActions {
  readonly #clients: KilnClients;
  readonly #prefix: string;
  #commandDigest: DigestMessage | undefined;
  #next = 0;

  constructor(clients: KilnClients, prefix: string) {
    this.#clients = clients;
    this.#prefix = prefix;
  }

  /** Uploads `count` Actions never used before and returns their digests. */
  async make(count: number): Promise<DigestMessage[]> {
    if (this.#commandDigest === undefined) {
      const command = Command.fromPartial({ arguments: ['/bin/true'] });
      [this.#commandDigest] = await uploadBlobs(this.#clients, [
        Buffer.from(Command.encode(command).finish()),
      ]);
    }
    const emptyRoot = { hash: createHash('sha256').digest('hex'), sizeBytes: 0 };
    const digests: DigestMessage[] = [];
    for (let start = 0; start < count; start += UPLOAD_BATCH) {
      const blobs: Buffer[] = [];
      for (let i = start; i < Math.min(count, start + UPLOAD_BATCH); i++) {
        const action = Action.fromPartial({
          commandDigest: this.#commandDigest,
          inputRootDigest: emptyRoot,
          salt: Buffer.from(`${this.#prefix}-${this.#next++}`),
        });
        blobs.push(Buffer.from(Action.encode(action).finish()));
      }
      digests.push(...(await uploadBlobs(this.#clients, blobs)));
    }
    return digests;
  }
}

/** Calls Execute and resolves with the final Operation's response once the stream ends. */
export function execute(client: ExecutionClient, actionDigest: DigestMessage): Promise<Operation> {
  return new Promise((resolve, reject) => {
    const stream = client.execute(
      ExecuteRequest.fromPartial({ instanceName: '', actionDigest, skipCacheLookup: false }),
    );
    let last: Operation | undefined;
    stream.on('data', (op: Operation) => {
      last = op;
    });
    stream.on('error', reject);
    stream.on('end', () =>
      last?.done ? resolve(last) : reject(new Error('Execute ended before the operation was done')),
    );
  });
}

/** The response of a done Operation, checked to be a fresh, successful execution. */
function freshSuccess(op: Operation): ExecuteResponse {
  const response = executeResponseOf(op);
  if (response === undefined) throw new Error(`operation ${op.name} has no ExecuteResponse`);
  const code = response.status?.code ?? 0;
  if (code !== 0) throw new Error(`action failed: ${code} ${response.status?.message}`);
  if (response.cachedResult) throw new Error('an action that must run came from the cache');
  if (response.result?.exitCode !== 0) throw new Error(`exit code ${response.result?.exitCode}`);
  return response;
}

/** Options of {@link measureExecThroughput}. */
export interface ThroughputOptions {
  readonly server: ServerProcess;
  readonly clients: KilnClients;
  /** Execute calls kept open at once. */
  readonly inFlight: number;
  /** Length of each timed run. */
  readonly seconds: number;
  readonly runs: number;
}

/** One throughput run: how many actions completed in how long. */
export interface ThroughputRun {
  readonly actions: number;
  readonly sample: Sample;
  /** Every action's stages (queueing included). */
  readonly stages: readonly OverheadSample[];
}

/**
 * Keeps `inFlight` Execute calls of distinct no-op actions open for
 * `seconds` per run, after a one-second warm-up. Actions are uploaded before
 * each run, so the timed part is Execute alone.
 */
export async function measureExecThroughput(options: ThroughputOptions): Promise<ThroughputRun[]> {
  const { server, clients, inFlight, seconds } = options;
  const actions = new NoopActions(clients, `throughput-${Date.now()}`);
  const stages: OverheadSample[] = [];
  const drive = async (pool: DigestMessage[], untilMs: number): Promise<number> => {
    let done = 0;
    let next = 0;
    await Promise.all(
      Array.from({ length: inFlight }, async () => {
        while (performance.now() < untilMs && next < pool.length) {
          const start = epochMs();
          const response = freshSuccess(
            await execute(clients.execution, pool[next++] as DigestMessage),
          );
          stages.push(overheadOf(start, epochMs(), response));
          done++;
        }
      }),
    );
    return done;
  };
  await drive(await actions.make(2000), performance.now() + 1000);
  stages.length = 0;
  const runs: ThroughputRun[] = [];
  let rate = 500;
  for (let run = 0; run < options.runs; run++) {
    // Enough actions for twice the last rate; a run that uses them all ends early.
    const pool = await actions.make(Math.ceil(rate * seconds * 2));
    let done = 0;
    const sample = await timed(server, async () => {
      done = await drive(pool, performance.now() + seconds * 1000);
    });
    rate = done / sample.seconds;
    runs.push({ actions: done, sample, stages: stages.splice(0) });
  }
  return runs;
}

/** The stages of one action, in milliseconds, from the client's clock and the metadata. */
export interface OverheadSample {
  /** Client-observed Execute time minus the command's own run time. */
  readonly overheadMs: number;
  /** Execute call to the final response, on the client. */
  readonly totalMs: number;
  /** execution_completed − execution_start. */
  readonly commandMs: number;
  /** Time between consecutive stage timestamps, by stage name. */
  readonly stages: Readonly<Record<string, number>>;
}

/** Options of {@link measureSchedulingOverhead}. */
export interface OverheadOptions {
  readonly server: ServerProcess;
  readonly clients: KilnClients;
  /** Actions measured, one at a time, after a warm-up of 20. */
  readonly actions: number;
}

const ms = (t: Timestamp | undefined): number =>
  t === undefined ? Number.NaN : t.seconds * 1000 + t.nanos / 1e6;

/** The stage boundaries of an action, with the client's call and response times around them. */
function stagesOf(startMs: number, endMs: number, m: ExecutedActionMetadata): [string, number][] {
  const marks: [string, number][] = [
    ['call', startMs],
    ['queued', ms(m.queuedTimestamp)],
    ['worker start', ms(m.workerStartTimestamp)],
    ['input fetch start', ms(m.inputFetchStartTimestamp)],
    ['input fetch end', ms(m.inputFetchCompletedTimestamp)],
    ['execution start', ms(m.executionStartTimestamp)],
    ['execution end', ms(m.executionCompletedTimestamp)],
    ['upload start', ms(m.outputUploadStartTimestamp)],
    ['upload end', ms(m.outputUploadCompletedTimestamp)],
    ['worker end', ms(m.workerCompletedTimestamp)],
    ['response', endMs],
  ];
  const stages: [string, number][] = [];
  for (let i = 1; i < marks.length; i++) {
    const [from, a] = marks[i - 1] as [string, number];
    const [to, b] = marks[i] as [string, number];
    stages.push([`${from} → ${to}`, b - a]);
  }
  return stages;
}

/**
 * Executes distinct no-op actions one at a time, so that nothing queues, and
 * measures what Kiln adds around each command.
 */
export async function measureSchedulingOverhead(
  options: OverheadOptions,
): Promise<{ samples: OverheadSample[]; sample: Sample }> {
  const { server, clients } = options;
  const actions = new NoopActions(clients, `overhead-${Date.now()}`);
  const warmUp = await actions.make(20);
  for (const digest of warmUp) freshSuccess(await execute(clients.execution, digest));
  const pool = await actions.make(options.actions);
  const samples: OverheadSample[] = [];
  const sample = await timed(server, async () => {
    for (const digest of pool) {
      const start = epochMs();
      const response = freshSuccess(await execute(clients.execution, digest));
      samples.push(overheadOf(start, epochMs(), response));
    }
  });
  return { samples, sample };
}

/** Epoch milliseconds with sub-millisecond resolution, comparable to the server's timestamps. */

/** The overhead and stages of one action called at `startMs` and answered at `endMs`. */
function overheadOf(startMs: number, endMs: number, response: ExecuteResponse): OverheadSample {
  const metadata = response.result?.executionMetadata;
  if (metadata === undefined) throw new Error('the result has no execution metadata');
  const commandMs = ms(metadata.executionCompletedTimestamp) - ms(metadata.executionStartTimestamp);
  return {
    overheadMs: endMs - startMs - commandMs,
    totalMs: endMs - startMs,
    commandMs,
    stages: Object.fromEntries(stagesOf(startMs, endMs, metadata)),
  };
}

/** The value below which `fraction` of `values` lie (nearest rank). */
export function percentile(values: readonly number[], fraction: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(fraction * sorted.length) - 1));
  return sorted[rank] as number;
}

/** Median of every stage over the samples, as `name median` text for a table note. */
export function describeStages(samples: readonly OverheadSample[]): string {
  const names = Object.keys(samples[0]?.stages ?? {});
  return names
    .map((name) => `${name} ${median(samples.map((s) => s.stages[name] ?? 0)).toFixed(2)}`)
    .join('; ');
}

/** Options of {@link execRows}. */
export interface ExecRowsOptions {
  /** Which measurements: `exec` (throughput) and/or `overhead`. */
  readonly only: ReadonlySet<string>;
  readonly runs: number;
  readonly cpuProfDir?: string;
}

const EXEC_TARGETS = {
  actionsPerSecond: { op: '>=', value: 200 },
  overheadMedianMs: { op: '<=', value: 10 },
} as const;
const LOCAL_WORKERS = 2;
const IN_FLIGHT = 32;
const RUN_SECONDS = 5;
const OVERHEAD_ACTIONS = 200;

/** Runs the execution measurements on their own server and returns their table rows. */
export async function execRows(options: ExecRowsOptions): Promise<ResultRow[]> {
  const rows: ResultRow[] = [];
  if (!options.only.has('exec') && !options.only.has('overhead')) return rows;
  const server = await startExecServer({
    localWorkers: LOCAL_WORKERS,
    cpuProfDir: options.cpuProfDir,
  });
  const clients = connectClients(server.address, benchInterceptors());
  try {
    // Connected before anything is measured.
    await call(clients.capabilities, 'getCapabilities', { instanceName: '' });
    if (options.only.has('overhead')) {
      const { samples, sample } = await measureSchedulingOverhead({
        server,
        clients,
        actions: OVERHEAD_ACTIONS,
      });
      const overhead = samples.map((s) => s.overheadMs);
      rows.push(
        {
          name: 'Execute scheduling overhead, 1 action at a time, median',
          unit: 'ms',
          best: Math.min(...overhead),
          median: median(overhead),
          samples: overhead,
          target: EXEC_TARGETS.overheadMedianMs,
          cpu: meanCpu([sample]),
          note:
            `client-observed Execute time minus execution_completed − execution_start, ` +
            `${samples.length} distinct /bin/true actions; command itself ` +
            `${median(samples.map((s) => s.commandMs)).toFixed(2)} ms median; ` +
            `median ms per stage: ${describeStages(samples)}`,
        },
        {
          name: 'Execute scheduling overhead, 1 action at a time, p99',
          unit: 'ms',
          best: percentile(overhead, 0.99),
          median: percentile(overhead, 0.99),
          samples: [percentile(overhead, 0.99)],
        },
      );
    }
    if (options.only.has('exec')) {
      const runs = await measureExecThroughput({
        server,
        clients,
        inFlight: IN_FLIGHT,
        seconds: RUN_SECONDS,
        runs: options.runs,
      });
      const rates = runs.map((r) => r.actions / r.sample.seconds);
      // CPU per action is steadier than the rate on a machine others share.
      const cpuMsPerAction = median(
        runs.map((r) => (r.sample.serverCpu * 1000) / (r.actions / r.sample.seconds)),
      );
      rows.push({
        name: `Execute no-op actions, ${IN_FLIGHT} in flight, ${LOCAL_WORKERS} local workers`,
        unit: 'actions/s',
        best: Math.max(...rates),
        median: median(rates),
        samples: rates,
        target: EXEC_TARGETS.actionsPerSecond,
        cpu: meanCpu(runs.map((r) => r.sample)),
        note:
          `distinct /bin/true actions (skip_cache_lookup false), ${options.runs} runs of ` +
          `${RUN_SECONDS} s after a 1 s warm-up; server CPU includes the in-process worker, its ` +
          `spawn helper and the actions: ${cpuMsPerAction.toFixed(1)} CPU ms per action; ` +
          `median ms per stage (last run): ${describeStages(runs.at(-1)?.stages ?? [])}`,
      });
    }
  } finally {
    clients.close();
    await server.stop();
  }
  return rows;
}
