/**
 * Reference rows: what this machine does without Kiln, measured in the same
 * run, so that a number from one machine means something on another. One
 * core's SHA-256 rate, a minimal grpc-js server (reference-server.ts)
 * answering 1000-digest FindMissingBlobs from memory and streaming 1 MiB
 * messages, and the rate of no-op fork/exec (`/bin/true`). Every storage,
 * RPC and execution row is then also printed as a ratio to one of them
 * ({@link withRatios}).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { measureReads } from './bytestream-bench.ts';
import { measureFindMissing } from './cas-bench.ts';
import { openChannels } from './clients.ts';
import { meanCpu, median, type Sample, sleep, timed } from './measure.ts';
import type { ResultRow } from './report.ts';
import type { ServerProcess } from './server-process.ts';

const MB = 1_000_000;
const CLOCK_TICKS_PER_SECOND = 100;
const SHA_BYTES = 128 * 1024 * 1024;
const SPAWN_WINDOW_MS = 1000;
const SPAWNS_IN_FLIGHT = 2;

/** Digests the reference server holds: {@link referenceDigest} of 0 to this, exclusive. */
export const REFERENCE_PRESENT = 500;
/** Bytes of one streamed message, and messages per Read call. */
export const REFERENCE_CHUNK_BYTES = 1024 * 1024;
export const REFERENCE_READ_CHUNKS = 64;
/** The `i`-th digest the reference server holds. */
export function referenceDigest(i: number): { hash: string; sizeBytes: number } {
  return { hash: createHash('sha256').update(`reference-${i}`).digest('hex'), sizeBytes: 4096 };
}

/** The references a row can be compared with. */
export type ReferenceKey = 'sha256' | 'unary' | 'stream' | 'spawn';

/** Each reference's row name. */
export const REFERENCE_NAMES: Readonly<Record<ReferenceKey, string>> = {
  sha256: 'Reference: SHA-256, one core',
  unary: 'Reference: minimal grpc-js server, FindMissingBlobs 1000 digests from memory',
  stream: 'Reference: minimal grpc-js server streaming 1 MiB messages',
  spawn: 'Reference: fork/exec of /bin/true',
};

/** Short names for the ratio column. */
const SHORT: Readonly<Record<ReferenceKey, string>> = {
  sha256: 'SHA-256',
  unary: 'unary',
  stream: 'stream',
  spawn: 'spawn',
};

/** The reference medians (per second) measured, by key. */
export type References = Partial<Record<ReferenceKey, number>>;

/**
 * Which reference a row compares with, or undefined for rows that are not
 * rates or times of storage, RPC or execution work (memory, CPU shares,
 * ratios, the references themselves).
 */
export function referenceOf(row: Pick<ResultRow, 'name' | 'unit'>): ReferenceKey | undefined {
  const { name, unit } = row;
  if (name.startsWith('Reference')) return undefined;
  if (!unit.endsWith('/s') && unit !== 'ms' && unit !== 's') return undefined;
  if (name.startsWith('ByteStream.')) return 'stream';
  if (name.startsWith('BatchUpdateBlobs') && unit === 'MB/s') return 'sha256';
  if (name.startsWith('BatchUpdateBlobs') || name.startsWith('FindMissingBlobs')) return 'unary';
  if (name.startsWith('Fleet')) return 'unary';
  if (name.startsWith('Execute') || name.startsWith('Bazel')) return 'spawn';
  return undefined;
}

/**
 * The ratio of a row's median to its reference's. A rate is divided by the
 * reference rate; a time is expressed in the reference's time per operation
 * (how many reference operations take as long). Undefined without a reference.
 */
export function ratioTo(
  row: Pick<ResultRow, 'name' | 'unit' | 'median'>,
  references: References,
): { value: number; to: string } | undefined {
  const key = referenceOf(row);
  const rate = key === undefined ? undefined : references[key];
  if (key === undefined || rate === undefined || !(rate > 0)) return undefined;
  const seconds = row.unit === 'ms' ? row.median / 1000 : row.unit === 's' ? row.median : undefined;
  const value = seconds === undefined ? row.median / rate : seconds * rate;
  return { value, to: SHORT[key] };
}

/**
 * The rows with their ratios to the references filled in; a row that
 * already has a ratio (to a reference of its own run) keeps it.
 */
export function withRatios(rows: readonly ResultRow[], references: References): ResultRow[] {
  return rows.map((row) => {
    if (row.ratio !== undefined) return row;
    const ratio = ratioTo(row, references);
    return ratio === undefined ? row : { ...row, ratio };
  });
}

/**
 * A stand-in server that uses no CPU, for work done in this process: its
 * CPU then shows in the client column only.
 */
function selfAsServer(): ServerProcess {
  return { ...processStats(process.pid, '', async () => {}), cpuSeconds: async () => 0 };
}

/** CPU and memory of process `pid` from /proc. */
export function processStats(
  pid: number,
  address: string,
  stop: () => Promise<void>,
): ServerProcess {
  const statusBytes = async (field: string): Promise<number> => {
    const text = await readFile(`/proc/${pid}/status`, 'utf8');
    const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(text);
    return Number(match?.[1] ?? 0) * 1024;
  };
  return {
    address,
    pid,
    async cpuSeconds() {
      const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_SECOND;
    },
    peakRssBytes: () => statusBytes('VmHWM'),
    rssBytes: () => statusBytes('VmRSS'),
    stop,
  };
}

/** Hashes {@link SHA_BYTES} in 1 MiB updates per run, on this process's thread. */
async function measureSha256(runs: number): Promise<Sample[]> {
  const self = selfAsServer();
  const data = randomBytes(1024 * 1024);
  const samples: Sample[] = [];
  for (let run = 0; run <= runs; run++) {
    const sample = await timed(self, async () => {
      const hash = createHash('sha256');
      for (let at = 0; at < SHA_BYTES; at += data.byteLength) hash.update(data);
      hash.digest();
    });
    if (run > 0) samples.push(sample); // run 0 warms up
  }
  return samples;
}

function spawnTrue(): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('/bin/true', [], { stdio: 'ignore' });
    child.once('error', reject);
    child.once('exit', (code) =>
      code === 0 ? resolve() : reject(new Error(`/bin/true exited with ${code}`)),
    );
  });
}

/** Spawns /bin/true, {@link SPAWNS_IN_FLIGHT} at a time, for one window per run. */
async function measureSpawns(runs: number): Promise<{ rate: number; sample: Sample }[]> {
  const self = selfAsServer();
  const results: { rate: number; sample: Sample }[] = [];
  for (let run = 0; run < runs; run++) {
    let done = 0;
    const sample = await timed(self, async () => {
      const until = performance.now() + SPAWN_WINDOW_MS;
      await Promise.all(
        Array.from({ length: SPAWNS_IN_FLIGHT }, async () => {
          while (performance.now() < until) {
            await spawnTrue();
            done++;
          }
        }),
      );
    });
    results.push({ rate: done / sample.seconds, sample });
  }
  return results;
}

/** Starts reference-server.ts as a child and waits for its address. */
async function startReferenceServer(root: string): Promise<ServerProcess> {
  const child: ChildProcess = spawn(
    join(root, 'node_modules/.bin/node'),
    [join(root, 'bench/reference-server.ts')],
    { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const exited = once(child, 'exit');
  const address = await new Promise<string>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error('the reference server did not start')), 20_000);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the reference server exited early (${code})`));
    });
    child.stdout?.setEncoding('utf8').on('data', (text: string) => {
      out += text;
      const match = /reference serving on (\S+)/.exec(out);
      if (match) {
        clearTimeout(timer);
        resolve(match[1] as string);
      }
    });
  }).catch((err: unknown) => {
    child.kill('SIGKILL');
    throw err;
  });
  return processStats(child.pid as number, address, async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    }
  });
}

/** Options of {@link referenceRows}. */
export interface ReferenceOptions {
  readonly root: string;
  readonly runs: number;
  /** Client connections and calls in flight, as for Kiln's FindMissingBlobs row. */
  readonly channels: number;
  readonly findsInFlight: number;
}

/** Measures the references; returns their rows and medians. */
export async function referenceRows(
  options: ReferenceOptions,
): Promise<{ rows: ResultRow[]; references: References }> {
  const { runs } = options;
  const rows: ResultRow[] = [];
  const references: References = {};
  const add = (
    key: ReferenceKey,
    unit: string,
    rates: number[],
    samples: Sample[],
    note: string,
  ): void => {
    const value = median(rates);
    references[key] = value;
    rows.push({
      name: REFERENCE_NAMES[key],
      unit,
      best: Math.max(...rates),
      median: value,
      samples: rates,
      cpu: meanCpu(samples),
      note,
    });
  };

  const sha = await measureSha256(runs);
  add(
    'sha256',
    'MB/s',
    sha.map((s) => SHA_BYTES / MB / s.seconds),
    sha,
    `${SHA_BYTES / 1024 / 1024} MiB in 1 MiB updates per run, in the bench process (client CPU column)`,
  );

  const server = await startReferenceServer(options.root);
  const channels = openChannels(server.address, options.channels);
  try {
    const present = Array.from({ length: REFERENCE_PRESENT }, (_, i) => referenceDigest(i));
    const find = await measureFindMissing({
      server,
      channels,
      present,
      digestsPerRequest: 2 * REFERENCE_PRESENT,
      inFlight: options.findsInFlight,
      windows: runs,
    });
    add(
      'unary',
      'req/s',
      find.windows.map((w) => w.requestsPerSecond),
      find.windows.map((w) => w.sample),
      `the FindMissingBlobs load of the Kiln row (half present, ${options.findsInFlight} in flight, ` +
        `${options.channels} connections) against a grpc-js server holding the digests in a Set, ` +
        'with Kiln’s message limits and HTTP/2 windows',
    );
    const bytes = REFERENCE_CHUNK_BYTES * REFERENCE_READ_CHUNKS;
    const reads = await measureReads({
      server,
      client: channels.at(0).byteStream,
      hash: referenceDigest(0).hash,
      size: bytes,
      runs,
    });
    add(
      'stream',
      'MB/s',
      reads.map((s) => bytes / MB / s.seconds),
      reads,
      `one ByteStream.Read of ${REFERENCE_READ_CHUNKS} messages of 1 MiB encoded once, ` +
        'the client of the Kiln read row',
    );
  } finally {
    channels.close();
    await server.stop();
  }

  await sleep(200);
  const spawns = await measureSpawns(runs);
  add(
    'spawn',
    'spawns/s',
    spawns.map((s) => s.rate),
    spawns.map((s) => s.sample),
    `child_process.spawn of /bin/true, ${SPAWNS_IN_FLIGHT} at a time, ` +
      `${runs} window(s) of ${SPAWN_WINDOW_MS} ms (client CPU column)`,
  );
  return { rows, references };
}
