/**
 * `npm run bench`: throughput of Kiln's storage services against a real
 * `kiln serve` child process on the default configuration (disk CAS behind an
 * existence cache). Prints a Markdown table and writes `.bench/results.json`.
 *
 * Options (see options.ts, or `npm run bench -- --help`): `--runs N`
 * (repetitions, default 5), `--cpu-prof` (write the server's CPU profile to
 * `.bench/profiles/`), `--only a,b` (a subset of write, read, batch, find,
 * machine, exec, overhead, shaped, bazel, reference, fleet, s3, tracing, startup, postgres), `--channels N`
 * (client connections, default 4), `--bazel-runs N` (cold Bazel builds of
 * each kind, default 3), `--fleet-workers N` and friends (fleet-bench.ts).
 * `exec`, `overhead`, `bazel` and `fleet` measure remote execution on their
 * own servers (see exec-bench.ts, bazel-bench.ts and fleet-bench.ts). The
 * reference rows (reference-bench.ts) run first, and every other row that
 * has a reference is also printed as a ratio to it.
 * `BENCH_SERVER_NODE_FLAGS` passes extra Node flags to the server (e.g. `--trace-gc`) and
 * `BENCH_SERVER_OUTPUT=FILE` keeps the server's stdout and stderr in FILE.
 */
import { join, resolve } from 'node:path';
import { call } from '../test/support/grpc-clients.ts';
import { bazelRows } from './bazel-bench.ts';
import { bazelShapedRows } from './bazel-shaped-bench.ts';
import { BlobFactory, measureReads, measureWrites } from './bytestream-bench.ts';
import { measureBatchUpdates, measureFindMissing } from './cas-bench.ts';
import { openChannels } from './clients.ts';
import { execRows } from './exec-bench.ts';
import { fleetRows } from './fleet-bench.ts';
import { Http2ByteStreamWriter } from './http2-writer.ts';
import { measureFileWrites } from './machine-bench.ts';
import { meanCpu, median, type Sample, settleFileSystem } from './measure.ts';
import { HELP, parseBenchArgs, UsageError } from './options.ts';
import { postgresRows } from './postgres-bench.ts';
import { type References, referenceRows, withRatios } from './reference-bench.ts';
import { type ResultRow, toMarkdown, writeJson } from './report.ts';
import { s3Rows } from './s3-bench.ts';
import { startServerProcess } from './server-process.ts';
import { startupRows } from './startup-bench.ts';
import { tracingRows } from './tracing-bench.ts';

const ROOT = resolve(import.meta.dirname, '..');
const MB = 1_000_000;
const BLOB_BYTES = 64 * 1024 * 1024;
const SMALL_BLOBS = 1000;
const SMALL_BLOB_BYTES = 4 * 1024;
const DIGESTS_PER_FIND = 1000;
const FINDS_IN_FLIGHT = 16;
/** Cores used by other processes above which a measurement is flagged as disturbed. */
const OTHER_CPU_WARNING = 0.2;

const TARGETS = {
  writeMBps: { op: '>=', value: 400 },
  readMBps: { op: '>=', value: 600 },
  findPerSecond: { op: '>=', value: 800 },
  rssMB: { op: '<=', value: 300 },
} as const;

/** A row of rates: `amount` units per run, divided by each run's time. */
function rateRow(
  name: string,
  unit: string,
  amount: number,
  samples: Sample[],
  extra: Partial<ResultRow> = {},
): ResultRow {
  const rates = samples.map((s) => amount / s.seconds);
  return {
    name,
    unit,
    best: Math.max(...rates),
    median: median(rates),
    samples: rates,
    cpu: meanCpu(samples),
    ...extra,
  };
}

async function main(): Promise<void> {
  const parsed = parseBenchArgs(process.argv.slice(2));
  if (parsed === 'help') {
    process.stdout.write(HELP);
    return;
  }
  const { runs, only } = parsed;
  const rows: ResultRow[] = [];
  // The references first, before any Kiln server has run on the machine.
  let references: References = {};
  if ([...only].some((g) => g !== 'machine')) {
    const measured = await referenceRows({
      root: ROOT,
      runs,
      channels: parsed.channels,
      findsInFlight: FINDS_IN_FLIGHT,
    });
    rows.push(...measured.rows);
    references = measured.references;
  }
  if ((['write', 'read', 'batch', 'find', 'machine'] as const).some((g) => only.has(g))) {
    await storageRows(parsed.cpuProf, runs, only, parsed.channels, rows);
  }
  // Remote execution, after the storage server has stopped; each starts its own servers.
  const profileDir = parsed.cpuProf ? join(ROOT, '.bench/profiles') : undefined;
  rows.push(...(await execRows({ only, runs: Math.min(runs, 3), cpuProfDir: profileDir })));
  if (only.has('shaped')) {
    await settleFileSystem();
    rows.push(...(await bazelShapedRows({ runs: Math.min(runs, 3), cpuProfDir: profileDir })));
  }
  if (only.has('bazel')) {
    await settleFileSystem();
    rows.push(
      ...(await bazelRows({
        runs: parsed.bazelRuns,
        localWorkers: 2,
        cpuProfDir: profileDir,
      })),
    );
  }
  if (only.has('s3')) rows.push(...(await s3Rows({ runs: Math.min(runs, 3) })));
  if (only.has('tracing')) rows.push(...(await tracingRows({ root: ROOT, runs })));
  if (only.has('startup'))
    rows.push(...(await startupRows({ root: ROOT, runs: Math.min(runs, 3) })));
  if (only.has('postgres'))
    rows.push(...(await postgresRows({ root: ROOT, runs: Math.min(runs, 3) })));
  if (only.has('fleet')) {
    rows.push(
      ...(await fleetRows({
        root: ROOT,
        workers: parsed.fleetWorkers,
        connections: parsed.fleetConnections,
        processes: parsed.fleetProcesses,
        burst: parsed.fleetBurst,
        cpuProfDir: profileDir,
        scheduler: parsed.fleetScheduler,
      })),
    );
  }
  await printRows(withRatios(rows, references), parsed.cpuProf);
}

/** The storage rows, measured on one `kiln serve` with the default configuration. */
async function storageRows(
  cpuProf: boolean,
  runs: number,
  only: ReadonlySet<string>,
  channelCount: number,
  rows: ResultRow[],
): Promise<void> {
  const server = await startServerProcess({
    root: ROOT,
    cpuProfDir: cpuProf ? join(ROOT, '.bench/profiles') : undefined,
    nodeFlags: process.env.BENCH_SERVER_NODE_FLAGS?.split(' ').filter(Boolean),
    outputFile: process.env.BENCH_SERVER_OUTPUT,
  });
  const channels = openChannels(server.address, channelCount);
  const writer = new Http2ByteStreamWriter(server.address);
  try {
    const caps = await call(channels.at(0).capabilities, 'getCapabilities', { instanceName: '' });
    const maxBatchBytes = caps.cacheCapabilities?.maxBatchTotalSizeBytes ?? 4 * 1024 * 1024;
    const byteStream = channels.at(0).byteStream;
    const blobs = new BlobFactory(BLOB_BYTES);

    // VmRSS after each phase, to tell which one drives the peak.
    const rssAfter: string[] = [`start ${Math.round((await server.rssBytes()) / MB)}`];
    const noteRss = async (phase: string): Promise<void> => {
      rssAfter.push(`${phase} ${Math.round((await server.rssBytes()) / MB)}`);
    };
    let lastBlob: { hash: string } | undefined;
    if (only.has('write') || only.has('read')) {
      for (const chunkBytes of [1024 * 1024, 64 * 1024]) {
        const chunkName = chunkBytes >= 1024 * 1024 ? '1 MiB' : '64 KiB';
        const { samples, last } = await measureWrites({
          server,
          writer,
          blobs,
          chunkBytes,
          runs: only.has('write') ? runs : 0,
        });
        lastBlob = last;
        if (samples.length > 0) {
          rows.push(
            rateRow(
              `ByteStream.Write 64 MiB, ${chunkName} chunks`,
              'MB/s',
              BLOB_BYTES / MB,
              samples,
              {
                target: TARGETS.writeMBps,
              },
            ),
          );
        }
        if (!only.has('write')) break;
      }
    }
    if (only.has('write')) await noteRss('write');
    if (only.has('read') && lastBlob !== undefined) {
      const samples = await measureReads({
        server,
        client: byteStream,
        hash: lastBlob.hash,
        size: BLOB_BYTES,
        runs,
      });
      rows.push(
        rateRow('ByteStream.Read 64 MiB, whole blob', 'MB/s', BLOB_BYTES / MB, samples, {
          target: TARGETS.readMBps,
        }),
      );
    }

    if (only.has('read')) await noteRss('read');
    if (only.has('batch') || only.has('find')) {
      const batch = await measureBatchUpdates({
        server,
        channels,
        blobCount: SMALL_BLOBS,
        blobBytes: SMALL_BLOB_BYTES,
        maxBatchBytes,
        runs: only.has('batch') ? runs : 0,
      });
      if (batch.samples.length > 0) {
        const ms = batch.samples.map((s) => s.seconds * 1000);
        const note =
          `${batch.requests} request(s) per round (limit ${maxBatchBytes} bytes of blob data), ` +
          `${runs} rounds of fresh blobs`;
        const cpu = meanCpu(batch.samples);
        rows.push(
          {
            name: `BatchUpdateBlobs ${SMALL_BLOBS} × 4 KiB, wall time`,
            unit: 'ms',
            best: Math.min(...ms),
            median: median(ms),
            samples: ms,
            cpu,
            note,
          },
          rateRow('BatchUpdateBlobs, blobs/s', 'blobs/s', SMALL_BLOBS, batch.samples),
          rateRow(
            'BatchUpdateBlobs, MB/s',
            'MB/s',
            (SMALL_BLOBS * SMALL_BLOB_BYTES) / MB,
            batch.samples,
          ),
        );
      }
      if (only.has('batch')) await noteRss('batch');
      if (only.has('find')) {
        const find = await measureFindMissing({
          server,
          channels,
          present: batch.stored,
          digestsPerRequest: DIGESTS_PER_FIND,
          inFlight: FINDS_IN_FLIGHT,
          windows: runs,
        });
        const rates = find.windows.map((w) => w.requestsPerSecond);
        rows.push({
          name: `FindMissingBlobs ${DIGESTS_PER_FIND} digests (half present), ${FINDS_IN_FLIGHT} in flight`,
          unit: 'req/s',
          best: Math.max(...rates),
          median: median(rates),
          samples: rates,
          target: TARGETS.findPerSecond,
          cpu: meanCpu(find.windows.map((w) => w.sample)),
          note: `${runs} one-second windows after a one-second warm-up, ${channels.channels.length} connections`,
        });
      }
    }

    if (only.has('find')) await noteRss('find');
    const peak = (await server.peakRssBytes()) / MB;
    rows.push({
      name: 'Server peak RSS (VmHWM) after all of the above',
      unit: 'MB',
      best: peak,
      median: peak,
      samples: [peak],
      target: TARGETS.rssMB,
      note: `VmRSS in MB after each phase: ${rssAfter.join(', ')}`,
    });
    if (only.has('machine')) {
      // Last, so that the pages it frees cannot speed up the measurements above.
      const samples = await measureFileWrites({
        server,
        bytes: BLOB_BYTES,
        chunkBytes: 1024 * 1024,
        runs,
      });
      rows.push(
        rateRow(
          'Reference, no Kiln: 64 MiB file writes of fresh data',
          'MB/s',
          BLOB_BYTES / MB,
          samples,
          {
            note: 'the page-cache copy every ByteStream.Write ends in, done by the bench process alone',
          },
        ),
      );
    }
  } finally {
    channels.close();
    writer.close();
    await server.stop();
  }
}

/** Prints the table (with a warning when other processes disturbed a row) and writes the JSON. */
async function printRows(rows: readonly ResultRow[], cpuProf: boolean): Promise<void> {
  const busy = rows.filter((r) => (r.cpu?.other ?? 0) > OTHER_CPU_WARNING);
  const warning =
    busy.length === 0
      ? ''
      : `\n**Warning:** other processes used over ${OTHER_CPU_WARNING} cores during ${busy
          .map((r) => r.name)
          .join('; ')}; those numbers understate Kiln. Run again on a quiet machine.\n`;
  const table = toMarkdown(rows) + warning;
  process.stdout.write(
    `\nKiln benchmark (Node ${process.version}, MB = 10^6 bytes, targets judged on the median; ` +
      'CPU in cores used)\n\n' +
      `${table}\n`,
  );
  const out = join(ROOT, '.bench/results.json');
  await writeJson(out, rows);
  process.stdout.write(`\nWrote ${out}\n`);
  if (cpuProf) process.stdout.write(`Server CPU profile in ${join(ROOT, '.bench/profiles')}\n`);
}

main().catch((err: unknown) => {
  if (err instanceof UsageError) {
    process.stderr.write(`bench: ${err.message}\n\n${HELP}`);
    process.exitCode = 2;
    return;
  }
  process.stderr.write(
    `bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
  );
  process.exitCode = 1;
});
