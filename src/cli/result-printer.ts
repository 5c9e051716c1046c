/**
 * Presenting an ActionResult (from `kiln execute`, `kiln run`, `kiln ac
 * get`, `kiln ops get`): exit code, whether it came from the cache, the
 * worker, how long each stage took according to its ExecutedActionMetadata
 * (queued, input fetch, execution, output upload), the resources the action
 * used when the worker measured them (a kiln.worker.v1.ResourceUsage in the
 * metadata), the outputs, and the command's stdout and stderr, as text or as
 * one JSON object.
 */
import { status } from '@grpc/grpc-js';
import { type Digest, formatDigest, makeDigest } from '../digest/digest.ts';
import type { DigestFunction } from '../digest/digest-function.ts';
import {
  findResourceUsage,
  formatResourceUsage,
  resourceUsageFigures,
} from '../execution/resource-usage.ts';
import type {
  ActionResult,
  ExecutedActionMetadata,
} from '../gen/build/bazel/remote/execution/v2/remote_execution.js';
import type { Timestamp } from '../gen/google/protobuf/timestamp.js';
import { formatDuration, formatSize, table } from './cli-output.ts';
import type { Connection } from './connection.ts';

/** Largest stdout or stderr read into memory for printing. */
const MAX_STREAM_BYTES = 16 * 1024 * 1024;

/** Where a result came from, for the header. */
export interface ResultOrigin {
  readonly actionDigest?: Digest;
  readonly operationName?: string;
  readonly cached?: boolean;
  /** The ExecuteResponse status when it is not OK (a timeout, say). */
  readonly status?: { readonly code: number; readonly message: string };
}

/** Stage durations in milliseconds, from ExecutedActionMetadata; absent when not reported. */
export interface StageTimings {
  queuedMs?: number;
  inputFetchMs?: number;
  executionMs?: number;
  outputUploadMs?: number;
  totalMs?: number;
}

/** A result ready to print. */
export interface ResultView {
  /** The `--json` object. */
  readonly json: Record<string, unknown>;
  /** The command's stdout and stderr bytes (empty when too large to load). */
  readonly stdout: Buffer;
  readonly stderr: Buffer;
  /** The text summary, without stdout and stderr. */
  readonly summary: string;
}

const ms = (t: Timestamp | undefined): number | undefined =>
  t === undefined || (t.seconds === 0 && t.nanos === 0)
    ? undefined
    : t.seconds * 1000 + t.nanos / 1e6;

const span = (from: Timestamp | undefined, to: Timestamp | undefined): number | undefined => {
  const a = ms(from);
  const b = ms(to);
  return a === undefined || b === undefined
    ? undefined
    : Math.round(Math.max(0, b - a) * 1000) / 1000;
};

/** The stage durations a worker reported. */
export function stageTimings(m: ExecutedActionMetadata | undefined): StageTimings {
  if (m === undefined) return {};
  return {
    queuedMs: span(m.queuedTimestamp, m.workerStartTimestamp),
    inputFetchMs: span(m.inputFetchStartTimestamp, m.inputFetchCompletedTimestamp),
    executionMs: span(m.executionStartTimestamp, m.executionCompletedTimestamp),
    outputUploadMs: span(m.outputUploadStartTimestamp, m.outputUploadCompletedTimestamp),
    totalMs: span(m.queuedTimestamp, m.workerCompletedTimestamp),
  };
}

/** `queued 12 ms, input fetch 3 ms, execution 1.2 s, output upload 4 ms (total 1.3 s)`. */
export function formatTimings(t: StageTimings): string {
  const parts = (
    [
      ['queued', t.queuedMs],
      ['input fetch', t.inputFetchMs],
      ['execution', t.executionMs],
      ['output upload', t.outputUploadMs],
    ] as const
  )
    .filter(([, v]) => v !== undefined)
    .map(([name, v]) => `${name} ${formatDuration(v as number)}`);
  if (parts.length === 0) return 'not reported';
  return `${parts.join(', ')}${t.totalMs === undefined ? '' : ` (total ${formatDuration(t.totalMs)})`}`;
}

/** Reads stdout or stderr: inlined bytes, or the blob when it is small enough. */
async function loadStream(
  conn: Connection,
  fn: DigestFunction,
  raw: Buffer,
  message: { hash: string; sizeBytes: number } | undefined,
): Promise<{ data: Buffer; digest: Digest | undefined; truncated: boolean }> {
  const digest =
    message === undefined ? undefined : makeDigest(fn, message.hash, message.sizeBytes);
  if (raw.byteLength > 0 || digest === undefined || digest.size === 0) {
    return { data: raw, digest, truncated: false };
  }
  if (digest.size > MAX_STREAM_BYTES) return { data: Buffer.alloc(0), digest, truncated: true };
  return { data: await conn.cas.readBlob(digest), digest, truncated: false };
}

/** Builds the JSON object and the text summary of a result, loading stdout and stderr. */
export async function viewResult(
  conn: Connection,
  result: ActionResult,
  origin: ResultOrigin,
): Promise<ResultView> {
  const fn = conn.settings.digestFunction;
  const [stdout, stderr] = await Promise.all([
    loadStream(conn, fn, result.stdoutRaw, result.stdoutDigest),
    loadStream(conn, fn, result.stderrRaw, result.stderrDigest),
  ]);
  const d = (m: { hash: string; sizeBytes: number } | undefined) =>
    m === undefined ? undefined : `${m.hash}/${m.sizeBytes}`;
  const timings = stageTimings(result.executionMetadata);
  const usage = findResourceUsage(result.executionMetadata);
  const symlinks = [
    ...result.outputSymlinks,
    ...result.outputFileSymlinks,
    ...result.outputDirectorySymlinks,
  ];
  const json: Record<string, unknown> = {
    action: origin.actionDigest === undefined ? undefined : formatDigest(origin.actionDigest),
    operation: origin.operationName,
    cached: origin.cached ?? false,
    status: origin.status,
    exitCode: result.exitCode,
    stdout: stdout.data.toString('utf8'),
    stderr: stderr.data.toString('utf8'),
    stdoutDigest: d(result.stdoutDigest),
    stderrDigest: d(result.stderrDigest),
    stdoutTruncated: stdout.truncated || undefined,
    stderrTruncated: stderr.truncated || undefined,
    outputFiles: result.outputFiles.map((f) => ({
      path: f.path,
      digest: d(f.digest),
      executable: f.isExecutable,
    })),
    outputDirectories: result.outputDirectories.map((o) => ({
      path: o.path,
      treeDigest: d(o.treeDigest),
      rootDirectoryDigest: d(o.rootDirectoryDigest),
    })),
    outputSymlinks: symlinks.map((s) => ({ path: s.path, target: s.target })),
    worker: result.executionMetadata?.worker,
    timings,
    resourceUsage: usage === undefined ? undefined : resourceUsageFigures(usage),
  };
  const rows: string[][] = [];
  if (origin.actionDigest) rows.push(['action', formatDigest(origin.actionDigest)]);
  if (origin.operationName) rows.push(['operation', origin.operationName]);
  rows.push(['exit code', `${result.exitCode}${origin.cached ? ' (cached result)' : ''}`]);
  if (origin.status !== undefined && origin.status.code !== status.OK) {
    rows.push([
      'status',
      `${status[origin.status.code] ?? origin.status.code}: ${origin.status.message}`,
    ]);
  }
  if (result.executionMetadata?.worker) rows.push(['worker', result.executionMetadata.worker]);
  rows.push(['timings', formatTimings(timings)]);
  if (usage !== undefined) rows.push(['resources', formatResourceUsage(usage)]);
  for (const [name, s] of [
    ['stdout', stdout],
    ['stderr', stderr],
  ] as const) {
    const size = formatSize(s.digest?.size ?? s.data.byteLength);
    const where = s.digest ? `  ${formatDigest(s.digest)}` : '';
    rows.push([
      name,
      `${size}${where}${s.truncated ? '  (too large to print; see kiln cas cat)' : ''}`,
    ]);
  }
  const outputs = [
    ...result.outputFiles.map((f) => [
      `${f.path}${f.isExecutable ? '*' : ''}`,
      formatSize(f.digest?.sizeBytes ?? 0),
      d(f.digest) ?? '',
    ]),
    ...result.outputDirectories.map((o) => [`${o.path}/`, 'tree', d(o.treeDigest) ?? '']),
    ...symlinks.map((s) => [`${s.path} -> ${s.target}`, '', '']),
  ];
  rows.push(['outputs', outputs.length === 0 ? 'none' : '']);
  const lines = [table(rows), ...(outputs.length === 0 ? [] : [indent(table(outputs))])];
  return { json, stdout: stdout.data, stderr: stderr.data, summary: lines.join('\n') };
}

/** The summary followed by the command's stdout and stderr, each under a heading. */
export function resultText(view: ResultView): string {
  const parts = [view.summary];
  if (view.stdout.byteLength > 0) parts.push(`--- stdout ---\n${view.stdout.toString()}`);
  if (view.stderr.byteLength > 0) parts.push(`--- stderr ---\n${view.stderr.toString()}`);
  return parts.join('\n');
}

function indent(text: string): string {
  return text
    .split('\n')
    .map((line) => `  ${line}`)
    .join('\n');
}
