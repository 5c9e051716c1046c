/**
 * Bazel 4.2.3 building a generated workspace of small genrules, cold, once
 * with remote execution on a fresh `kiln serve` and once locally, each from a
 * fresh output base: the comparison a user makes before switching a build to
 * remote execution on the same machine.
 *
 * Every action is new to both caches in every build ("cold"). Kiln is
 * warm in both: a fresh `kiln serve` per run first serves warm-up builds of
 * other packages, as a running service has. Two Bazel server states are
 * measured:
 * - a fresh Bazel server (a new JVM): Bazel's just-in-time compiler then
 *   spends several core-seconds compiling its gRPC, Netty and protobuf code
 *   during the remote build, more than twice what it compiles for local
 *   sandboxed runs, which on two cores shows in the wall time;
 * - a Bazel server that has already built four equally shaped, unrelated
 *   packages the same way (local or remote), 1,200 actions in all, as a
 *   developer's long-running server has: what a build costs once Bazel
 *   itself is warm (see {@link WARMUP_PACKAGES}).
 *
 * The local build uses Bazel's default strategy (the sandbox, as `bazel
 * build` with no flags does): that is what a user compares against. Both
 * builds use the e2e harness's offline options, including its `--jobs=4`.
 * Directories are deleted only after all builds, and each timed build waits
 * for the file system to settle first (see `settleFileSystem`): on this
 * machine's ext4 (no journal), creating files is much slower for a while
 * after many files were deleted, which would otherwise land in the next
 * sample.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import {
  type BazelWorkspace,
  createBazelWorkspace,
  findBazel,
  parseRemoteCacheHits,
  runBazel,
  shutdownBazel,
} from '../test/e2e/bazel-harness.ts';
import { startExecServer } from './exec-bench.ts';
import { meanCpu, median, type Sample, settleFileSystem, timed } from './measure.ts';
import type { ResultRow } from './report.ts';
import type { ServerProcess } from './server-process.ts';

/** Shape of the generated workspace. */
export interface GenruleGraph {
  /** Layers of genrules; each rule of a layer reads two rules of the layer before. */
  readonly layers: number;
  /** Genrules per layer. */
  readonly width: number;
}

/** Options of {@link bazelRows}. */
export interface BazelRowsOptions {
  readonly runs: number;
  /** Actions the remote build's Kiln runs at once (`execution.localWorkers`). */
  readonly localWorkers: number;
  readonly graph?: GenruleGraph;
  /** When set, each Kiln writes a CPU profile here. */
  readonly cpuProfDir?: string;
}

const DEFAULT_GRAPH: GenruleGraph = { layers: 10, width: 30 };
/**
 * The target, judged on the warm Bazel server: the state a developer's
 * builds run in. A fresh server's own just-in-time compilation of its remote
 * code (gRPC, Netty, protobuf) alone takes its remote build to about 1.2 ×
 * the local one on this machine (the estimate row for a server using no
 * CPU), so its row reports the ratio without judging it.
 */
const TARGET_RATIO = { op: '<=', value: 1.2 } as const;

/** The measured package. */
const MAIN_PACKAGE = 'main';

/**
 * The packages a warm Bazel server builds, one after the other, before the
 * timed build: each as large as the main one, with actions of its own.
 * Bazel's just-in-time compiler is still busy after one package of 300
 * remote actions: measured here, its threads used 4.5 core-s during the next
 * remote build (1.7 for a local one), and 2.5 after four packages (0.5
 * locally), while the warm-up builds' times settled (remote 9.5, 4.7, 4.2,
 * 3.8 s). 1,200 actions is about what a developer's server has run an hour
 * into a working day.
 */
const WARMUP_PACKAGES = ['warmup0', 'warmup1', 'warmup2', 'warmup3'];

/**
 * Writes a workspace of packages of `layers × width` genrules each, `main`
 * and the {@link WARMUP_PACKAGES}. `nonce` goes into every output, so no two runs (and
 * neither package) share an action.
 */
export async function writeGenruleWorkspace(
  dir: string,
  graph: GenruleGraph,
  nonce: string,
): Promise<void> {
  await writeFile(join(dir, 'WORKSPACE'), 'workspace(name = "kiln_bench")\n');
  await writeFile(
    join(dir, '.bazelignore'),
    'bazel-bin\nbazel-out\nbazel-testlogs\nbazel-workspace\n',
  );
  for (const pkg of [MAIN_PACKAGE, ...WARMUP_PACKAGES]) {
    await mkdir(join(dir, pkg));
    await writeFile(join(dir, pkg, 'BUILD'), genrules(graph, `${pkg}-${nonce}`));
  }
}

/** A BUILD file of `layers × width` genrules; each rule of a layer reads two of the layer before. */
function genrules(graph: GenruleGraph, nonce: string): string {
  const rules: string[] = [];
  const name = (layer: number, i: number): string => `l${layer}_${i}`;
  for (let layer = 0; layer < graph.layers; layer++) {
    for (let i = 0; i < graph.width; i++) {
      if (layer === 0) {
        rules.push(
          `genrule(name = "${name(0, i)}", outs = ["${name(0, i)}.txt"], ` +
            `cmd = "echo ${nonce} ${i} > $@")`,
        );
      } else {
        const srcs = [name(layer - 1, i), name(layer - 1, (i + 1) % graph.width)];
        rules.push(
          `genrule(name = "${name(layer, i)}", srcs = [${srcs.map((s) => `":${s}"`).join(', ')}], ` +
            `outs = ["${name(layer, i)}.txt"], cmd = "cat $(SRCS) | cksum > $@")`,
        );
      }
    }
  }
  return `${rules.join('\n')}\n`;
}

/** Whether the Bazel server is new, or has built the warm-up packages first. */
type BazelServerState = 'fresh' | 'warm';

/** One timed build. */
interface Build {
  readonly seconds: number;
  /** Processes Bazel ran, by runner (`remote`, `linux-sandbox`, …). */
  readonly byRunner: Readonly<Record<string, number>>;
  readonly sample?: Sample;
  /** CPU seconds of the actions' own processes, for a remote build. */
  readonly actionCpu?: number;
}

/** What one build needs. */
interface BuildPlan {
  readonly fixture: string;
  /** Options of both the warm-up and the timed build. */
  readonly args: readonly string[];
  readonly server: ServerProcess | undefined;
  readonly state: BazelServerState;
  /** Collects directories to delete after all builds. */
  readonly deferRemoval: (dir: string) => void;
}

/**
 * Builds the main package cold in a fresh copy of the fixture with its own
 * output base, after starting the Bazel server (not timed) and, for a warm
 * server, building the warm-up packages with the same options (not timed).
 * Shuts Bazel down after.
 */
async function coldBuild(plan: BuildPlan): Promise<Build> {
  const ws: BazelWorkspace = await createBazelWorkspace({ fixture: plan.fixture });
  try {
    const started = await runBazel(ws, ['info', 'release']);
    if (started.code !== 0) throw new Error(`bazel info failed:\n${started.stderr}`);
    if (plan.state === 'warm') {
      for (const pkg of WARMUP_PACKAGES) {
        const warmup = await runBazel(ws, ['build', `//${pkg}/...`, ...plan.args]);
        if (warmup.code !== 0)
          throw new Error(`warm-up build failed:\n${warmup.stderr.slice(-4000)}`);
      }
    }
    let result: Awaited<ReturnType<typeof runBazel>> | undefined;
    const build = async (): Promise<void> => {
      result = await runBazel(ws, ['build', `//${MAIN_PACKAGE}/...`, ...plan.args]);
    };
    // The warm-up builds and the builds before deleted many files (sandboxes, build directories).
    await settleFileSystem();
    const start = performance.now();
    const actionsBefore = await plan.server?.actionCpuSeconds?.();
    const sample = plan.server === undefined ? undefined : await timed(plan.server, build);
    if (plan.server === undefined) await build();
    const actionsAfter = await plan.server?.actionCpuSeconds?.();
    const actionCpu =
      actionsBefore === undefined || actionsAfter === undefined
        ? undefined
        : actionsAfter - actionsBefore;
    const seconds = sample?.seconds ?? (performance.now() - start) / 1000;
    if (result === undefined || result.code !== 0) {
      throw new Error(`bazel build failed (${result?.code}):\n${result?.stderr.slice(-4000)}`);
    }
    const { byRunner } = parseRemoteCacheHits(result.stderr);
    return { seconds, byRunner, sample, actionCpu };
  } finally {
    await shutdownBazel(ws);
    plan.deferRemoval(ws.outputUserRoot);
    plan.deferRemoval(dirname(ws.dir));
  }
}

/**
 * Builds the first warm-up package on the server from a Bazel server of its
 * own, shut down after: Kiln's own just-in-time compilation (V8's) then does
 * not land in the timed build, as it would not for a service that has been
 * running for a while. Nothing of it is a cache hit for the main package.
 */
async function warmUpServer(plan: {
  readonly fixture: string;
  readonly args: readonly string[];
  readonly deferRemoval: (dir: string) => void;
}): Promise<void> {
  const ws = await createBazelWorkspace({ fixture: plan.fixture });
  try {
    const pkg = WARMUP_PACKAGES[0] as string;
    const warmup = await runBazel(ws, ['build', `//${pkg}/...`, ...plan.args]);
    if (warmup.code !== 0)
      throw new Error(`server warm-up build failed:\n${warmup.stderr.slice(-4000)}`);
  } finally {
    await shutdownBazel(ws);
    plan.deferRemoval(ws.outputUserRoot);
    plan.deferRemoval(dirname(ws.dir));
  }
}

/** Local and remote builds of one Bazel server state. */
interface Pair {
  readonly local: Build[];
  readonly remote: Build[];
}

/** Runs local and remote builds `runs` times per server state, alternating, and returns their rows. */
export async function bazelRows(options: BazelRowsOptions): Promise<ResultRow[]> {
  if (findBazel() === undefined) {
    return [
      {
        name: 'Bazel cold build, remote / local',
        unit: '×',
        best: Number.NaN,
        median: Number.NaN,
        samples: [],
        note: 'skipped: bazel not found',
      },
    ];
  }
  const graph = options.graph ?? DEFAULT_GRAPH;
  const actions = graph.layers * graph.width;
  const pairs: Record<BazelServerState, Pair> = {
    fresh: { local: [], remote: [] },
    warm: { local: [], remote: [] },
  };
  const removals: string[] = [];
  const deferRemoval = (dir: string): void => {
    removals.push(dir);
  };
  try {
    for (let run = 0; run < options.runs; run++) {
      const fixture = await mkdtemp(join(tmpdir(), 'kiln-bench-ws-'));
      removals.push(fixture);
      await writeGenruleWorkspace(fixture, graph, `${Date.now()}-${run}`);
      for (const state of ['fresh', 'warm'] as const) {
        const remoteBuild = async (): Promise<void> => {
          const server = await startExecServer({
            localWorkers: options.localWorkers,
            cpuProfDir: options.cpuProfDir,
            deferRemoval,
          });
          try {
            const args = [`--remote_executor=grpc://${server.address}`, '--remote_timeout=120'];
            // A warm Bazel server's warm-up builds warm Kiln too; a fresh one meets a Kiln that
            // has served another Bazel before, as a shared service has.
            if (state === 'fresh') await warmUpServer({ fixture, args, deferRemoval });
            pairs[state].remote.push(
              await coldBuild({ fixture, args, server, state, deferRemoval }),
            );
          } finally {
            await server.stop();
          }
        };
        const localBuild = async (): Promise<void> => {
          const plan = { fixture, args: [], server: undefined, state, deferRemoval };
          pairs[state].local.push(await coldBuild(plan));
        };
        // Alternate which goes first, so that neither always meets a warmer page cache.
        for (const step of run % 2 === 0 ? [localBuild, remoteBuild] : [remoteBuild, localBuild]) {
          await step();
        }
      }
    }
  } finally {
    for (const dir of removals) await rm(dir, { recursive: true, force: true });
  }
  for (const build of [...pairs.fresh.remote, ...pairs.warm.remote]) {
    if ((build.byRunner.remote ?? 0) < actions) {
      throw new Error(`the remote build ran only ${JSON.stringify(build.byRunner)} remotely`);
    }
  }
  const shape = `${actions} genrules in ${graph.layers} layers of ${graph.width}`;
  return [
    ...pairRows(pairs.warm, 'warm Bazel server', shape, options, true),
    ...pairRows(pairs.fresh, 'fresh Bazel server', shape, options, false),
  ];
}

/** The local, remote and ratio rows of one Bazel server state; `judged`: with the target. */
function pairRows(
  { local, remote }: Pair,
  state: string,
  shape: string,
  options: BazelRowsOptions,
  judged: boolean,
): ResultRow[] {
  const ratios = remote.map((b, i) => b.seconds / (local[i] as Build).seconds);
  const runners = (b: Build | undefined): string =>
    Object.entries(b?.byRunner ?? {})
      .map(([runner, n]) => `${n} ${runner}`)
      .join(', ');
  const seconds = (name: string, builds: Build[], extra: Partial<ResultRow>): ResultRow => {
    const values = builds.map((b) => b.seconds);
    return {
      name,
      unit: 's',
      best: Math.min(...values),
      median: median(values),
      samples: values,
      ...extra,
    };
  };
  const remoteSamples = remote.flatMap((b) => (b.sample === undefined ? [] : [b.sample]));
  const split = remote.map(cpuSplit);
  const bounds = split.map((cpu, i) => cpu.zeroCostSeconds / (local[i] as Build).seconds);
  const coreSeconds = (pick: (c: CpuSplit) => number): string => median(split.map(pick)).toFixed(1);
  return [
    seconds(`Bazel cold build, ${state}, local (default sandbox), ${shape}`, local, {
      note: `processes: ${runners(local[0])}; wall time of \`bazel build\``,
    }),
    seconds(
      `Bazel cold build, ${state}, --remote_executor, ${options.localWorkers} local workers`,
      remote,
      {
        // Not as the row's CPU columns: Bazel is "other" there, and would flag the row as disturbed.
        note:
          `processes: ${runners(remote[0])}; a fresh Kiln per run, using ` +
          `${remoteSamples.length === 0 ? '?' : meanCpu(remoteSamples).server.toFixed(2)} cores ` +
          '(its in-process worker and the actions included); CPU seconds per build (median): ' +
          `Kiln itself ${coreSeconds((c) => c.server)}, the actions ${coreSeconds((c) => c.actions)}, ` +
          `Bazel and everything else ${coreSeconds((c) => c.rest)}`,
      },
    ),
    {
      name: `Bazel cold build, ${state}, remote / local`,
      unit: '×',
      best: Math.min(...ratios),
      median: median(ratios),
      samples: ratios,
      ...(judged
        ? {
            target: TARGET_RATIO,
            note: `per run, ${options.runs} run(s), local and remote alternating first`,
          }
        : {
            note:
              `per run, ${options.runs} run(s), local and remote alternating first; not judged ` +
              `against the ${TARGET_RATIO.value} target, which Bazel's own warm-up of its remote ` +
              'code alone nearly uses up here (see the estimate row below)',
          }),
    },
    {
      name: `Bazel cold build, ${state}, remote / local for a server using no CPU (estimate)`,
      unit: '×',
      best: Math.min(...bounds),
      median: median(bounds),
      samples: bounds,
      note:
        "the remote build with Kiln's own CPU taken out: the CPU everything else used in it " +
        '(Bazel, the actions) spread over all cores, over the local time; a lower bound for ' +
        'any server on this machine, since the build is CPU-bound',
    },
  ];
}

/** Where a remote build's CPU went, in CPU seconds. */
interface CpuSplit {
  /** The server's own processes. */
  readonly server: number;
  /** The actions' processes. */
  readonly actions: number;
  /** Everything else: Bazel, the kernel, other processes. */
  readonly rest: number;
  /** Seconds the build would take if the server used no CPU and the rest kept every core busy. */
  readonly zeroCostSeconds: number;
}

function cpuSplit(build: Build): CpuSplit {
  const { sample, actionCpu = 0 } = build;
  if (sample === undefined) throw new Error('a remote build without a CPU sample');
  const tree = sample.serverCpu * sample.seconds;
  const rest = (sample.otherCpu + sample.clientCpu) * sample.seconds;
  return {
    server: tree - actionCpu,
    actions: actionCpu,
    rest,
    zeroCostSeconds: (rest + actionCpu) / availableParallelism(),
  };
}
