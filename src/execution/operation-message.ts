/**
 * Converts scheduler operation states into `google.longrunning.Operation`
 * messages carrying REAPI's ExecuteOperationMetadata and ExecuteResponse.
 */
import {
  ExecuteOperationMetadata,
  ExecuteResponse,
  ExecutionStage_Value,
} from '../gen/build/bazel/remote/execution/v2/remote_execution.js';
import type { Operation } from '../gen/google/longrunning/operations.js';
import type { OperationState } from '../scheduler/types.ts';

const METADATA_TYPE =
  'type.googleapis.com/build.bazel.remote.execution.v2.ExecuteOperationMetadata';
const RESPONSE_TYPE = 'type.googleapis.com/build.bazel.remote.execution.v2.ExecuteResponse';

/** The Operation message for a state. `response` may be replaced (e.g. after inlining). */
export function toOperation(state: OperationState, response = state.response): Operation {
  const metadata = ExecuteOperationMetadata.encode({
    stage: ExecutionStage_Value[state.stage],
    actionDigest: { hash: state.actionDigest.hash, sizeBytes: state.actionDigest.size },
    stdoutStreamName: '',
    stderrStreamName: '',
    partialExecutionMetadata: undefined,
    digestFunction: state.actionDigest.fn.value as ExecuteOperationMetadata['digestFunction'],
  }).finish();
  return {
    name: state.name,
    metadata: { typeUrl: METADATA_TYPE, value: asBuffer(metadata) },
    done: state.done,
    error: undefined,
    response:
      state.done && response !== undefined
        ? { typeUrl: RESPONSE_TYPE, value: asBuffer(ExecuteResponse.encode(response).finish()) }
        : undefined,
  };
}

/**
 * The writer's bytes as a Buffer, without a copy: `finish()` returns an array
 * of its own, and a copy would only take a slice of Node's shared pool.
 */
function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** Decodes the ExecuteResponse of a done Operation (for clients and tests). */
export function executeResponseOf(operation: Operation): ExecuteResponse | undefined {
  if (operation.response?.typeUrl !== RESPONSE_TYPE) return undefined;
  return ExecuteResponse.decode(operation.response.value);
}

/** Decodes the ExecuteOperationMetadata of an Operation (for clients and tests). */
export function executeMetadataOf(operation: Operation): ExecuteOperationMetadata | undefined {
  if (operation.metadata?.typeUrl !== METADATA_TYPE) return undefined;
  return ExecuteOperationMetadata.decode(operation.metadata.value);
}
