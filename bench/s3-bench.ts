/**
 * The S3 rows: a `kiln serve` whose CAS is an `s3` store on the s3rver
 * emulator (alone, and behind a local disk tier), with the counting proxy
 * between them. Measures ByteStream write and read MB/s of a 64 MiB blob;
 * FindMissingBlobs of 1000 digests written through this server per second,
 * under the load of the grpc-js reference row (16 calls in flight over 4
 * connections, after a warm-up) with the server's CPU per call; and the S3
 * requests FindMissingBlobs costs, counted by the proxy, for digests written
 * here, half absent, and written by another process (with and without its
 * write log).
 *
 * Runs on its own with `node bench/s3-bench.ts [--runs N]`, or as a group of
 * `npm run bench` (`s3Rows`).
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { makeDigest } from '../src/digest/digest.ts';
import { DIGEST_FUNCTIONS } from '../src/digest/digest-function.ts';
import {
  Compressor_Value,
  FindMissingBlobsRequest,
} from '../src/gen/build/bazel/remote/execution/v2/remote_execution.js';
import { putBuffer } from '../src/storage/blob-store.ts';
import { S3BlobStore } from '../src/storage/s3-blob-store.ts';
import { sha256Digest } from '../test/support/blobs.ts';
import { call, connectClients } from '../test/support/grpc-clients.ts';
import { startKiln } from '../test/support/kiln-process.ts';
import { type S3FaultProxy, startS3FaultProxy } from '../test/support/s3-fault-proxy.ts';
import { type S3Server, startS3Server } from '../test/support/s3-server.ts';
import { BlobFactory, EncodedUpload, readBlob } from './bytestream-bench.ts';
import { openChannels } from './clients.ts';
import { Http2ByteStreamWriter } from './http2-writer.ts';
import { median } from './measure.ts';
import { type ResultRow, toMarkdown } from './report.ts';

const MB = 1_000_000;
const BLOB_BYTES = 64 * 1024 * 1024;
const DIGESTS_PER_FIND = 1000;
/** Calls whose S3 requests are counted (one after another). */
const FIND_CALLS = 4;
/** The reference row's load: calls in flight, over this many connections. */
const FINDS_IN_FLIGHT = 16;
const CONNECTIONS = 4;
/** The s3 store's default write log interval, and a margin. */
const WRITE_LOG_WAIT_MS = 2_500;

function row(name: string, unit: string, samples: number[], note?: string): ResultRow {
  return {
    name,
    unit,
    // Fewer requests and milliseconds are better; more of anything per second.
    best: unit.endsWith('/s') ? Math.max(...samples) : Math.min(...samples),
    median: median(samples),
    samples,
    ...(note === undefined ? {} : { note }),
  };
}

async function seconds(fn: () => Promise<void>): Promise<number> {
  const start = performance.now();
  await fn();
  return (performance.now() - start) / 1000;
}

/** User plus system CPU seconds of process `pid` so far. */
async function cpuSecondsOf(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/**
 * FindMissingBlobs of `request` kept `FINDS_IN_FLIGHT` deep over
 * `CONNECTIONS` connections: calls per second in each one-second window
 * after a one-second warm-up, and the server's CPU milliseconds per call.
 */
async function loadedFinds(
  address: string,
  pid: number,
  request: Buffer,
  windows: number,
): Promise<{ rates: number[]; cpuMsPerCall: number[] }> {
  const channels = openChannels(address, CONNECTIONS);
  let completed = 0;
  let stop = false;
  const worker = async (i: number): Promise<void> => {
    const client = channels.at(i).rawFindMissing;
    while (!stop) {
      await new Promise<void>((resolve, reject) =>
        client.findMissingBlobs(request, (err) => (err ? reject(err) : resolve())),
      );
      completed++;
    }
  };
  const workers = Promise.all(Array.from({ length: FINDS_IN_FLIGHT }, (_, i) => worker(i)));
  try {
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const rates: number[] = [];
    const cpuMsPerCall: number[] = [];
    for (let w = 0; w < windows; w++) {
      const [calls0, cpu0, start] = [completed, await cpuSecondsOf(pid), performance.now()];
      await new Promise((resolve) => setTimeout(resolve, 1000));
      const calls = completed - calls0;
      const cpu = (await cpuSecondsOf(pid)) - cpu0;
      rates.push(calls / ((performance.now() - start) / 1000));
      cpuMsPerCall.push((cpu * 1000) / calls);
    }
    return { rates, cpuMsPerCall };
  } finally {
    stop = true;
    await workers;
    channels.close();
  }
}

/**
 * Uploads `count` small blobs to the bucket as another Kiln process would
 * (an s3 store of its own on the same prefix), and closes that store, which
 * publishes its write log unless `writeLog` is false.
 */
async function writeAsAnotherProcess(
  s3: S3Server,
  proxy: S3FaultProxy,
  count: number,
  writeLog: boolean,
): Promise<ReturnType<typeof sha256Digest>[]> {
  const other = await S3BlobStore.open({
    endpoint: proxy.endpoint,
    region: 'us-east-1',
    bucket: s3.bucket,
    prefix: 'cas/',
    accessKeyId: s3.accessKeyId,
    secretAccessKey: s3.secretAccessKey,
    forcePathStyle: true,
    contentAddressed: true,
    partSize: 8 * 1024 * 1024,
    partsInFlight: 2,
    maxAttempts: 5,
    requestTimeoutMs: 30_000,
    maxConnections: 16,
    retryBaseMs: 100,
    retryMaxMs: 10_000,
    knownTtlMs: 3_600_000,
    knownMaxEntries: 100_000,
    headConcurrency: 32,
    expireAfterMs: 0,
    writeLogIntervalMs: writeLog ? 2_000 : 0,
  });
  const sha256 = DIGEST_FUNCTIONS.find((fn) => fn.name === 'sha256');
  if (sha256 === undefined) throw new Error('no sha256');
  const digests: ReturnType<typeof sha256Digest>[] = [];
  try {
    const blobs = Array.from({ length: count }, () => randomBytes(256));
    for (let i = 0; i < blobs.length; i += 32) {
      await Promise.all(
        blobs.slice(i, i + 32).map(async (data) => {
          const message = sha256Digest(data);
          digests.push(message);
          await putBuffer(other, makeDigest(sha256, message.hash, Number(message.sizeBytes)), data);
        }),
      );
    }
  } finally {
    await other.close();
  }
  return digests;
}

/** Measures one configuration: `tiered` puts a local disk in front of S3. */
async function measure(tiered: boolean, runs: number): Promise<ResultRow[]> {
  const dir = await mkdtemp(join(tmpdir(), 'kiln-s3-bench-'));
  const s3 = await startS3Server({ dir: join(dir, 's3') });
  const proxy = await startS3FaultProxy(s3.endpoint);
  const shared = {
    s3: {
      endpoint: proxy.endpoint,
      bucket: s3.bucket,
      prefix: 'cas/',
      accessKeyId: s3.accessKeyId,
      secretAccessKey: s3.secretAccessKey,
      forcePathStyle: true,
    },
  };
  const config = {
    server: { httpListen: 'off', dataDir: join(dir, 'data') },
    storage: {
      stores: { local: { disk: { path: 'cas', maxSize: '4GiB' } }, shared },
      cas: tiered ? { readCaching: { fast: 'local', slow: 'shared' } } : 'shared',
    },
    execution: { enabled: false },
  };
  await writeFile(join(dir, 'kiln.json'), JSON.stringify(config));
  const kiln = await startKiln(['--config', join(dir, 'kiln.json'), '--listen', '127.0.0.1:0'], {
    env: { KILN_LOG_LEVEL: 'warn' },
  });
  const clients = connectClients(kiln.address);
  const writer = new Http2ByteStreamWriter(kiln.address);
  const label = tiered ? 's3 behind a disk tier' : 's3';
  try {
    const blobs = new BlobFactory(BLOB_BYTES);
    const upload = new EncodedUpload(1024 * 1024);
    const writes: number[] = [];
    const reads: number[] = [];
    const uploadRequests: number[] = [];
    for (let i = 0; i < runs; i++) {
      const blob = blobs.next();
      const frames = upload.prepare(blob);
      proxy.resetCounts();
      writes.push(BLOB_BYTES / MB / (await seconds(() => writer.write(frames, BLOB_BYTES))));
      uploadRequests.push(proxy.counts.PUT + proxy.counts.POST);
      reads.push(
        BLOB_BYTES /
          MB /
          (await seconds(async () => {
            const got = await readBlob(clients.byteStream, blob.hash, BLOB_BYTES);
            if (got !== BLOB_BYTES) throw new Error(`read ${got} of ${BLOB_BYTES} bytes`);
          })),
      );
    }

    // Small blobs written through this server, then FindMissingBlobs of them (what Bazel asks
    // before every action), and of half of them plus as many absent digests.
    const present = Array.from({ length: DIGESTS_PER_FIND }, () => randomBytes(256));
    for (let i = 0; i < present.length; i += 100) {
      const batch = present.slice(i, i + 100);
      await call(clients.cas, 'batchUpdateBlobs', {
        instanceName: '',
        digestFunction: 0,
        requests: batch.map((data) => ({
          digest: sha256Digest(data),
          data,
          compressor: Compressor_Value.IDENTITY,
        })),
      });
    }
    // Let the write log of those uploads go out, so it is not counted against FindMissingBlobs.
    await new Promise((resolve) => setTimeout(resolve, WRITE_LOG_WAIT_MS));
    const loaded = await loadedFinds(
      kiln.address,
      kiln.child.pid as number,
      Buffer.from(
        FindMissingBlobsRequest.encode({
          instanceName: '',
          blobDigests: present.map(sha256Digest),
          digestFunction: 0,
        }).finish(),
      ),
      Math.max(3, runs),
    );
    const find = async (digests: ReturnType<typeof sha256Digest>[], calls = FIND_CALLS) => {
      proxy.resetCounts();
      const took = await seconds(async () => {
        for (let i = 0; i < calls; i++) {
          await call(clients.cas, 'findMissingBlobs', {
            instanceName: '',
            blobDigests: digests,
            digestFunction: 0,
          });
        }
      });
      const { counts } = proxy;
      const kinds = Object.entries(counts).filter(([, n]) => n > 0);
      return {
        callsPerSecond: calls / took,
        requestsPerCall: proxy.total() / calls,
        kinds: kinds.map(([kind, n]) => `${kind} ${n / calls}`).join(', ') || 'none',
      };
    };
    const known = await find(present.map(sha256Digest));
    const mixed = await find(
      present
        .slice(0, DIGESTS_PER_FIND / 2)
        .flatMap((data) => [sha256Digest(data), sha256Digest(randomBytes(256))]),
    );
    // Blobs another process wrote: with its write log published, then without one.
    const logged = await writeAsAnotherProcess(s3, proxy, DIGESTS_PER_FIND, true);
    await new Promise((resolve) => setTimeout(resolve, WRITE_LOG_WAIT_MS));
    const peer = await find(logged, 1);
    const unlogged = await writeAsAnotherProcess(s3, proxy, DIGESTS_PER_FIND, false);
    await new Promise((resolve) => setTimeout(resolve, WRITE_LOG_WAIT_MS));
    const silentPeer = await find(unlogged, 1);
    const cpuNote = `server CPU per call (ms): ${loaded.cpuMsPerCall.map((ms) => ms.toFixed(2)).join(', ')}`;
    return [
      row(`ByteStream.Write 64 MiB through ${label}`, 'MB/s', writes),
      row(
        `ByteStream.Read 64 MiB through ${label}`,
        'MB/s',
        reads,
        tiered ? 'served by the disk tier' : undefined,
      ),
      row(`S3 upload requests per new 64 MiB blob (${label})`, 'requests', uploadRequests),
      row(
        `FindMissingBlobs of 1000 digests written here, ${label}, ${FINDS_IN_FLIGHT} in flight`,
        'calls/s',
        loaded.rates,
        `${CONNECTIONS} connections, one-second windows after a one-second warm-up; ${cpuNote}`,
      ),
      row(
        `Server CPU per FindMissingBlobs of 1000 digests written here, ${label}`,
        'ms',
        loaded.cpuMsPerCall,
      ),
      row(`S3 requests per FindMissingBlobs of 1000 digests written here, ${label}`, 'requests', [
        known.requestsPerCall,
      ]),
      row(`FindMissingBlobs of 500 written + 500 absent, ${label}`, 'calls/s', [
        mixed.callsPerSecond,
      ]),
      row(
        `S3 requests per FindMissingBlobs of 500 written + 500 absent, ${label}`,
        'requests',
        [mixed.requestsPerCall],
        'one HEAD per absent digest: absence is never remembered',
      ),
      row(
        `S3 requests per FindMissingBlobs of 1000 digests another process wrote, ${label}`,
        'requests',
        [peer.requestsPerCall],
        `its write log read: ${peer.kinds}`,
      ),
      row(
        `S3 requests per FindMissingBlobs of 1000 digests another process wrote without a write log, ${label}`,
        'requests',
        [silentPeer.requestsPerCall],
        silentPeer.kinds,
      ),
    ];
  } finally {
    writer.close();
    clients.close();
    await kiln.stop();
    await proxy.stop();
    await s3.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

/** The S3 rows, for `npm run bench`. */
export async function s3Rows(options: { runs: number }): Promise<ResultRow[]> {
  return [...(await measure(false, options.runs)), ...(await measure(true, options.runs))];
}

if (import.meta.main) {
  const { values } = parseArgs({ options: { runs: { type: 'string', default: '3' } } });
  const rows = await s3Rows({ runs: Number(values.runs) });
  process.stdout.write(`${toMarkdown(rows)}\n`);
}
