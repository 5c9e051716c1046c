/**
 * Well-formed blob transfers over raw calls (BatchUpdateBlobs,
 * BatchReadBlobs, ByteStream), for the fuzzer's setup, its targeted
 * scenarios and its integrity checks.
 */
import { randomUUID } from 'node:crypto';
import { zstdCompressSync, zstdDecompressSync } from 'node:zlib';
import type { Client } from '@grpc/grpc-js';
import {
  BatchReadBlobsRequest,
  BatchReadBlobsResponse,
  BatchUpdateBlobsRequest,
  BatchUpdateBlobsResponse,
  Compressor_Value,
  ContentAddressableStorageService,
} from '../src/gen/build/bazel/remote/execution/v2/remote_execution.js';
import {
  ByteStreamService,
  ReadRequest,
  ReadResponse,
  WriteRequest,
} from '../src/gen/google/bytestream/bytestream.js';
import { type CallOutcome, clientStreamCall, serverStreamCall, unaryCall } from './raw-calls.ts';

/** A blob with its SHA-256 digest. */
export interface Blob {
  readonly hash: string;
  readonly data: Buffer;
}

const BATCH_UPDATE = ContentAddressableStorageService.batchUpdateBlobs.path;
const BATCH_READ = ContentAddressableStorageService.batchReadBlobs.path;
const READ = ByteStreamService.read.path;
const WRITE = ByteStreamService.write.path;

/** What a batch call did, per blob. */
export interface BatchResult {
  readonly outcome: CallOutcome;
  /** Encoded request (for findings). */
  readonly request: Buffer;
  /** gRPC code per blob hash; absent hashes were missing from the response. */
  readonly codes: ReadonlyMap<string, number>;
  /** Data per blob hash (BatchReadBlobs, OK ones, decompressed). */
  readonly data: ReadonlyMap<string, Buffer>;
}

/** Uploads `blobs` in one BatchUpdateBlobs, each zstd-compressed when `zstd` says so. */
export async function batchUpdate(
  client: Client,
  blobs: readonly Blob[],
  options: { deadlineMs: number; zstd?: (blob: Blob) => boolean },
): Promise<BatchResult> {
  const request = Buffer.from(
    BatchUpdateBlobsRequest.encode(
      BatchUpdateBlobsRequest.fromPartial({
        requests: blobs.map((b) => {
          const zstd = options.zstd?.(b) ?? false;
          return {
            digest: { hash: b.hash, sizeBytes: b.data.length },
            data: zstd ? zstdCompressSync(b.data) : b.data,
            compressor: zstd ? Compressor_Value.ZSTD : Compressor_Value.IDENTITY,
          };
        }),
      }),
    ).finish(),
  );
  const outcome = await unaryCall(client, BATCH_UPDATE, request, {
    deadlineMs: options.deadlineMs,
    keepBytes: 1024 * 1024,
  });
  const codes = new Map<string, number>();
  if (outcome.code === 0 && outcome.responses[0]) {
    for (const r of BatchUpdateBlobsResponse.decode(outcome.responses[0]).responses) {
      codes.set(r.digest?.hash ?? '', r.status?.code ?? 0);
    }
  }
  return { outcome, request, codes, data: new Map() };
}

/** Reads `blobs` back in one BatchReadBlobs, accepting zstd when `zstd` is set. */
export async function batchRead(
  client: Client,
  digests: ReadonlyArray<{ hash: string; size: number }>,
  options: { deadlineMs: number; zstd?: boolean },
): Promise<BatchResult> {
  const request = Buffer.from(
    BatchReadBlobsRequest.encode(
      BatchReadBlobsRequest.fromPartial({
        digests: digests.map((d) => ({ hash: d.hash, sizeBytes: d.size })),
        acceptableCompressors: options.zstd ? [Compressor_Value.ZSTD] : [],
      }),
    ).finish(),
  );
  const outcome = await unaryCall(client, BATCH_READ, request, {
    deadlineMs: options.deadlineMs,
    keepBytes: 64 * 1024 * 1024,
  });
  const codes = new Map<string, number>();
  const data = new Map<string, Buffer>();
  if (outcome.code === 0 && outcome.responses[0]) {
    for (const r of BatchReadBlobsResponse.decode(outcome.responses[0]).responses) {
      const hash = r.digest?.hash ?? '';
      const code = r.status?.code ?? 0;
      codes.set(hash, code);
      if (code !== 0) continue;
      data.set(hash, r.compressor === Compressor_Value.ZSTD ? zstdDecompressSync(r.data) : r.data);
    }
  }
  return { outcome, request, codes, data };
}

/** Uploads one blob through ByteStream.Write in 1 MiB chunks. */
export function byteStreamWrite(
  client: Client,
  blob: Blob,
  options: { deadlineMs: number },
): Promise<CallOutcome> {
  const name = `uploads/${randomUUID()}/blobs/${blob.hash}/${blob.data.length}`;
  const messages: Buffer[] = [];
  const chunk = 1024 * 1024;
  for (let offset = 0; offset < blob.data.length || offset === 0; offset += chunk) {
    const end = Math.min(blob.data.length, offset + chunk);
    messages.push(
      Buffer.from(
        WriteRequest.encode({
          resourceName: offset === 0 ? name : '',
          writeOffset: offset,
          finishWrite: end === blob.data.length,
          data: blob.data.subarray(offset, end),
        }).finish(),
      ),
    );
    if (end === blob.data.length) break;
  }
  return clientStreamCall(client, WRITE, messages, { kind: 'half-close' }, options);
}

/** Reads one blob whole through ByteStream.Read, zstd-compressed when asked. */
export async function byteStreamRead(
  client: Client,
  digest: { hash: string; size: number },
  options: { deadlineMs: number; zstd?: boolean },
): Promise<{ outcome: CallOutcome; data: Buffer }> {
  const resourceName = options.zstd
    ? `compressed-blobs/zstd/${digest.hash}/${digest.size}`
    : `blobs/${digest.hash}/${digest.size}`;
  const request = Buffer.from(
    ReadRequest.encode({ resourceName, readOffset: 0, readLimit: 0 }).finish(),
  );
  const outcome = await serverStreamCall(
    client,
    READ,
    request,
    { kind: 'all' },
    {
      deadlineMs: options.deadlineMs,
      keepBytes: 2 * digest.size + 1024 * 1024,
    },
  );
  const raw = Buffer.concat(outcome.responses.map((r) => ReadResponse.decode(r).data));
  const data = options.zstd && outcome.code === 0 ? zstdDecompressSync(raw) : raw;
  return { outcome, data };
}
