/**
 * The benchmark's command line: parsing, checking and `--help`, apart from
 * main.ts so that a wrong option ends in a clear message instead of a stack
 * trace (and so that it can be tested without running anything).
 */
import { parseArgs } from 'node:util';

/** Every measurement group `--only` accepts. */
export const GROUPS = [
  'write',
  'read',
  'batch',
  'find',
  'machine',
  'exec',
  'overhead',
  'shaped',
  'bazel',
  'reference',
  'fleet',
  's3',
  'tracing',
  'startup',
  'postgres',
] as const;
export type Group = (typeof GROUPS)[number];
/** What runs without `--only`: everything but the fleet, start-up and PostgreSQL, which run on request. */
export const DEFAULT_GROUPS: readonly Group[] = GROUPS.filter(
  (g) => g !== 'fleet' && g !== 'startup' && g !== 'postgres',
);

/** The schedulers the fleet bench can run against. */
export const FLEET_SCHEDULERS = ['memory', 'postgres'] as const;

/** The parsed options. */
export interface BenchOptions {
  readonly runs: number;
  readonly cpuProf: boolean;
  readonly only: ReadonlySet<Group>;
  readonly channels: number;
  readonly bazelRuns: number;
  readonly fleetWorkers: number;
  readonly fleetConnections?: number;
  readonly fleetProcesses?: number;
  readonly fleetBurst: number;
  /** The fleet bench's scheduler; `postgres` starts a throwaway PostgreSQL for it. */
  readonly fleetScheduler: (typeof FLEET_SCHEDULERS)[number];
}

export const HELP = `Usage: npm run bench -- [options]

Measures Kiln against real \`kiln serve\` child processes on this machine and
prints a Markdown table (also written to .bench/results.json). Reference rows,
measured in the same run without Kiln, make numbers comparable across
machines: every storage, RPC and execution row is also shown as a ratio to one.

Options:
  --only a,b             measurement groups to run, of:
                           write, read      ByteStream Write / Read of 64 MiB
                           batch, find      BatchUpdateBlobs, FindMissingBlobs
                           machine          page-cache file writes without Kiln
                           exec, overhead   no-op actions/s, per-action overhead
                           shaped, bazel    Bazel-shaped actions, real Bazel builds
                           reference        SHA-256, minimal grpc-js server, fork/exec
                           fleet            simulated worker fleet (not in the default)
                           s3               the s3 store on the s3rver emulator
                           tracing          server CPU per RPC, tracing off and on
                           startup          listening after a kill, with 1,000,000
                                            blobs in the disk CAS (not in the default)
                           postgres         two processes on a PostgreSQL scheduler:
                                            actions/s, Execute→lease, statements per
                                            action, restart (not in the default)
                         default: ${DEFAULT_GROUPS.join(',')}
  --runs N               repetitions of each measurement (default 5)
  --channels N           client connections for storage rows (default 4)
  --bazel-runs N         cold Bazel builds of each kind (default 3)
  --cpu-prof             write the servers' CPU profiles to .bench/profiles/
  --fleet-workers N      simulated workers of the fleet bench (default 20000)
  --fleet-connections M  connections they share (default one per 500 workers)
  --fleet-processes P    simulator processes (default up to 4)
  --fleet-burst N        Executes sent at once in the burst (default 1000)
  --fleet-scheduler S    the fleet server's scheduler: memory (default) or
                         postgres (a throwaway PostgreSQL started by the bench)
  -h, --help             print this help

Environment: BENCH_TOKEN (run with token authentication), BENCH_SERVER_NODE_FLAGS,
BENCH_SERVER_OUTPUT (see bench/main.ts).
`;

/** A command line the bench cannot run with; `message` says why. */
export class UsageError extends Error {}

function count(name: string, text: string | undefined, min: number): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!Number.isInteger(n) || n < min) {
    throw new UsageError(`--${name} must be an integer of at least ${min}, not "${text}"`);
  }
  return n;
}

/** Parses `args` (without node and script); `'help'` when help was asked for. */
export function parseBenchArgs(args: readonly string[]): BenchOptions | 'help' {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: [...args],
      options: {
        help: { type: 'boolean', short: 'h', default: false },
        runs: { type: 'string' },
        'cpu-prof': { type: 'boolean', default: false },
        only: { type: 'string' },
        channels: { type: 'string' },
        'bazel-runs': { type: 'string' },
        'fleet-workers': { type: 'string' },
        'fleet-connections': { type: 'string' },
        'fleet-processes': { type: 'string' },
        'fleet-burst': { type: 'string' },
        'fleet-scheduler': { type: 'string' },
      },
    }));
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  if (values.help === true) return 'help';
  const str = (name: string): string | undefined => values[name] as string | undefined;
  const only = (str('only') ?? DEFAULT_GROUPS.join(','))
    .split(',')
    .map((g) => g.trim())
    .filter((g) => g !== '');
  const unknown = only.filter((g) => !(GROUPS as readonly string[]).includes(g));
  if (unknown.length > 0) {
    throw new UsageError(
      `--only: unknown group ${unknown.join(', ')} (known: ${GROUPS.join(', ')})`,
    );
  }
  if (only.length === 0) throw new UsageError('--only names no group');
  const fleetScheduler = str('fleet-scheduler') ?? 'memory';
  if (!(FLEET_SCHEDULERS as readonly string[]).includes(fleetScheduler)) {
    throw new UsageError(
      `--fleet-scheduler must be ${FLEET_SCHEDULERS.join(' or ')}, not "${fleetScheduler}"`,
    );
  }
  return {
    runs: count('runs', str('runs'), 1) ?? 5,
    cpuProf: values['cpu-prof'] === true,
    only: new Set(only as Group[]),
    channels: count('channels', str('channels'), 1) ?? 4,
    bazelRuns: count('bazel-runs', str('bazel-runs'), 1) ?? 3,
    fleetWorkers: count('fleet-workers', str('fleet-workers'), 1) ?? 20_000,
    fleetConnections: count('fleet-connections', str('fleet-connections'), 1),
    fleetProcesses: count('fleet-processes', str('fleet-processes'), 1),
    fleetBurst: count('fleet-burst', str('fleet-burst'), 1) ?? 1000,
    fleetScheduler: fleetScheduler as BenchOptions['fleetScheduler'],
  };
}
