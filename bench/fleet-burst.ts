/**
 * The fleet bench's burst (see fleet-bench.ts): Executes sent at once to a
 * server holding a simulated fleet, with GetCapabilities probing it
 * meanwhile; and the same burst against the floor server
 * (fleet-floor-server.ts), which does no work of its own, for the floor
 * rows Kiln's burst rows are compared with.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { credentials } from '@grpc/grpc-js';
import { CLIENT_CHANNEL_OPTIONS } from '../src/client/channel-options.ts';
import { executeResponseOf } from '../src/execution/operation-message.ts';
import {
  type Digest as DigestMessage,
  ExecutionClient,
} from '../src/gen/build/bazel/remote/execution/v2/remote_execution.js';
import type { Operation } from '../src/gen/google/longrunning/operations.js';
import { benchInterceptors } from './bench-token.ts';
import type { FromProbe, ProbeOptions } from './capabilities-probe.ts';
import { execute } from './exec-bench.ts';
import { Fleet, withFileLimit } from './fleet-processes.ts';
import { percentile } from './fleet-stats.ts';
import { epochMs, type Sample, sleep, timed } from './measure.ts';
import { processStats } from './reference-bench.ts';
import type { ServerProcess } from './server-process.ts';

const PROBE_INTERVAL_MS = 20;

/** Checks that an Execute of a bench's no-op action ended in a fresh success (the simulated worker's canned result). */
export function checkSuccess(op: Operation): void {
  const response = executeResponseOf(op);
  const code = response?.status?.code ?? 0;
  if (response === undefined || code !== 0 || response.result?.exitCode !== 0) {
    throw new Error(`an Execute failed: ${code} ${response?.status?.message ?? ''}`);
  }
  if (response.cachedResult) throw new Error('an action that must run came from the cache');
}

/** `promise`, or an error naming `what` after `ms` milliseconds (the bench must end). */
export async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`fleet: ${what} took over ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** A running responsiveness probe (see capabilities-probe.ts). */
export interface Prober {
  /** Ends the probe; resolves with its latencies in ms, or rejects with its first failure. */
  stop(): Promise<number[]>;
}

/**
 * Starts GetCapabilities every {@link PROBE_INTERVAL_MS} against `address`
 * from a process of its own (so that the bench's own event loop is not
 * timed with the server); resolves once the calls have started. `warm`:
 * one call first, before the timed ones (the server must be up).
 */
export async function probeCapabilities(
  root: string,
  address: string,
  warm: boolean,
): Promise<Prober> {
  const options: ProbeOptions = { address, intervalMs: PROBE_INTERVAL_MS, warm };
  const child = spawn(
    join(root, 'node_modules/.bin/node'),
    [join(root, 'bench/capabilities-probe.ts'), JSON.stringify(options)],
    { cwd: root, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] },
  );
  const next = (): Promise<FromProbe> =>
    new Promise((resolve, reject) => {
      const onExit = (code: number | null): void =>
        reject(new Error(`fleet: the GetCapabilities probe exited (${code})`));
      child.once('exit', onExit);
      child.once('message', (message: FromProbe) => {
        child.off('exit', onExit);
        resolve(message);
      });
    });
  const first = await next();
  if (first.type !== 'ready') {
    child.kill('SIGKILL');
    throw new Error(`fleet: the GetCapabilities probe did not start: ${JSON.stringify(first)}`);
  }
  child.send({ type: 'start' });
  return {
    async stop() {
      const reply = next();
      child.send({ type: 'stop' });
      const message = await reply;
      if (message.type === 'done') return message.latencies;
      throw new Error(`fleet: ${message.type === 'error' ? message.message : 'probe'}`);
    },
  };
}

/** Lease latencies (ms) of actions started at `starts` (hash → epoch ms), once all leases are known. */
export async function leaseLatencies(fleet: Fleet, starts: Map<string, number>): Promise<number[]> {
  await fleet.waitFor(
    () => [...starts.keys()].every((h) => fleet.leaseAt.has(h)),
    10_000,
    'every lease reported by the simulators',
  );
  return [...starts].map(([hash, start]) => (fleet.leaseAt.get(hash) as number) - start);
}

/** What one burst measured. */
export interface BurstResult {
  /** Execute→lease of each action, ms. */
  readonly leaseMs: number[];
  /** GetCapabilities latencies meanwhile, ms. */
  readonly probeMs: number[];
  readonly sample: Sample;
}

/**
 * Sends one Execute per digest at once, spread over `executions`, waits for
 * every one to end in success, and reports when each lease reached its
 * simulated worker, with GetCapabilities from a probe process meanwhile.
 */
export async function measureBurst(
  stats: ServerProcess,
  fleet: Fleet,
  executions: readonly ExecutionClient[],
  root: string,
  digests: readonly DigestMessage[],
): Promise<BurstResult> {
  const starts = new Map<string, number>();
  const prober = await probeCapabilities(root, stats.address, true);
  const sample = await timed(stats, async () => {
    const all = Promise.all(
      digests.map((digest, i) => {
        starts.set(digest.hash, epochMs());
        return execute(executions[i % executions.length] as ExecutionClient, digest).then(
          checkSuccess,
        );
      }),
    );
    await within(all, 120_000, `a burst of ${digests.length} Executes`);
  });
  const probeMs = await prober.stop();
  return { leaseMs: await leaseLatencies(fleet, starts), probeMs, sample };
}

/** Options of {@link floorBurst}. */
export interface FloorOptions {
  readonly root: string;
  readonly workers: number;
  readonly connections: number;
  readonly processes: number;
  readonly burst: number;
  /** Connections the Executes are spread over. */
  readonly executeConnections: number;
}

/** Starts the floor server; resolves with its process, address and stats. */
async function startFloor(
  root: string,
  fileLimit: number,
): Promise<{ child: ChildProcess; stats: ServerProcess }> {
  const [command, args] = withFileLimit(
    join(root, 'node_modules/.bin/node'),
    [join(root, 'bench/fleet-floor-server.ts')],
    fileLimit,
  );
  const child = spawn(command, args, { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] });
  const address = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.once('exit', (code) => reject(new Error(`the fleet floor server exited (${code})`)));
    child.stdout?.setEncoding('utf8').on('data', (text: string) => {
      out += text;
      const match = /floor serving on (\S+)/.exec(out);
      if (match) resolve(match[1] as string);
    });
  });
  const stats = processStats(child.pid as number, address, async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await exited;
  });
  return { child, stats };
}

/** Fake action digests: the floor server never reads them. */
function floorDigests(count: number): DigestMessage[] {
  const prefix = `floor-${process.pid}-${Date.now()}-`;
  return Array.from({ length: count }, (_, i) => ({
    hash: createHash('sha256').update(`${prefix}${i}`).digest('hex'),
    sizeBytes: 100,
  }));
}

/** The burst against the floor server holding the same simulated fleet. */
export async function floorBurst(options: FloorOptions): Promise<BurstResult> {
  const { stats } = await startFloor(options.root, options.connections + 1024);
  const creds = credentials.createInsecure();
  const channelOptions = {
    ...CLIENT_CHANNEL_OPTIONS,
    'grpc.use_local_subchannel_pool': 1,
    interceptors: benchInterceptors(),
  };
  const executions = Array.from(
    { length: options.executeConnections },
    () => new ExecutionClient(stats.address, creds, channelOptions),
  );
  const fleet = new Fleet(
    options.root,
    stats.address,
    options.workers,
    options.connections,
    options.processes,
  );
  try {
    await fleet.waitFor(() => fleet.ready(), 60_000, 'floor: simulator processes connected');
    fleet.send({ type: 'start' });
    await fleet.waitFor(
      () => fleet.registered() === options.workers,
      60_000 + options.workers * 5,
      'floor: registration',
    );
    // Every worker's first poll waiting, as in Kiln's run.
    await sleep(2000);
    await within(
      Promise.all(floorDigests(5).map((d) => execute(executions[0] as ExecutionClient, d))),
      30_000,
      'floor: the first Executes',
    );
    return await measureBurst(stats, fleet, executions, options.root, floorDigests(options.burst));
  } finally {
    for (const c of executions) c.close();
    await fleet.stop();
    await stats.stop();
  }
}

/** p50 and p99 of a burst's lease latencies and the probe's p99, for notes. */
export function burstSummary(result: BurstResult): { p50: number; p99: number; probeP99: number } {
  return {
    p50: percentile(result.leaseMs, 0.5),
    p99: percentile(result.leaseMs, 0.99),
    probeP99: percentile(result.probeMs, 0.99),
  };
}
