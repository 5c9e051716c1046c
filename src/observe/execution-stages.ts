/**
 * How long each stage of an execution took, from the worker's
 * ExecutedActionMetadata timestamps and the scheduler's own queue times.
 * Worker-reported spans compare timestamps of one worker clock; the queued
 * and total spans compare server clock readings only, so clock skew between
 * machines never produces negative durations.
 */
import { status } from '@grpc/grpc-js';
import type { Timestamp } from '../gen/google/protobuf/timestamp.js';
import type { LeaseCompletion } from '../scheduler/types.ts';
import type { ExecutionResult, ExecutionStage } from './metrics.ts';
import type { CompletedExecution } from './observed-scheduler.ts';

/** Milliseconds since the epoch of a protobuf Timestamp. */
export function timestampMs(timestamp: Timestamp): number {
  return Number(timestamp.seconds) * 1000 + timestamp.nanos / 1_000_000;
}

function span(start: Timestamp | undefined, end: Timestamp | undefined): number | undefined {
  if (start === undefined || end === undefined) return undefined;
  const ms = timestampMs(end) - timestampMs(start);
  return ms >= 0 ? ms : undefined;
}

/**
 * Each stage's duration in ms; a stage is absent when its timestamps are:
 * `queued` (queued until a worker took the lease) and `total` (queued until
 * the worker reported the result) need the time the action was queued.
 */
export function stageDurations(
  execution: CompletedExecution,
): Partial<Record<ExecutionStage, number>> {
  const metadata = execution.completion.result?.executionMetadata;
  const { queuedAtMs, leasedAtMs, completedAtMs } = execution;
  const stages: Partial<Record<ExecutionStage, number>> = {};
  if (queuedAtMs !== undefined) {
    stages.queued = Math.max(0, leasedAtMs - queuedAtMs);
    stages.total = Math.max(0, completedAtMs - queuedAtMs);
  }
  const inputFetch = span(
    metadata?.inputFetchStartTimestamp,
    metadata?.inputFetchCompletedTimestamp,
  );
  if (inputFetch !== undefined) stages.input_fetch = inputFetch;
  const run = span(metadata?.executionStartTimestamp, metadata?.executionCompletedTimestamp);
  if (run !== undefined) stages.execution = run;
  const upload = span(
    metadata?.outputUploadStartTimestamp,
    metadata?.outputUploadCompletedTimestamp,
  );
  if (upload !== undefined) stages.output_upload = upload;
  return stages;
}

/** How an execution ended, from the worker's status and the action's exit code. */
export function executionResult(completion: LeaseCompletion): ExecutionResult {
  switch (completion.status.code) {
    case status.OK:
      return completion.result?.exitCode === 0 ? 'success' : 'exit_nonzero';
    case status.DEADLINE_EXCEEDED:
      return 'timeout';
    case status.CANCELLED:
      return 'cancelled';
    default:
      return 'error';
  }
}
