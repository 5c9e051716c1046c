/**
 * The reference rows' server (see reference-bench.ts): a minimal grpc-js
 * server, with no storage behind it, that answers FindMissingBlobs from a set
 * in memory and streams ByteStream reads of 1 MiB messages encoded once. It
 * gets the same message limits and HTTP/2 windows as `kiln serve`, so what
 * separates Kiln's rows from these is Kiln's own work.
 *
 * Run as `node bench/reference-server.ts`; prints `reference serving on HOST:PORT`.
 */
import {
  Server,
  ServerCredentials,
  type ServerUnaryCall,
  type ServerWritableStream,
  type sendUnaryData,
} from '@grpc/grpc-js';
import {
  ContentAddressableStorageService,
  type FindMissingBlobsRequest,
  type FindMissingBlobsResponse,
} from '../src/gen/build/bazel/remote/execution/v2/remote_execution.js';
import { ByteStreamService, type ReadRequest } from '../src/gen/google/bytestream/bytestream.js';
import { encodeReadResponse } from '../src/rpc/bytestream-codec.ts';
import { setConnectionWindow, setInitialStreamWindow } from '../src/server/http2-tuning.ts';
import {
  REFERENCE_CHUNK_BYTES,
  REFERENCE_PRESENT,
  REFERENCE_READ_CHUNKS,
  referenceDigest,
} from './reference-bench.ts';

const WINDOW_BYTES = 8 * 1024 * 1024;
const MESSAGE_BYTES = 64 * 1024 * 1024;

async function main(): Promise<void> {
  const present = new Set<string>();
  for (let i = 0; i < REFERENCE_PRESENT; i++) present.add(referenceDigest(i).hash);
  const chunk = encodeReadResponse({ data: Buffer.alloc(REFERENCE_CHUNK_BYTES, 7) });
  const server = new Server({
    'grpc.max_receive_message_length': MESSAGE_BYTES,
    'grpc.max_send_message_length': MESSAGE_BYTES,
    'grpc.enable_channelz': 0,
  });
  setInitialStreamWindow(server, WINDOW_BYTES);
  server.addService(
    { findMissingBlobs: ContentAddressableStorageService.findMissingBlobs },
    {
      findMissingBlobs(
        call: ServerUnaryCall<FindMissingBlobsRequest, FindMissingBlobsResponse>,
        callback: sendUnaryData<FindMissingBlobsResponse>,
      ) {
        const missing = call.request.blobDigests.filter((d) => !present.has(d.hash));
        callback(null, { missingBlobDigests: missing });
      },
    },
  );
  server.addService(
    { read: { ...ByteStreamService.read, responseSerialize: (b: Buffer) => b } },
    {
      async read(call: ServerWritableStream<ReadRequest, Buffer>) {
        for (let i = 0; i < REFERENCE_READ_CHUNKS && !call.cancelled; i++) {
          if (!call.write(chunk)) await new Promise((r) => call.once('drain', r));
        }
        call.end();
      },
    },
  );
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (err, p) =>
      err ? reject(err) : resolve(p),
    ),
  );
  setConnectionWindow(server, WINDOW_BYTES);
  process.stdout.write(`reference serving on 127.0.0.1:${port}\n`);
  process.on('SIGTERM', () => server.tryShutdown(() => process.exit(0)));
}

main().catch((err: unknown) => {
  process.stderr.write(`reference server failed: ${String(err)}\n`);
  process.exit(1);
});
