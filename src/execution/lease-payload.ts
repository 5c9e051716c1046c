/**
 * What travels inside Remote Worker API leases between Kiln's Bots service
 * and its workers: the payload is a `kiln.worker.v1.ActionAssignment`, the
 * result an REAPI `ExecuteResponse` (ActionResult plus status).
 *
 * A new lease's payload also carries the Action and Command the scheduler
 * already holds, so that the worker need not read them back from the CAS
 * (two round trips per action). A payload without them still works: the
 * worker then reads the CAS.
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
}

/** Packs an assignment as a lease payload (with the Action and Command when given). */
export function packAssignment(a: Assignment): Any {
  const seconds = Math.floor(a.timeoutMs / 1000);
  const value = ActionAssignment.encode({
    instanceName: a.instanceName,
    actionDigest: { hash: a.actionDigest.hash, sizeBytes: a.actionDigest.size },
    digestFunction: a.actionDigest.fn.value as ActionAssignment['digestFunction'],
    timeout: { seconds, nanos: (a.timeoutMs - seconds * 1000) * 1e6 },
    action: a.action,
    command: a.command,
  }).finish();
  return { typeUrl: ASSIGNMENT_TYPE, value: Buffer.from(value) };
}

/** Unpacks a lease payload; INVALID_ARGUMENT when it is not an ActionAssignment. */
export function unpackAssignment(payload: Any | undefined): Assignment {
  if (payload?.typeUrl !== ASSIGNMENT_TYPE) {
    throw invalidArgument(
      `lease payload is ${payload?.typeUrl ?? 'missing'}, not an ActionAssignment`,
    );
  }
  const a = ActionAssignment.decode(payload.value);
  const timeout = a.timeout ?? { seconds: 0, nanos: 0 };
  return {
    instanceName: a.instanceName,
    actionDigest: parseDigest(a.actionDigest, a.digestFunction, 'lease action_digest'),
    timeoutMs: timeout.seconds * 1000 + Math.floor(timeout.nanos / 1e6),
    action: a.action,
    command: a.command,
  };
}

/** Packs a lease result. */
export function packExecuteResponse(response: ExecuteResponse): Any {
  return { typeUrl: RESPONSE_TYPE, value: Buffer.from(ExecuteResponse.encode(response).finish()) };
}

/** Unpacks a lease result, or undefined when absent or of another type. */
export function unpackExecuteResponse(result: Any | undefined): ExecuteResponse | undefined {
  if (result?.typeUrl !== RESPONSE_TYPE) return undefined;
  return ExecuteResponse.decode(result.value);
}
