/**
 * The worker's own record of each lease it holds, and how it is reported
 * back to the scheduler in UpdateBotSession: ACTIVE while the action runs,
 * then COMPLETED (or CANCELLED) with the packed ExecuteResponse.
 */
import { status } from '@grpc/grpc-js';
import { packExecuteResponse } from '../execution/lease-payload.ts';
import type { ActionResult } from '../gen/build/bazel/remote/execution/v2/remote_execution.js';
import { type Lease, LeaseState } from '../gen/google/devtools/remoteworkers/v1test2/bots.js';
import type { ExecuteOutcome } from './action-executor.ts';

/** A lease the worker holds, running or finished but not yet reported. */
export interface LocalLease {
  readonly id: string;
  readonly abort: AbortController;
  /** Set once the action finished (or was never started); reported on the next round. */
  outcome: { result?: ActionResult; status: ExecuteOutcome['status'] } | undefined;
  cancelled: boolean;
}

/** The lease as the worker reports it on the next UpdateBotSession round. */
export function leaseMessage(l: LocalLease): Lease {
  const base: Lease = {
    id: l.id,
    payload: undefined,
    result: undefined,
    state: LeaseState.ACTIVE,
    status: undefined,
    requirements: undefined,
    expireTime: undefined,
    assignment: '',
    inlineAssignment: undefined,
  };
  if (l.outcome === undefined) return base;
  const { result, status: s } = l.outcome;
  const rpcStatus = { code: s.code, message: s.message, details: [...s.details] };
  return {
    ...base,
    state: l.cancelled ? LeaseState.CANCELLED : LeaseState.COMPLETED,
    status: rpcStatus,
    result: packExecuteResponse({
      result,
      cachedResult: false,
      status: rpcStatus,
      serverLogs: {},
      message: s.message,
    }),
  };
}

/** A cancelled lease this worker never started: acknowledge it on the next round. */
export function acknowledgement(lease: Lease): LocalLease {
  const abort = new AbortController();
  abort.abort();
  return {
    id: lease.id,
    abort,
    cancelled: true,
    outcome: {
      status: { code: status.CANCELLED, message: 'cancelled before start', details: [] },
    },
  };
}
