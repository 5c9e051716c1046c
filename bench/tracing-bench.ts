/**
 * What tracing costs the server per RPC: three `kiln serve` processes, one
 * with tracing off (no `observability.tracing.endpoint`: the OpenTelemetry
 * SDK is not even loaded), one tracing every call to an OTLP receiver in
 * this process, one with tracing on and `sampleRatio: 0` (spans created but
 * not recorded). Each gets the same small FindMissingBlobs calls, with
 * Bazel's RequestMetadata header, in alternating rounds; the row is the
 * server's CPU time (from /proc) per call.
 *
 *   node bench/main.ts --only tracing
 */
import { randomBytes } from 'node:crypto';
import { credentials, Metadata, makeGenericClientConstructor } from '@grpc/grpc-js';
import {
  ContentAddressableStorageService,
  FindMissingBlobsRequest,
  RequestMetadata,
} from '../src/gen/build/bazel/remote/execution/v2/remote_execution.js';
import { CLIENT_OPTIONS } from '../test/support/grpc-clients.ts';
import { startOtlpReceiver } from '../test/support/otlp-receiver.ts';
import { median } from './measure.ts';
import type { ResultRow } from './report.ts';
import { startServerProcess } from './server-process.ts';

/** Calls per round and server, and calls kept in flight. */
const CALLS = 8000;
const IN_FLIGHT = 16;
const DIGESTS = 10;

const identity = (bytes: Buffer): Buffer => bytes;
const RawClient = makeGenericClientConstructor(
  {
    findMissingBlobs: {
      ...ContentAddressableStorageService.findMissingBlobs,
      requestSerialize: identity,
      responseDeserialize: identity,
    },
  },
  'build.bazel.remote.execution.v2.ContentAddressableStorage',
);
interface Raw {
  findMissingBlobs(
    request: Buffer,
    metadata: Metadata,
    callback: (err: Error | null, response: Buffer) => void,
  ): unknown;
  close(): void;
}

/** Options of {@link tracingRows}. */
export interface TracingBenchOptions {
  readonly root: string;
  readonly runs: number;
}

/** Sends `calls` FindMissingBlobs, `IN_FLIGHT` at a time. */
async function send(client: Raw, request: Buffer, metadata: Metadata, calls: number) {
  let sent = 0;
  const one = (): Promise<void> =>
    new Promise((resolve, reject) =>
      client.findMissingBlobs(request, metadata, (err) => (err ? reject(err) : resolve())),
    );
  await Promise.all(
    Array.from({ length: IN_FLIGHT }, async () => {
      while (sent < calls) {
        sent++;
        await one();
      }
    }),
  );
}

/** The rows: server CPU per RPC with tracing off, on, and on but sampling nothing. */
export async function tracingRows(options: TracingBenchOptions): Promise<ResultRow[]> {
  const receiver = await startOtlpReceiver();
  const tracingYaml = (ratio: number) =>
    `observability:\n  tracing:\n    endpoint: ${receiver.url}\n    sampleRatio: ${ratio}\n`;
  const variants = [
    { label: 'tracing off', yaml: '' },
    { label: 'tracing on, every call sampled and exported', yaml: tracingYaml(1) },
    { label: 'tracing on, sampleRatio 0', yaml: tracingYaml(0) },
  ];
  const request = Buffer.from(
    FindMissingBlobsRequest.encode({
      instanceName: '',
      blobDigests: Array.from({ length: DIGESTS }, (_, i) => ({
        hash: randomBytes(32).toString('hex'),
        sizeBytes: 100 + i,
      })),
      digestFunction: 0,
    }).finish(),
  );
  const metadata = new Metadata();
  metadata.set(
    'build.bazel.remote.execution.v2.requestmetadata-bin',
    Buffer.from(
      RequestMetadata.encode(
        RequestMetadata.fromPartial({
          toolDetails: { toolName: 'bazel', toolVersion: '8.1.0' },
          toolInvocationId: 'c0ffee00-0000-4000-8000-000000000001',
          actionId: randomBytes(32).toString('hex'),
        }),
      ).finish(),
    ),
  );
  const servers = [];
  try {
    for (const variant of variants) {
      const server = await startServerProcess({ root: options.root, configYaml: variant.yaml });
      const client = new RawClient(
        server.address,
        credentials.createInsecure(),
        CLIENT_OPTIONS,
      ) as unknown as Raw;
      servers.push({ ...variant, server, client, samples: [] as number[] });
    }
    for (const s of servers) await send(s.client, request, metadata, CALLS / 4); // warm-up
    // Alternating rounds: the machine's other load falls on every variant alike.
    for (let round = 0; round < options.runs; round++) {
      for (const s of servers) {
        const before = await s.server.cpuSeconds();
        await send(s.client, request, metadata, CALLS);
        // Spans go out every 2 s: the export's CPU counts, in the round that
        // caused it. Every server waits alike, so idle timers cost all the same.
        await new Promise((r) => setTimeout(r, 2500));
        const after = await s.server.cpuSeconds();
        s.samples.push(((after - before) / CALLS) * 1e6);
      }
    }
  } finally {
    for (const s of servers) {
      s.client.close();
      await s.server.stop();
    }
    await receiver.close();
  }
  const exported = receiver.spans.filter((span) => span.name.endsWith('/FindMissingBlobs'));
  return servers.map((s) => ({
    name: `Server CPU per FindMissingBlobs (${DIGESTS} digests), ${s.label}`,
    unit: 'µs/RPC',
    best: Math.min(...s.samples),
    median: median(s.samples),
    samples: s.samples,
    note:
      `${CALLS} calls per round, ${IN_FLIGHT} in flight, rounds alternating between the three servers` +
      (s.label.includes('every call') ? `; ${exported.length} spans received` : ''),
  }));
}
