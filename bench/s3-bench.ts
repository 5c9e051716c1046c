/**
 * The S3 rows: a `kiln serve` whose CAS is an `s3` store on the s3rver
 * emulator (alone, and behind a local disk tier), with the counting proxy
 * between them. Measures ByteStream write and read MB/s of a 64 MiB blob,
 * FindMissingBlobs of 1000 digests (half written through this server, half
 * absent) per second, and the S3 requests each costs, counted by the proxy.
 *
 * Runs on its own with `node bench/s3-bench.ts [--runs N]`, or as a group of
 * `npm run bench` (`s3Rows`).
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Compressor_Value } from '../src/gen/build/bazel/remote/execution/v2/remote_execution.js';
import { sha256Digest } from '../test/support/blobs.ts';
import { call, connectClients } from '../test/support/grpc-clients.ts';
import { startKiln } from '../test/support/kiln-process.ts';
import { startS3FaultProxy } from '../test/support/s3-fault-proxy.ts';
import { startS3Server } from '../test/support/s3-server.ts';
import { BlobFactory, EncodedUpload, readBlob } from './bytestream-bench.ts';
import { Http2ByteStreamWriter } from './http2-writer.ts';
import { median } from './measure.ts';
import { type ResultRow, toMarkdown } from './report.ts';

const MB = 1_000_000;
const BLOB_BYTES = 64 * 1024 * 1024;
const DIGESTS_PER_FIND = 1000;
const FIND_CALLS = 10;

function row(name: string, unit: string, samples: number[], note?: string): ResultRow {
  return {
    name,
    unit,
    best: unit.includes('requests') ? Math.min(...samples) : Math.max(...samples),
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
    const find = async (digests: ReturnType<typeof sha256Digest>[]) => {
      proxy.resetCounts();
      const took = await seconds(async () => {
        for (let i = 0; i < FIND_CALLS; i++) {
          await call(clients.cas, 'findMissingBlobs', {
            instanceName: '',
            blobDigests: digests,
            digestFunction: 0,
          });
        }
      });
      return { callsPerSecond: FIND_CALLS / took, requestsPerCall: proxy.total() / FIND_CALLS };
    };
    const known = await find(present.map(sha256Digest));
    const mixed = await find(
      present
        .slice(0, DIGESTS_PER_FIND / 2)
        .flatMap((data) => [sha256Digest(data), sha256Digest(randomBytes(256))]),
    );
    return [
      row(`ByteStream.Write 64 MiB through ${label}`, 'MB/s', writes),
      row(
        `ByteStream.Read 64 MiB through ${label}`,
        'MB/s',
        reads,
        tiered ? 'served by the disk tier' : undefined,
      ),
      row(`S3 upload requests per new 64 MiB blob (${label})`, 'requests', uploadRequests),
      row(`FindMissingBlobs of 1000 digests written here, ${label}`, 'calls/s', [
        known.callsPerSecond,
      ]),
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
