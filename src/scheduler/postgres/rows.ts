/**
 * Conversions between the PostgreSQL scheduler's rows and the scheduler's
 * plain data: operations, leases and workers. Protobuf messages are stored
 * as their wire encoding in `bytea` columns; clock times as `bigint`
 * milliseconds (which node-postgres returns as strings).
 */
import { type Digest, makeDigest } from '../../digest/digest.ts';
import { digestFunctionByName } from '../../digest/digest-function.ts';
import { internal } from '../../errors.ts';
import {
  Action,
  Command,
  ExecuteResponse,
} from '../../gen/build/bazel/remote/execution/v2/remote_execution.js';
import { detachBytes } from '../../util/detach-bytes.ts';
import type { PlatformProperty } from '../platform.ts';
import type { ExecutionStage, Lease, LeaseState, OperationState, WorkerState } from '../types.ts';

/** A `bigint` column as node-postgres returns it. */
type Int8 = string | number;

/** An `operations` row. */
export interface OperationRow {
  readonly seq: Int8;
  readonly name: string;
  readonly instance_name: string;
  readonly digest_fn: string;
  readonly digest_hash: string;
  readonly digest_size: Int8;
  readonly platform: PlatformProperty[];
  readonly priority: number;
  readonly tool_invocation_id: string;
  readonly correlated_invocations_id: string;
  readonly stage: ExecutionStage;
  readonly worker: string | null;
  readonly response: Buffer | null;
  readonly created_at_ms: Int8;
  readonly completed_at_ms: Int8 | null;
  readonly version: number;
}

/** The columns of an `executions` row a lease needs, with the lease's own. */
export interface LeaseRow {
  readonly lease_id: string;
  readonly lease_state: LeaseState;
  readonly attempt: number;
  readonly deadline_ms: Int8;
  readonly instance_name: string;
  readonly digest_fn: string;
  readonly digest_hash: string;
  readonly digest_size: Int8;
  readonly action: Buffer;
  readonly command: Buffer;
  readonly timeout_ms: Int8;
  readonly priority: number;
  readonly tool_invocation_id: string;
  readonly correlated_invocations_id: string;
  /** The submitter's trace context; null when it did not trace. */
  readonly traceparent: string | null;
}

/** A `workers` row with the ids of the leases it holds. */
export interface WorkerRow {
  readonly id: string;
  readonly name: string;
  readonly platform: PlatformProperty[];
  readonly capacity: number;
  readonly lease_ids: string[] | null;
  readonly registered_at_ms: Int8;
  readonly last_seen_ms: Int8;
  readonly actions_done: Int8;
}

/** Rebuilds a digest from its three columns. */
export function digestOfRow(row: {
  digest_fn: string;
  digest_hash: string;
  digest_size: Int8;
}): Digest {
  const fn = digestFunctionByName(row.digest_fn);
  if (fn === undefined) throw internal(`stored digest function "${row.digest_fn}" is unknown`);
  return makeDigest(fn, row.digest_hash, Number(row.digest_size));
}

/** The three digest columns of a digest. */
export function digestColumns(d: Digest): [string, string, number] {
  return [d.fn.name, d.hash, d.size];
}

/** The plain state of an operation row. */
export function operationOfRow(row: OperationRow): OperationState {
  return {
    name: row.name,
    instanceName: row.instance_name,
    actionDigest: digestOfRow(row),
    stage: row.stage,
    done: row.stage === 'COMPLETED',
    response: row.response === null ? undefined : detachBytes(ExecuteResponse.decode(row.response)),
    platform: row.platform,
    priority: row.priority,
    toolInvocationId: row.tool_invocation_id,
    correlatedInvocationsId: row.correlated_invocations_id,
    worker: row.worker ?? undefined,
    createdAtMs: Number(row.created_at_ms),
    completedAtMs: row.completed_at_ms === null ? undefined : Number(row.completed_at_ms),
  };
}

/** The lease handed to a worker. */
export function leaseOfRow(row: LeaseRow, workerId: string): Lease {
  const lease: Lease = {
    id: row.lease_id,
    workerId,
    state: row.lease_state,
    instanceName: row.instance_name,
    actionDigest: digestOfRow(row),
    // Their own bytes fields, not views of the row's buffer.
    action: detachBytes(Action.decode(row.action)),
    command: detachBytes(Command.decode(row.command)),
    timeoutMs: Number(row.timeout_ms),
    deadlineMs: Number(row.deadline_ms),
    attempt: row.attempt,
    priority: row.priority,
    toolInvocationId: row.tool_invocation_id,
    correlatedInvocationsId: row.correlated_invocations_id,
  };
  return row.traceparent === null ? lease : { ...lease, traceparent: row.traceparent };
}

/** The listed state of a worker row. */
export function workerOfRow(row: WorkerRow): WorkerState {
  return {
    id: row.id,
    name: row.name,
    platform: row.platform,
    capacity: row.capacity,
    leaseIds: row.lease_ids ?? [],
    registeredAtMs: Number(row.registered_at_ms),
    lastSeenMs: Number(row.last_seen_ms),
    actionsDone: Number(row.actions_done),
  };
}

/** Encodes an ExecuteResponse for the `response` column. */
export function encodeResponse(response: ExecuteResponse): Buffer {
  return Buffer.from(ExecuteResponse.encode(response).finish());
}

/** The (name, value) pairs of a platform as stored for matching with `@>`. */
export function platformPairs(platform: readonly PlatformProperty[]): string[] {
  return platform.map((p) => `${p.name}\u001f${p.value}`);
}

/**
 * The payload of an operation notification, built in SQL from the changed
 * row: `[name, stage, worker, version]`, stage `DELETED` for a deletion.
 */
export const OP_EVENT_SQL = 'json_build_array(name, stage, worker, version)::text';
