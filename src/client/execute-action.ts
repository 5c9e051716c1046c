/**
 * Running an action on any REAPI Execution service: Execute, following the
 * operation's stages until it is done. When the stream breaks after the
 * server named the operation, the client re-attaches with WaitExecution (a
 * few times) instead of starting the action again.
 */
import { type ClientReadableStream, status } from '@grpc/grpc-js';
import { type Digest, toDigestMessage } from '../digest/digest.ts';
import { hasCode, KilnError, unavailable } from '../errors.ts';
import { executeMetadataOf, executeResponseOf } from '../execution/operation-message.ts';
import {
  type DigestFunction_Value,
  ExecuteRequest,
  type ExecuteResponse,
  type ExecutionClient,
  executionStage_ValueToJSON,
} from '../gen/build/bazel/remote/execution/v2/remote_execution.js';
import type { Operation } from '../gen/google/longrunning/operations.js';
import { fromGrpcError } from './grpc-error.ts';

/** Options for {@link executeAction}. */
export interface ExecuteActionOptions {
  readonly client: ExecutionClient;
  readonly instanceName: string;
  readonly actionDigest: Digest;
  /** Run even when the action cache holds a result. */
  readonly skipCacheLookup?: boolean;
  /** Called when the operation reaches a new stage (`QUEUED`, `EXECUTING`, `COMPLETED`…). */
  readonly onStage?: (stage: string, operationName: string) => void;
  /** Times to re-attach with WaitExecution after the stream breaks; 3 by default. */
  readonly reattempts?: number;
}

/** A finished operation and its ExecuteResponse. */
export interface ExecutionOutcome {
  readonly operationName: string;
  /** The response; its `status` may be an error (a timeout, a missing input) with a partial result. */
  readonly response: ExecuteResponse;
}

/** Executes the action and waits for it. Rejects when the operation itself failed. */
export async function executeAction(options: ExecuteActionOptions): Promise<ExecutionOutcome> {
  const { client, actionDigest } = options;
  const request = ExecuteRequest.fromPartial({
    instanceName: options.instanceName,
    skipCacheLookup: options.skipCacheLookup ?? false,
    actionDigest: toDigestMessage(actionDigest),
    digestFunction: actionDigest.fn.value as DigestFunction_Value,
    inlineStdout: true,
    inlineStderr: true,
  });
  const watcher = new StageWatcher(options.onStage);
  let attemptsLeft = options.reattempts ?? 3;
  let stream: ClientReadableStream<Operation> = client.execute(request);
  let what = 'Execute';
  for (;;) {
    try {
      const done = await watcher.follow(stream, what);
      return outcomeOf(done);
    } catch (err) {
      const name = watcher.operationName;
      if (name === undefined || attemptsLeft === 0 || !hasCode(err, status.UNAVAILABLE)) throw err;
      attemptsLeft--;
      stream = client.waitExecution({ name });
      what = 'WaitExecution';
    }
  }
}

/** The response of a done operation; rejects with the operation's error when it has one. */
export function outcomeOf(operation: Operation): ExecutionOutcome {
  if (operation.error !== undefined && operation.error.code !== status.OK) {
    throw new KilnError(
      operation.error.code,
      `operation ${operation.name}: ${operation.error.message}`,
    );
  }
  const response = executeResponseOf(operation);
  if (response === undefined) {
    throw new KilnError(
      status.INTERNAL,
      `operation ${operation.name} is done but has no ExecuteResponse`,
    );
  }
  return { operationName: operation.name, response };
}

/** The REAPI stage name of an operation, from its ExecuteOperationMetadata. */
export function stageOf(operation: Operation): string {
  const metadata = executeMetadataOf(operation);
  if (operation.done) return 'COMPLETED';
  return metadata === undefined ? 'UNKNOWN' : executionStage_ValueToJSON(metadata.stage);
}

/** Follows operation streams, reporting each stage once. */
class StageWatcher {
  readonly #onStage: ((stage: string, operationName: string) => void) | undefined;
  #lastStage: string | undefined;
  operationName: string | undefined;

  constructor(onStage: ((stage: string, operationName: string) => void) | undefined) {
    this.#onStage = onStage;
  }

  /** Resolves with the done operation; rejects with a KilnError when the stream fails or ends early. */
  async follow(stream: ClientReadableStream<Operation>, what: string): Promise<Operation> {
    try {
      for await (const operation of stream as AsyncIterable<Operation>) {
        this.operationName = operation.name;
        const stage = stageOf(operation);
        if (stage !== this.#lastStage) {
          this.#lastStage = stage;
          this.#onStage?.(stage, operation.name);
        }
        if (operation.done) return operation;
      }
    } catch (err) {
      throw fromGrpcError(err, what);
    }
    throw unavailable(`${what}: the stream ended before the operation was done`);
  }
}
