/**
 * One fuzz run: starts `kiln serve` as a child process, uploads the known
 * blobs, sends requests from several lanes at once (generic requests to
 * every method and targeted scenarios), checks health, integrity and
 * resources as it goes and at the end, and returns the counts.
 *
 * Request `i` draws everything from a generator seeded with (seed, i), so a
 * finding's input can be made again with `--seed S --only i`.
 */
import type { Client } from '@grpc/grpc-js';
import { BYTESTREAM_SCENARIOS } from './bytestream-scenarios.ts';
import { CAS_SCENARIOS } from './cas-scenarios.ts';
import { checkHealth, checkIntegrity, type ServerMetrics, serverMetrics } from './checks.ts';
import { Dictionary } from './dictionary.ts';
import { EXECUTE_SCENARIOS } from './execute-scenarios.ts';
import { FLOOD_SCENARIOS } from './flood-scenarios.ts';
import type { FuzzContext, Step, WrittenBlob } from './fuzz-context.ts';
import { genericRequest } from './generic-request.ts';
import { type KilnChild, startKilnChild } from './kiln-child.ts';
import { makeKnownBlobs, uploadKnownBlobs } from './known-blobs.ts';
import { startOrigin } from './origin.ts';
import { hashSeed, Prng } from './prng.ts';
import { rawClient } from './raw-calls.ts';
import { discoverMethods, type FuzzMethod } from './schema.ts';
import { Tally } from './tally.ts';

/** Options for {@link runFuzz}. */
export interface FuzzOptions {
  /** Repository root. */
  readonly root: string;
  /** Calls to make (a request may make several; the run stops at the first request past this). */
  readonly requests: number;
  /** Seed of every random choice. */
  readonly seed: string;
  /** Requests in flight at once; 16 by default. */
  readonly concurrency?: number;
  /** Scenarios never to pick (by name). */
  readonly exclude?: readonly string[];
  /** Only run request `only` (with the same seed, it is the same input). */
  readonly only?: number;
  /** Deadline of calls that must answer; 20 s by default. */
  readonly answerDeadlineMs?: number;
  /** Time between health and integrity checks during the run; 10 s by default. */
  readonly checkEveryMs?: number;
  /** After the run, how long to wait for RSS to fall under `settleRssBytes`; 10 s by default. */
  readonly settleMs?: number;
  /** The RSS the server should fall back under after the run; 400 MB by default. */
  readonly settleRssBytes?: number;
  /** Progress lines. */
  readonly progress?: (line: string) => void;
}

/** The result of a run. */
export interface FuzzResult {
  readonly tally: Tally;
  readonly methods: readonly FuzzMethod[];
  readonly seed: string;
  readonly durationMs: number;
  /** Set when the server exited during the run. */
  readonly crash: { code: number | null; signal: string | null; stderrTail: string } | undefined;
  /** Error and fatal lines the server logged. */
  readonly serverErrors: ReturnType<KilnChild['errorLines']>;
  /** The server's process failure counter and memory gauges at the end (absent after a crash). */
  readonly metrics: ServerMetrics | undefined;
}

const SCENARIOS = {
  ...BYTESTREAM_SCENARIOS,
  ...CAS_SCENARIOS,
  ...EXECUTE_SCENARIOS,
  ...FLOOD_SCENARIOS,
};

/**
 * How often a scenario is picked relative to the others, when not 1. A
 * flood makes up to 100 calls. The rarest are the heaviest: a 2^40-entry
 * input root (refused before anything is expanded) and a FindMissingBlobs
 * of 400,000 digests (about 270 MB of server memory while it runs).
 */
const RARE: Readonly<Record<string, number>> = {
  'execute-diamond': 0.01,
  'find-missing-huge': 0.01,
  'read-flood': 0.05,
  'write-flood': 0.05,
  'execute-hostile': 0.5,
};

const DEFAULT_WEIGHTS: Readonly<Record<string, number>> = Object.fromEntries(
  Object.keys(SCENARIOS).map((name) => [name, RARE[name] ?? 1]),
);

/** An RSS rise between two samples (1 s apart) worth naming the requests behind it. */
const RSS_JUMP_BYTES = 48e6;

/** Runs the fuzzer against a fresh `kiln serve`. */
export async function runFuzz(options: FuzzOptions): Promise<FuzzResult> {
  const progress = options.progress ?? (() => {});
  const answerDeadlineMs = options.answerDeadlineMs ?? 20_000;
  const unknown = (options.exclude ?? []).filter((name) => !(name in SCENARIOS));
  if (unknown.length > 0) throw new Error(`no scenario named ${unknown.join(', ')}`);
  const weights = Object.fromEntries(
    Object.entries(DEFAULT_WEIGHTS).filter(([name]) => !options.exclude?.includes(name)),
  );
  const schema = await discoverMethods(options.root);
  const byKey = new Map(schema.methods.map((m) => [m.key, m]));
  const known = makeKnownBlobs(new Prng(hashSeed(options.seed, 'known')));
  const origin = await startOrigin(known, new Prng(hashSeed(options.seed, 'garbage')).bytes(4096));
  const child = await startKilnChild({
    root: options.root,
    config: {
      // Remote Asset downloads stay on this machine: only the local origin is reachable.
      remoteAsset: {
        allowedHosts: ['127.0.0.1'],
        connectTimeout: '1s',
        defaultTimeout: '5s',
        maxTimeout: '5s',
      },
    },
  }).catch(async (err: unknown) => {
    await origin.close();
    throw err;
  });
  const clients: Client[] = [0, 1, 2, 3].map((i) => rawClient(child.address, i === 3));
  const tally = new Tally();
  const written: WrittenBlob[] = [];
  const dict = new Dictionary({ blobs: known, originUrl: origin.url });
  const start = performance.now();
  let monitor: NodeJS.Timeout | undefined;
  try {
    const [client] = clients as [Client];
    await uploadKnownBlobs(client, known);
    tally.baseline(await child.resources());
    progress(
      `fuzzing kiln (pid ${child.pid}, ${child.address}) with seed ${options.seed}: ` +
        `${schema.methods.length} methods, ${Object.keys(SCENARIOS).length} scenarios`,
    );

    let checking = false;
    let lastCheck = performance.now();
    let lastProgress = performance.now();
    let checks = 0;
    // Requests in flight and finished since the last sample, to name the cause of an RSS jump.
    const active = new Map<number, string>();
    let recent: string[] = [];
    let lastRss = tally.resources.baselineRssBytes;
    const periodic = async (): Promise<void> => {
      if (child.exit() !== undefined) return;
      const r = await child.resources().catch(() => undefined);
      if (r) {
        tally.sample(r);
        if (r.rssBytes - lastRss > RSS_JUMP_BYTES) {
          tally.rssJump(lastRss, r.rssBytes, [...active.values(), ...recent]);
        }
        lastRss = r.rssBytes;
        recent = [];
      }
      const now = performance.now();
      if (now - lastProgress > 5000 && r) {
        lastProgress = now;
        const rate = tally.calls / ((now - start) / 1000);
        progress(
          `${tally.calls}/${options.requests} calls, ${rate.toFixed(0)}/s, ` +
            `RSS ${(r.rssBytes / 1e6).toFixed(0)} MB, ${r.fds} fds, server CPU ${tally.resources.cpuSeconds.toFixed(1)} s`,
        );
      }
      if (checking || now - lastCheck < (options.checkEveryMs ?? 10_000)) return;
      checking = true;
      lastCheck = now;
      try {
        await runChecks(checks++ % 2 === 1);
      } finally {
        checking = false;
      }
    };
    const runChecks = async (zstd: boolean): Promise<void> => {
      const health = await checkHealth(client, answerDeadlineMs);
      if (health !== undefined) {
        tally.finding({
          kind: 'health',
          method: 'Capabilities.GetCapabilities',
          index: -1,
          input: 'health check',
          message: health,
        });
      }
      const problems = await checkIntegrity(client, known, written, {
        deadlineMs: answerDeadlineMs,
        zstd,
      });
      for (const p of problems) {
        tally.finding({
          kind: p.kind,
          method: p.method,
          index: -1,
          input: 'integrity check',
          message: p.message,
        });
      }
    };
    monitor = setInterval(() => void periodic(), 1000);

    let next = options.only ?? 0;
    const last = options.only ?? Number.POSITIVE_INFINITY;
    const lane = async (): Promise<void> => {
      while (tally.calls < options.requests && next <= last && child.exit() === undefined) {
        const index = next++;
        const ctx: FuzzContext = {
          index,
          rng: new Prng(hashSeed(options.seed, index)),
          dict,
          client: clients[index % clients.length] as Client,
          answerDeadlineMs,
          method(key) {
            const method = byKey.get(key);
            if (method === undefined) throw new Error(`no method ${key} in the generated services`);
            return method;
          },
          report(kind, method, input, message) {
            tally.finding({ kind, method, index, input, message });
          },
          written(blob) {
            if (blob.data.length > 256 * 1024) return;
            written.push(blob);
            if (written.length > 500) written.shift();
          },
        };
        const steps = await oneRequest(ctx, schema.methods, weights, tally, (name) => {
          if (name === undefined) {
            recent.push(active.get(index) ?? '');
            active.delete(index);
          } else active.set(index, name);
        });
        for (const step of steps) {
          if (child.exit() !== undefined) break;
          tally.step(step, index);
        }
      }
    };
    await Promise.all(
      Array.from({ length: options.only === undefined ? (options.concurrency ?? 16) : 1 }, lane),
    );
    clearInterval(monitor);
    monitor = undefined;

    if (child.exit() === undefined) {
      progress('final checks');
      await runChecks(false);
      await runChecks(true);
      await settle(child, tally, options.settleMs ?? 10_000, options.settleRssBytes ?? 400e6);
    }
    const metrics =
      child.exit() === undefined
        ? await serverMetrics(child.httpAddress).catch(() => undefined)
        : undefined;
    const exit = child.exit();
    return {
      tally,
      methods: schema.methods,
      seed: options.seed,
      durationMs: performance.now() - start,
      crash: exit === undefined ? undefined : { ...exit, stderrTail: child.stderrTail() },
      serverErrors: child.errorLines(),
      metrics,
    };
  } finally {
    if (monitor !== undefined) clearInterval(monitor);
    for (const c of clients) c.close();
    await child.stop();
    await origin.close();
  }
}

/** One request: a generic call to a method (60%) or a scenario (40%). */
async function oneRequest(
  ctx: FuzzContext,
  methods: readonly FuzzMethod[],
  weights: Readonly<Record<string, number>>,
  tally: Tally,
  running: (name: string | undefined) => void,
): Promise<Step[]> {
  const useScenario = ctx.rng.chance(0.4);
  const name = useScenario ? ctx.rng.weighted(weights) : 'generic';
  tally.request(name);
  try {
    if (useScenario) {
      running(name);
      return await (SCENARIOS[name] as (c: FuzzContext) => Promise<Step[]>)(ctx);
    }
    const method = ctx.rng.pick(methods);
    running(`${method.key} (generic)`);
    return await genericRequest(ctx, method);
  } catch (err) {
    // A fuzzer bug, not a server one: say so loudly rather than count it.
    throw new Error(`request ${ctx.index} (${name}) failed in the fuzzer: ${(err as Error).stack}`);
  } finally {
    running(undefined);
  }
}

/** Waits until the server's RSS is under `bytes` (or `ms` passed), then takes the final sample. */
async function settle(child: KilnChild, tally: Tally, ms: number, bytes: number): Promise<void> {
  const end = performance.now() + ms;
  // A moment for the server to finish with calls the fuzzer has just cancelled.
  await new Promise((resolve) => setTimeout(resolve, 1000));
  for (;;) {
    const r = await child.resources();
    tally.sample(r);
    if (r.rssBytes < bytes || performance.now() >= end) return;
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}
