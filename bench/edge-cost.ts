/**
 * Kiln's own cost per call at the gRPC edge, beside grpc-js's: server CPU
 * per GetCapabilities and per FindMissingBlobs of 10 digests, and server heap
 * per pending UpdateBotSession (a long poll, as every idle worker holds one).
 * Kiln's gRPC server (observed, in-memory scheduler, protected mode) is
 * compared with minimal grpc-js servers: reference-server.ts for
 * FindMissingBlobs, and one whose UpdateBotSession never answers for the
 * heap. Each server is a child process with `kiln serve`'s heap flags; CPU
 * is read from /proc, heap after forced collections.
 *
 * Run: `node bench/edge-cost.ts [--runs N] [--calls N] [--polls N]`.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { credentials, Metadata, Server, ServerCredentials } from '@grpc/grpc-js';
import { ActionCache } from '../src/cache/action-cache.ts';
import { CLIENT_CHANNEL_OPTIONS } from '../src/client/channel-options.ts';
import {
  CapabilitiesClient,
  ContentAddressableStorageClient,
} from '../src/gen/build/bazel/remote/execution/v2/remote_execution.js';
import {
  type BotSession,
  BotsClient,
  type BotsServer,
  BotsService,
} from '../src/gen/google/devtools/remoteworkers/v1test2/bots.js';
import { createObservability } from '../src/observe/observability.ts';
import { InMemoryScheduler } from '../src/scheduler/in-memory-scheduler.ts';
import { startGrpcServer } from '../src/server/grpc-server.ts';
import { MemoryBlobStore } from '../src/storage/memory-blob-store.ts';
import { VerifyingBlobStore } from '../src/storage/verifying-blob-store.ts';
import { silentLogger } from '../src/util/logger.ts';
import { median } from './measure.ts';
import { referenceDigest } from './reference-bench.ts';

const ROOT = join(import.meta.dirname, '..');
const NODE_FLAGS = [
  '--max-semi-space-size=4',
  '--external-memory-accounted-in-global-limit',
  '--heap-growing-percent=50',
  '--expose-gc',
];
const WARM_UP_CALLS = 3000;
const IN_FLIGHT = 16;
/** Linux reports CPU times in /proc/<pid>/stat in clock ticks of 1/100 s. */
const MICROS_PER_TICK = 10_000;

type Role = 'kiln' | 'floor';

/** A bot session as the simulated workers send it. */
function botSession(name: string, botId: string): BotSession {
  return {
    name,
    botId,
    status: 1,
    worker: { devices: [], properties: [{ key: 'OSFamily', value: 'linux' }], configs: [] },
    leases: [],
    expireTime: undefined,
    version: '',
  };
}

/** Answers `heap` on stdin with the heap used after collections, until stdin ends. */
async function answerHeapQueries(): Promise<void> {
  const gc = (globalThis as { gc?: () => void }).gc;
  for await (const line of createInterface({ input: process.stdin })) {
    if (line !== 'heap') continue;
    for (let i = 0; i < 4; i++) gc?.();
    process.stdout.write(`heap ${process.memoryUsage().heapUsed}\n`);
  }
}

/** The child: Kiln's gRPC server, or a grpc-js server whose polls never end. */
async function serve(role: Role): Promise<void> {
  let address: string;
  let stop: () => Promise<void>;
  if (role === 'kiln') {
    const cas = new VerifyingBlobStore({ backend: new MemoryBlobStore({ maxBytes: 256 << 20 }) });
    const actionCacheStore = new MemoryBlobStore({ maxBytes: 64 << 20 });
    const actionCache = new ActionCache({ store: actionCacheStore, cas });
    const scheduler = new InMemoryScheduler({ actionCache, policy: { workerTimeoutMs: 600_000 } });
    const observed = createObservability({
      cas,
      actionCacheStore,
      scheduler,
      processMetrics: false,
    });
    const server = await startGrpcServer({
      listen: '127.0.0.1:0',
      cas: observed.cas,
      actionCacheStore,
      actionCache,
      scheduler: observed.scheduler,
      workerTimeoutMs: 600_000,
      rpcObserver: observed.observer,
      log: silentLogger(),
    });
    address = server.address;
    stop = async () => {
      await scheduler.close();
      await server.close();
    };
  } else {
    const server = new Server({ 'grpc.enable_channelz': 0 });
    let sessions = 0;
    const bots: BotsServer = {
      createBotSession: (call, callback) =>
        callback(null, {
          ...botSession('', ''),
          ...call.request.botSession,
          name: `s${sessions++}`,
        }),
      // Never answered: the call stays pending until the client cancels it.
      updateBotSession: () => {},
    };
    server.addService(BotsService, bots);
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (err, p) =>
        err ? reject(err) : resolve(p),
      ),
    );
    address = `127.0.0.1:${port}`;
    stop = async () => {
      server.forceShutdown();
    };
  }
  process.stdout.write(`serving on ${address}\n`);
  await answerHeapQueries();
  await stop();
  process.exit(0);
}

/** A server child and its stdout lines. */
interface Child {
  readonly proc: ChildProcess;
  readonly address: string;
  nextLine(): Promise<string>;
  cpuMicros(): number;
  heapBytes(): Promise<number>;
  stop(): Promise<void>;
}

async function startChild(args: readonly string[]): Promise<Child> {
  const proc = spawn(join(ROOT, 'node_modules/.bin/node'), [...NODE_FLAGS, ...args], {
    cwd: ROOT,
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const waiting: ((line: string) => void)[] = [];
  createInterface({ input: proc.stdout as NodeJS.ReadableStream }).on('line', (line) =>
    waiting.shift()?.(line),
  );
  const nextLine = () => new Promise<string>((resolve) => waiting.push(resolve));
  const address = (await nextLine()).split(' ').pop() ?? '';
  return {
    proc,
    address,
    nextLine,
    cpuMicros: () => {
      const fields = (readFileSync(`/proc/${proc.pid}/stat`, 'utf8').split(') ')[1] ?? '').split(
        ' ',
      );
      return (Number(fields[11]) + Number(fields[12])) * MICROS_PER_TICK;
    },
    heapBytes: async () => {
      proc.stdin?.write('heap\n');
      return Number((await nextLine()).split(' ')[1]);
    },
    stop: async () => {
      const exited = new Promise((resolve) => proc.once('exit', resolve));
      proc.stdin?.end();
      proc.kill('SIGTERM');
      await exited;
    },
  };
}

function unary(start: (done: (err: Error | null) => void) => void): Promise<void> {
  return new Promise((resolve, reject) => start((err) => (err ? reject(err) : resolve())));
}

/** Server CPU microseconds per call of `call`, over `calls` calls after a warm-up. */
async function cpuPerCall(child: Child, calls: number, call: () => Promise<void>): Promise<number> {
  const run = async (n: number): Promise<void> => {
    let next = 0;
    const lane = async (): Promise<void> => {
      while (next++ < n) await call();
    };
    await Promise.all(Array.from({ length: IN_FLIGHT }, lane));
  };
  await run(WARM_UP_CALLS);
  const before = child.cpuMicros();
  await run(calls);
  return (child.cpuMicros() - before) / calls;
}

/** Server heap bytes per pending UpdateBotSession, over `polls` sessions. */
async function heapPerPoll(child: Child, polls: number): Promise<number> {
  const clients = Array.from(
    { length: 4 },
    () =>
      new BotsClient(child.address, credentials.createInsecure(), {
        ...CLIENT_CHANNEL_OPTIONS,
        'grpc.use_local_subchannel_pool': 1,
      }),
  );
  const sessions: { name: string; botId: string; client: BotsClient }[] = [];
  for (let i = 0; i < polls; i++) {
    const client = clients[i % clients.length] as BotsClient;
    const created = await new Promise<BotSession>((resolve, reject) =>
      client.createBotSession(
        { parent: '', botSession: botSession('', `bot-${i}`) },
        new Metadata(),
        (err, res) => (err || res === undefined ? reject(err) : resolve(res)),
      ),
    );
    sessions.push({ name: created.name, botId: `bot-${i}`, client });
  }
  const before = await child.heapBytes();
  const pending = sessions.map((s) =>
    s.client.updateBotSession(
      { name: s.name, botSession: botSession(s.name, s.botId), updateMask: undefined },
      new Metadata(),
      { deadline: Date.now() + 120_000 },
      () => {},
    ),
  );
  // Every poll reached its handler: they are cheap, and 3 s is far more than enough.
  await new Promise((resolve) => setTimeout(resolve, 3000));
  const after = await child.heapBytes();
  for (const call of pending) call.cancel();
  for (const client of clients) client.close();
  return (after - before) / polls;
}

/** One round: every server once. */
async function round(calls: number, polls: number): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  const self = join(ROOT, 'bench/edge-cost.ts');
  const kiln = await startChild([self, '--serve', 'kiln']);
  try {
    const channel = new ContentAddressableStorageClient(
      kiln.address,
      credentials.createInsecure(),
      CLIENT_CHANNEL_OPTIONS,
    );
    const caps = new CapabilitiesClient(kiln.address, credentials.createInsecure(), {
      ...CLIENT_CHANNEL_OPTIONS,
      channelOverride: channel.getChannel(),
    });
    out['Kiln GetCapabilities (µs of server CPU)'] = await cpuPerCall(kiln, calls, () =>
      unary((done) => caps.getCapabilities({ instanceName: '' }, done)),
    );
    out['Kiln FindMissingBlobs, 10 digests (µs)'] = await findMissing(kiln, calls);
    out['Kiln pending UpdateBotSession (heap bytes)'] = await heapPerPoll(kiln, polls);
    channel.close();
  } finally {
    await kiln.stop();
  }
  const reference = await startChild([join(ROOT, 'bench/reference-server.ts')]);
  try {
    out['grpc-js FindMissingBlobs, 10 digests (µs)'] = await findMissing(reference, calls);
  } finally {
    await reference.stop();
  }
  const floor = await startChild([self, '--serve', 'floor']);
  try {
    out['grpc-js pending UpdateBotSession (heap bytes)'] = await heapPerPoll(floor, polls);
  } finally {
    await floor.stop();
  }
  return out;
}

async function findMissing(child: Child, calls: number): Promise<number> {
  const client = new ContentAddressableStorageClient(
    child.address,
    credentials.createInsecure(),
    CLIENT_CHANNEL_OPTIONS,
  );
  // Half of them held by the reference server, as in its own rows.
  const blobDigests = Array.from({ length: 10 }, (_, i) => referenceDigest(i * 100));
  try {
    return await cpuPerCall(child, calls, () =>
      unary((done) =>
        client.findMissingBlobs({ instanceName: '', blobDigests, digestFunction: 0 }, done),
      ),
    );
  } finally {
    client.close();
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      serve: { type: 'string' },
      runs: { type: 'string', default: '3' },
      calls: { type: 'string', default: '20000' },
      polls: { type: 'string', default: '2000' },
    },
  });
  if (values.serve === 'kiln' || values.serve === 'floor') return serve(values.serve);
  const rounds: Record<string, number>[] = [];
  for (let i = 0; i < Number(values.runs); i++) {
    rounds.push(await round(Number(values.calls), Number(values.polls)));
  }
  for (const name of Object.keys(rounds[0] ?? {})) {
    const samples = rounds.map((r) => r[name] ?? Number.NaN);
    const best = Math.min(...samples);
    process.stdout.write(
      `${name}: best ${best.toFixed(0)}, median ${median(samples).toFixed(0)}\n`,
    );
  }
  process.exit(0);
}

await main();
