/**
 * What travels inside Remote Worker API leases between Kiln's Bots service
 * and its workers: the payload is a `kiln.worker.v1.ActionAssignment`, the
 * result an REAPI `ExecuteResponse` (ActionResult plus status).
 *
 * A new lease's payload also carries the Action and Command the scheduler
 * already holds, so that the worker need not read them back from the CAS
 * (two round trips per action). A payload without them still works: the
 * worker then reads the CAS.
 *
 * The worker inside `kiln serve` gets its leases by direct calls, not over
 * gRPC: the packed messages then never leave the process. A packed `Any`
 * therefore encodes its value only when something reads it (gRPC's
 * serializer, for a worker elsewhere), and unpacking an `Any` packed in this
 * process returns what was packed, without a decode.
 */
import { type Digest, parseDigest } from '../digest/digest.ts';
import { invalidArgument } from '../errors.ts';
import {
  type Action,
  type Command,
  ExecuteResponse,
} from '../gen/build/bazel/remote/execution/v2/remote_execution.js';
import type { Any } from '../gen/google/protobuf/any.js';
import { ActionAssignment } from '../gen/kiln/worker/v1/lease.js';

const ASSIGNMENT_TYPE = 'type.googleapis.com/kiln.worker.v1.ActionAssignment';
const RESPONSE_TYPE = 'type.googleapis.com/build.bazel.remote.execution.v2.ExecuteResponse';

/** A decoded lease payload. */
export interface Assignment {
  readonly instanceName: string;
  readonly actionDigest: Digest;
  readonly timeoutMs: number;
  /** The Action `actionDigest` names, when the payload carries it. */
  readonly action?: Action;
  /** The Action's Command, when the payload carries it. */
  readonly command?: Command;
  /** `RequestMetadata.tool_invocation_id` of the Execute that queued the action; may be empty. */
  readonly toolInvocationId?: string;
  /** W3C `traceparent` of the scheduler's span the worker's spans continue; absent when not traced. */
  readonly traceparent?: string;
}

/** What each `Any` packed here holds, unencoded. */
const packed = new WeakMap<Any, Assignment | ExecuteResponse>();

/** An `Any` whose value is encoded on first read; see the module comment. */
function lazyAny(
  typeUrl: string,
  message: Assignment | ExecuteResponse,
  encode: () => Uint8Array,
): Any {
  let value: Buffer | undefined;
  const any: Any = {
    typeUrl,
    get value(): Buffer {
      value ??= Buffer.from(encode());
      return value;
    },
  };
  packed.set(any, message);
  return any;
}

/** Packs an assignment as a lease payload (with the Action and Command when given). */
export function packAssignment(a: Assignment): Any {
  return lazyAny(ASSIGNMENT_TYPE, a, () => {
    const seconds = Math.floor(a.timeoutMs / 1000);
    return ActionAssignment.encode({
      instanceName: a.instanceName,
      actionDigest: { hash: a.actionDigest.hash, sizeBytes: a.actionDigest.size },
      digestFunction: a.actionDigest.fn.value as ActionAssignment['digestFunction'],
      timeout: { seconds, nanos: (a.timeoutMs - seconds * 1000) * 1e6 },
      action: a.action,
      command: a.command,
      toolInvocationId: a.toolInvocationId ?? '',
      traceparent: a.traceparent ?? '',
    }).finish();
  });
}

/** Unpacks a lease payload; INVALID_ARGUMENT when it is not an ActionAssignment. */
export function unpackAssignment(payload: Any | undefined): Assignment {
  if (payload?.typeUrl !== ASSIGNMENT_TYPE) {
    throw invalidArgument(
      `lease payload is ${payload?.typeUrl ?? 'missing'}, not an ActionAssignment`,
    );
  }
  const known = packed.get(payload);
  if (known !== undefined) return known as Assignment;
  const a = ActionAssignment.decode(payload.value);
  const timeout = a.timeout ?? { seconds: 0, nanos: 0 };
  return {
    instanceName: a.instanceName,
    actionDigest: parseDigest(a.actionDigest, a.digestFunction, 'lease action_digest'),
    timeoutMs: timeout.seconds * 1000 + Math.floor(timeout.nanos / 1e6),
    action: a.action,
    command: a.command,
    toolInvocationId: a.toolInvocationId,
    traceparent: a.traceparent === '' ? undefined : a.traceparent,
  };
}

/** Packs a lease result. */
export function packExecuteResponse(response: ExecuteResponse): Any {
  return lazyAny(RESPONSE_TYPE, response, () => ExecuteResponse.encode(response).finish());
}

/** Unpacks a lease result, or undefined when absent or of another type. */
export function unpackExecuteResponse(result: Any | undefined): ExecuteResponse | undefined {
  if (result?.typeUrl !== RESPONSE_TYPE) return undefined;
  return (
    (packed.get(result) as ExecuteResponse | undefined) ?? ExecuteResponse.decode(result.value)
  );
}
