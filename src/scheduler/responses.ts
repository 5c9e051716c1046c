/**
 * Builders for the protobuf values the scheduler produces: statuses,
 * ExecuteResponses and timestamps, and the conversion of an action's timeout;
 * and the steps of a submission every scheduler takes alike.
 */
import { status as Code } from '@grpc/grpc-js';
import { invalidArgument } from '../errors.ts';
import {
  type ActionResult,
  ExecutedActionMetadata,
  type ExecuteResponse,
} from '../gen/build/bazel/remote/execution/v2/remote_execution.js';
import type { Duration } from '../gen/google/protobuf/duration.js';
import type { Timestamp } from '../gen/google/protobuf/timestamp.js';
import type { Status } from '../gen/google/rpc/status.js';
import type { Logger } from '../util/logger.ts';
import { type PlatformProperty, requiredPlatform } from './platform.ts';
import type { SchedulerPolicy } from './policy.ts';
import type { ActionResultCache, SubmitRequest } from './types.ts';

/** A `google.rpc.Status` without details. */
export function rpcStatus(code: Code, message = ''): Status {
  return { code, message, details: [] };
}

/** A response that carries a status and no result (cancellation, scheduling failures). */
export function failureResponse(code: Code, message: string): ExecuteResponse {
  return {
    result: undefined,
    cachedResult: false,
    status: rpcStatus(code, message),
    serverLogs: {},
    message,
  };
}

/** The response for an action cache hit. */
export function cachedResponse(result: ActionResult): ExecuteResponse {
  return { result, cachedResult: true, status: rpcStatus(Code.OK), serverLogs: {}, message: '' };
}

/** The response for a result a worker produced. */
export function executedResponse(
  result: ActionResult | undefined,
  status: Status,
  message: string,
): ExecuteResponse {
  return { result, cachedResult: false, status, serverLogs: {}, message };
}

/** Converts clock milliseconds to a protobuf Timestamp. */
export function timestampOf(ms: number): Timestamp {
  const seconds = Math.floor(ms / 1000);
  return { seconds, nanos: (ms - seconds * 1000) * 1_000_000 };
}

/**
 * The timeout an action runs with: its own (rounded up to whole
 * milliseconds), or the default when unset or zero. Rejects negative ones and
 * ones above the maximum with INVALID_ARGUMENT.
 */
export function effectiveTimeoutMs(timeout: Duration | undefined, policy: SchedulerPolicy): number {
  if (timeout === undefined || (timeout.seconds === 0 && timeout.nanos === 0)) {
    return policy.defaultTimeoutMs;
  }
  const ms = timeout.seconds * 1000 + Math.ceil(timeout.nanos / 1_000_000);
  if (!Number.isFinite(ms) || ms < 0 || timeout.nanos < 0) {
    throw invalidArgument(`action.timeout ${formatSeconds(ms)} must not be negative`);
  }
  if (ms > policy.maxTimeoutMs) {
    throw invalidArgument(
      `action.timeout ${formatSeconds(ms)} exceeds the maximum of ${formatSeconds(policy.maxTimeoutMs)}`,
    );
  }
  return ms;
}

/** `90s`, `1.5s`: durations as users write them. */
export function formatSeconds(ms: number): string {
  return `${ms / 1000}s`;
}

/** Adds what only the scheduler knows: the worker's name (unless it set one) and the queued time. */
export function withSchedulerMetadata(
  result: ActionResult,
  workerName: string,
  queuedAtMs: number,
): ActionResult {
  const metadata = result.executionMetadata ?? ExecutedActionMetadata.create();
  return {
    ...result,
    executionMetadata: {
      ...metadata,
      worker: metadata.worker === '' ? workerName : metadata.worker,
      queuedTimestamp: timestampOf(queuedAtMs),
    },
  };
}

/**
 * Checks what a submission asks for that every scheduler refuses alike
 * (INVALID_ARGUMENT), and returns the action's timeout and the platform it
 * requires.
 */
export function checkSubmit(
  request: SubmitRequest,
  policy: SchedulerPolicy,
): { timeoutMs: number; platform: PlatformProperty[] } {
  const { actionDigest, action, command } = request;
  if (request.digestFunction !== actionDigest.fn) {
    throw invalidArgument(
      `digest_function ${request.digestFunction.name} does not match the action digest's ${actionDigest.fn.name}`,
    );
  }
  if (!Number.isSafeInteger(request.priority)) {
    throw invalidArgument(`execution_policy.priority ${request.priority} must be an integer`);
  }
  return {
    timeoutMs: effectiveTimeoutMs(action.timeout, policy),
    platform: requiredPlatform(action, command),
  };
}

/**
 * The cached result of a submitted action, or undefined on a miss. A cache
 * that fails is logged and treated as a miss: a broken cache must not stop
 * execution, the action simply runs.
 */
export async function cachedResultOf(
  cache: ActionResultCache,
  log: Logger,
  request: SubmitRequest,
): Promise<ActionResult | undefined> {
  try {
    return await cache.get(request.instanceName, request.actionDigest);
  } catch (err) {
    log.warn(
      { err, actionDigest: request.actionDigest.key, toolInvocationId: request.toolInvocationId },
      'action cache lookup failed; executing the action',
    );
    return undefined;
  }
}
