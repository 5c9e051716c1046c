/**
 * Bazel 4.2.3 building a generated workspace of small genrules, cold, once
 * with remote execution on a fresh `kiln serve` and once locally, each from a
 * fresh output base: the comparison a user makes before switching a build to
 * remote execution on the same machine.
 *
 * The local build uses Bazel's default strategy (the sandbox, as `bazel
 * build` with no flags does): that is what a user compares against. Both
 * builds use the e2e harness's offline options, including its `--jobs=4`.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type BazelWorkspace,
  createBazelWorkspace,
  findBazel,
  parseRemoteCacheHits,
  runBazel,
} from '../test/e2e/bazel-harness.ts';
import { startExecServer } from './exec-bench.ts';
import { meanCpu, median, type Sample, timed } from './measure.ts';
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
const TARGET_RATIO = { op: '<=', value: 1.2 } as const;

/**
 * Writes a workspace of `layers × width` genrules. `nonce` goes into every
 * output, so no two runs share an action.
 */
export async function writeGenruleWorkspace(
  dir: string,
  graph: GenruleGraph,
  nonce: string,
): Promise<void> {
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
  await writeFile(join(dir, 'WORKSPACE'), 'workspace(name = "kiln_bench")\n');
  await writeFile(
    join(dir, '.bazelignore'),
    'bazel-bin\nbazel-out\nbazel-testlogs\nbazel-workspace\n',
  );
  await writeFile(join(dir, 'BUILD'), `${rules.join('\n')}\n`);
}

/** One timed build. */
interface Build {
  readonly seconds: number;
  /** Processes Bazel ran, by runner (`remote`, `linux-sandbox`, …). */
  readonly byRunner: Readonly<Record<string, number>>;
  readonly sample?: Sample;
}

/**
 * Builds `//...` cold in a fresh copy of `fixture` with its own output base,
 * after starting the Bazel server (not timed), and shuts Bazel down after.
 */
async function coldBuild(
  fixture: string,
  args: readonly string[],
  server: ServerProcess | undefined,
): Promise<Build> {
  const ws: BazelWorkspace = await createBazelWorkspace({ fixture });
  try {
    const started = await runBazel(ws, ['info', 'release']);
    if (started.code !== 0) throw new Error(`bazel info failed:\n${started.stderr}`);
    let result: Awaited<ReturnType<typeof runBazel>> | undefined;
    const build = async (): Promise<void> => {
      result = await runBazel(ws, ['build', '//...', ...args]);
    };
    const start = performance.now();
    const sample = server === undefined ? undefined : await timed(server, build);
    if (server === undefined) await build();
    const seconds = sample?.seconds ?? (performance.now() - start) / 1000;
    if (result === undefined || result.code !== 0) {
      throw new Error(`bazel build failed (${result?.code}):\n${result?.stderr.slice(-4000)}`);
    }
    return { seconds, byRunner: parseRemoteCacheHits(result.stderr).byRunner, sample };
  } finally {
    await ws.cleanup();
  }
}

/** Runs the local and remote builds `runs` times each, alternating, and returns their rows. */
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
  const local: Build[] = [];
  const remote: Build[] = [];
  for (let run = 0; run < options.runs; run++) {
    const fixture = await mkdtemp(join(tmpdir(), 'kiln-bench-ws-'));
    try {
      await writeGenruleWorkspace(fixture, graph, `${Date.now()}-${run}`);
      const remoteBuild = async (): Promise<void> => {
        const server = await startExecServer({
          localWorkers: options.localWorkers,
          cpuProfDir: options.cpuProfDir,
        });
        try {
          const remoteArgs = [`--remote_executor=grpc://${server.address}`, '--remote_timeout=120'];
          remote.push(await coldBuild(fixture, remoteArgs, server));
        } finally {
          await server.stop();
        }
      };
      const localBuild = async (): Promise<void> => {
        local.push(await coldBuild(fixture, [], undefined));
      };
      // Alternate which goes first, so that neither always meets a warmer page cache.
      for (const step of run % 2 === 0 ? [localBuild, remoteBuild] : [remoteBuild, localBuild]) {
        await step();
      }
    } finally {
      await rm(fixture, { recursive: true, force: true });
    }
  }
  for (const build of remote) {
    if ((build.byRunner.remote ?? 0) < actions) {
      throw new Error(`the remote build ran only ${JSON.stringify(build.byRunner)} remotely`);
    }
  }
  const localSeconds = local.map((b) => b.seconds);
  const remoteSeconds = remote.map((b) => b.seconds);
  const ratios = remote.map((b, i) => b.seconds / (local[i] as Build).seconds);
  const runners = (b: Build | undefined): string =>
    Object.entries(b?.byRunner ?? {})
      .map(([runner, n]) => `${n} ${runner}`)
      .join(', ');
  const shape = `${actions} genrules in ${graph.layers} layers of ${graph.width}`;
  const seconds = (name: string, values: number[], extra: Partial<ResultRow>): ResultRow => ({
    name,
    unit: 's',
    best: Math.min(...values),
    median: median(values),
    samples: values,
    ...extra,
  });
  const remoteSamples = remote.flatMap((b) => (b.sample === undefined ? [] : [b.sample]));
  return [
    seconds(`Bazel cold build, local (default sandbox), ${shape}`, localSeconds, {
      note: `processes: ${runners(local[0])}; wall time of \`bazel build\` after the server started`,
    }),
    seconds(
      `Bazel cold build, --remote_executor, ${options.localWorkers} local workers`,
      remoteSeconds,
      {
        // Not as the row's CPU columns: Bazel is "other" there, and would flag the row as disturbed.
        note:
          `processes: ${runners(remote[0])}; a fresh Kiln per run, using ` +
          `${remoteSamples.length === 0 ? '?' : meanCpu(remoteSamples).server.toFixed(2)} cores ` +
          '(its in-process worker and the actions included)',
      },
    ),
    {
      name: 'Bazel cold build, remote / local',
      unit: '×',
      best: Math.min(...ratios),
      median: median(ratios),
      samples: ratios,
      target: TARGET_RATIO,
      note: `per run, ${options.runs} run(s), local and remote alternating first`,
    },
  ];
}
