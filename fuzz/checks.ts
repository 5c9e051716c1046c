/**
 * The checks run before, during and after fuzzing: the server answers
 * (health), every known blob and every blob written during the run reads
 * back byte for byte (integrity), and the process failure counter.
 */
import type { Client } from '@grpc/grpc-js';
import {
  CapabilitiesService,
  GetCapabilitiesRequest,
} from '../src/gen/build/bazel/remote/execution/v2/remote_execution.js';
import { batchRead, byteStreamRead } from './blob-io.ts';
import type { KnownBlob } from './dictionary.ts';
import type { WrittenBlob } from './fuzz-context.ts';
import { unaryCall } from './raw-calls.ts';

/** Most bytes read back in one BatchReadBlobs. */
const BATCH_BYTES = 3 * 1024 * 1024;

/** Undefined when GetCapabilities answers OK within `deadlineMs`, otherwise what went wrong. */
export async function checkHealth(client: Client, deadlineMs: number): Promise<string | undefined> {
  const request = Buffer.from(GetCapabilitiesRequest.encode({ instanceName: '' }).finish());
  const outcome = await unaryCall(client, CapabilitiesService.getCapabilities.path, request, {
    deadlineMs,
  });
  return outcome.code === 0
    ? undefined
    : `GetCapabilities answered ${outcome.code} after ${Math.round(outcome.ms)} ms: ${outcome.details}`;
}

/** A blob that did not read back as written. */
export interface IntegrityProblem {
  readonly kind: 'wrong-bytes' | 'lost-blob';
  readonly method: string;
  readonly message: string;
}

/**
 * Reads every known blob through ByteStream.Read (identity, and zstd when
 * `zstd` is set) and in BatchReadBlobs, and every written blob in
 * BatchReadBlobs, and compares the bytes.
 */
export async function checkIntegrity(
  client: Client,
  known: readonly KnownBlob[],
  written: readonly WrittenBlob[],
  options: { deadlineMs: number; zstd: boolean },
): Promise<IntegrityProblem[]> {
  const problems: IntegrityProblem[] = [];
  const compare = (
    method: string,
    label: string,
    code: number | undefined,
    got: Buffer | undefined,
    want: Buffer,
  ): void => {
    if (got === undefined) {
      problems.push({ kind: 'lost-blob', method, message: `${label} answered code ${code}` });
    } else if (!got.equals(want)) {
      problems.push({
        kind: 'wrong-bytes',
        method,
        message: `${label}: ${got.length} bytes read, ${want.length} written, contents differ`,
      });
    }
  };
  for (const blob of known) {
    for (const zstd of options.zstd ? [false, true] : [false]) {
      const { outcome, data } = await byteStreamRead(client, blob, {
        deadlineMs: options.deadlineMs,
        zstd,
      });
      compare(
        'ByteStream.Read',
        `known blob ${blob.label}${zstd ? ' (zstd)' : ''}`,
        outcome.code,
        outcome.code === 0 ? data : undefined,
        blob.data,
      );
    }
  }
  const digests = [
    ...known
      .filter((b) => b.size < BATCH_BYTES)
      .map((b) => ({ hash: b.hash, size: b.size, data: b.data, label: `known blob ${b.label}` })),
    ...written.map((b) => ({
      hash: b.hash,
      size: b.data.length,
      data: b.data,
      label: `written blob ${b.hash}`,
    })),
  ];
  for (let start = 0; start < digests.length; ) {
    let bytes = 0;
    let end = start;
    while (
      end < digests.length &&
      (end === start || bytes + (digests[end]?.size ?? 0) <= BATCH_BYTES)
    ) {
      bytes += digests[end]?.size ?? 0;
      end++;
    }
    const group = digests.slice(start, end);
    const result = await batchRead(client, group, {
      deadlineMs: options.deadlineMs,
      zstd: options.zstd,
    });
    if (result.outcome.code !== 0) {
      problems.push({
        kind: 'lost-blob',
        method: 'ContentAddressableStorage.BatchReadBlobs',
        message: `BatchReadBlobs of ${group.length} blobs answered ${result.outcome.code}: ${result.outcome.details}`,
      });
    } else {
      for (const d of group) {
        compare(
          'ContentAddressableStorage.BatchReadBlobs',
          d.label,
          result.codes.get(d.hash),
          result.data.get(d.hash),
          d.data,
        );
      }
    }
    start = end;
  }
  return problems;
}

/** What the server's `/metrics` says at the end of a run. */
export interface ServerMetrics {
  /** `kiln_process_failures_total` by kind. */
  readonly processFailures: Record<string, number>;
  /** V8 heap in use (garbage not yet collected included), heap size, and Buffer memory, in bytes. */
  readonly heapUsedBytes: number;
  readonly heapTotalBytes: number;
  readonly externalBytes: number;
}

/** Reads the process failure counter and the memory gauges from `/metrics`. */
export async function serverMetrics(httpAddress: string): Promise<ServerMetrics> {
  const text = await (await fetch(`http://${httpAddress}/metrics`)).text();
  const processFailures: Record<string, number> = {};
  for (const match of text.matchAll(/^kiln_process_failures_total\{kind="([a-z_]+)"\} (\d+)/gm)) {
    processFailures[match[1] as string] = Number(match[2]);
  }
  const gauge = (name: string): number =>
    Number(new RegExp(`^${name} (\\S+)`, 'm').exec(text)?.[1] ?? Number.NaN);
  return {
    processFailures,
    heapUsedBytes: gauge('nodejs_heap_size_used_bytes'),
    heapTotalBytes: gauge('nodejs_heap_size_total_bytes'),
    externalBytes: gauge('nodejs_external_memory_bytes'),
  };
}
