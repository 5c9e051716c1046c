/**
 * ContentAddressableStorage benchmarks: BatchUpdateBlobs of many small blobs
 * and FindMissingBlobs under concurrency.
 */
import { randomBytes } from 'node:crypto';
import {
  type BatchUpdateBlobsRequest,
  type Digest as DigestMessage,
  FindMissingBlobsRequest,
  FindMissingBlobsResponse,
} from '../src/gen/build/bazel/remote/execution/v2/remote_execution.js';
import { sha256Digest } from '../test/support/blobs.ts';
import { call } from '../test/support/grpc-clients.ts';
import type { BenchChannels, RawFindMissing } from './clients.ts';
import { type Sample, sleep, timed } from './measure.ts';
import type { ServerProcess } from './server-process.ts';

function findMissingRaw(client: RawFindMissing, request: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    client.findMissingBlobs(request, (err, res) => (err ? reject(err) : resolve(res)));
  });
}

/**
 * Number of top-level fields in an encoded message whose fields are all
 * length-delimited, as in FindMissingBlobsResponse (one per missing digest).
 */
export function countTopLevelFields(bytes: Buffer): number {
  let count = 0;
  let pos = 0;
  while (pos < bytes.length) {
    if (((bytes[pos] as number) & 7) !== 2) throw new Error('unexpected field type in response');
    pos++;
    let length = 0;
    for (let shift = 0; ; shift += 7) {
      const byte = bytes[pos++] as number;
      length += (byte & 0x7f) * 2 ** shift;
      if (byte < 0x80) break;
    }
    pos += length;
    count++;
  }
  return count;
}

/** One BatchUpdateBlobs entry. */
interface SmallBlob {
  readonly digest: DigestMessage;
  readonly data: Buffer;
}

/**
 * Splits blobs into as few requests as `maxBatchBytes` allows. The server
 * counts only blob data against the limit, so that is what is packed.
 */
export function packBatches(blobs: readonly SmallBlob[], maxBatchBytes: number): SmallBlob[][] {
  const batches: SmallBlob[][] = [];
  let current: SmallBlob[] = [];
  let bytes = 0;
  for (const blob of blobs) {
    if (current.length > 0 && bytes + blob.data.byteLength > maxBatchBytes) {
      batches.push(current);
      current = [];
      bytes = 0;
    }
    current.push(blob);
    bytes += blob.data.byteLength;
  }
  if (current.length > 0) batches.push(current);
  return batches;
}

/** Options of {@link measureBatchUpdates}. */
export interface BatchUpdateBenchOptions {
  readonly server: ServerProcess;
  readonly channels: BenchChannels;
  readonly blobCount: number;
  readonly blobBytes: number;
  readonly maxBatchBytes: number;
  readonly runs: number;
}

/** Result of {@link measureBatchUpdates}. */
export interface BatchUpdateResult {
  readonly samples: Sample[];
  /** Requests per round. */
  readonly requests: number;
  /** Digests of every blob stored, for FindMissingBlobs. */
  readonly stored: DigestMessage[];
}

/** Times rounds of fresh random small blobs, each round's requests sent concurrently. */
export async function measureBatchUpdates(
  options: BatchUpdateBenchOptions,
): Promise<BatchUpdateResult> {
  const { server, channels, blobCount, blobBytes, maxBatchBytes, runs } = options;
  const samples: Sample[] = [];
  const stored: DigestMessage[] = [];
  let requests = 0;
  // Round 0 is an untimed warm-up.
  for (let round = 0; round <= runs; round++) {
    const blobs = Array.from({ length: blobCount }, () => {
      const data = randomBytes(blobBytes);
      return { digest: sha256Digest(data), data };
    });
    const batches = packBatches(blobs, maxBatchBytes);
    requests = batches.length;
    const run = async (): Promise<void> => {
      await Promise.all(
        batches.map(async (batch, i) => {
          const request: BatchUpdateBlobsRequest = {
            instanceName: '',
            requests: batch.map((b) => ({ digest: b.digest, data: b.data, compressor: 0 })),
            digestFunction: 0,
          };
          const res = await call(channels.at(i).cas, 'batchUpdateBlobs', request);
          const failed = res.responses.filter((r) => r.status?.code !== 0);
          if (failed.length > 0 || res.responses.length !== batch.length) {
            throw new Error(`BatchUpdateBlobs: ${failed.length} of ${batch.length} blobs failed`);
          }
        }),
      );
    };
    if (round === 0) await run();
    else samples.push(await timed(server, run));
    stored.push(...blobs.map((b) => b.digest));
  }
  return { samples, requests, stored };
}

/** Options of {@link measureFindMissing}. */
export interface FindMissingBenchOptions {
  readonly server: ServerProcess;
  readonly channels: BenchChannels;
  /** Digests the server holds; the request asks about `digestsPerRequest / 2` of them. */
  readonly present: readonly DigestMessage[];
  readonly digestsPerRequest: number;
  readonly inFlight: number;
  /** Number of one-second windows measured after a one-second warm-up. */
  readonly windows: number;
}

/** Requests per second in each window, with the CPU each side used. */
export interface FindMissingResult {
  readonly windows: { requestsPerSecond: number; sample: Sample }[];
}

/**
 * Keeps `inFlight` FindMissingBlobs calls running (half present, half absent
 * digests, interleaved) and counts completions per one-second window.
 */
export async function measureFindMissing(
  options: FindMissingBenchOptions,
): Promise<FindMissingResult> {
  const { server, channels, present, digestsPerRequest, inFlight, windows } = options;
  const half = digestsPerRequest / 2;
  if (present.length < half)
    throw new Error(`need ${half} present digests, have ${present.length}`);
  const digests: DigestMessage[] = [];
  for (let i = 0; i < half; i++) {
    digests.push(present[i] as DigestMessage);
    digests.push({ hash: randomBytes(32).toString('hex'), sizeBytes: 4096 + i });
  }
  const request = Buffer.from(
    FindMissingBlobsRequest.encode({
      instanceName: '',
      blobDigests: digests,
      digestFunction: 0,
    }).finish(),
  );
  // One full decode checks the answer itself; later ones only count entries.
  const first = await findMissingRaw(channels.at(0).rawFindMissing, request);
  const missing = FindMissingBlobsResponse.decode(first).missingBlobDigests.map((d) => d.hash);
  const expected = digests.filter((_, i) => i % 2 === 1).map((d) => d.hash);
  if (missing.sort().join() !== expected.sort().join()) {
    throw new Error('FindMissingBlobs did not report exactly the absent digests');
  }
  let completed = 0;
  let stop = false;
  const worker = async (i: number): Promise<void> => {
    const client = channels.at(i).rawFindMissing;
    while (!stop) {
      const count = countTopLevelFields(await findMissingRaw(client, request));
      if (count !== half)
        throw new Error(`FindMissingBlobs reported ${count} missing, not ${half}`);
      completed++;
    }
  };
  const workers = Promise.all(Array.from({ length: inFlight }, (_, i) => worker(i)));
  // Surface a failing worker at once instead of after the windows.
  let failure: unknown;
  workers.catch((err: unknown) => {
    failure = err;
    stop = true;
  });
  await sleep(1000);
  const results: FindMissingResult['windows'] = [];
  for (let w = 0; w < windows && failure === undefined; w++) {
    const before = completed;
    const sample = await timed(server, () => sleep(1000));
    results.push({ requestsPerSecond: (completed - before) / sample.seconds, sample });
  }
  stop = true;
  await workers.catch(() => {});
  if (failure !== undefined) throw failure;
  return { windows: results };
}
