/**
 * Execution: Execute and WaitExecution. Validates the request, loads the
 * Action and Command, hands them to the scheduler, and streams the operation
 * until it is done.
 */
import { parseDigest } from '../digest/digest.ts';
import { resolveDigestFunction } from '../digest/digest-function.ts';
import { validateInstanceName } from '../digest/instance-name.ts';
import { unavailable } from '../errors.ts';
import { loadAction } from '../execution/load-action.ts';
import { toOperation } from '../execution/operation-message.ts';
import type {
  ExecuteRequest,
  ExecuteResponse,
  ExecutionServer,
  WaitExecutionRequest,
} from '../gen/build/bazel/remote/execution/v2/remote_execution.js';
import type { Operation } from '../gen/google/longrunning/operations.js';
import { type RpcContext, serverStreaming } from '../rpc/rpc.ts';
import { turnSlicer } from '../rpc/turn-slicer.ts';
import type { OperationScheduler } from '../scheduler/scheduler.ts';
import type { OperationState } from '../scheduler/types.ts';
import { type BlobStore, readAll } from '../storage/blob-store.ts';
import type { Logger } from '../util/logger.ts';
import { MAX_INLINE_BYTES } from './limits.ts';

/** Options for {@link createExecutionService}. */
export interface ExecutionServiceOptions {
  readonly log: Logger;
  readonly cas: BlobStore;
  readonly scheduler: OperationScheduler;
  /**
   * True once the server drains (SIGTERM): Execute then answers UNAVAILABLE,
   * and a stream the scheduler ends before its operation is done ends with
   * UNAVAILABLE, so that the client retries on another server.
   */
  readonly draining?: () => boolean;
  /** Counts the streams following a running action, for the drain to wait on. */
  readonly streams?: ExecutionStreams;
}

/**
 * How many Execute and WaitExecution streams follow an action that a worker
 * runs, or are delivering its result: what a draining server waits for
 * before it ends the streams still waiting in the queue.
 */
export class ExecutionStreams {
  #running = 0;

  get running(): number {
    return this.#running;
  }

  /** Counts a stream in (true) or out (false). */
  add(delta: 1 | -1): void {
    this.#running += delta;
  }
}

/** The message of Execute refused while the server drains. */
export const DRAINING_MESSAGE =
  'this Kiln server is shutting down and takes no new actions; retry on another server';

/**
 * How long a stage update (QUEUED, EXECUTING) of an Execute or WaitExecution
 * stream waits for a newer one before it is sent. Most remote actions take
 * milliseconds to tens of milliseconds from Execute to result; their
 * streams then carry the result alone, which spares the server and the
 * client two messages per action, while an action that queues or runs for
 * longer still reports its stage within a blink.
 */
export const STAGE_UPDATE_COALESCE_MS = 100;

interface InlineRequest {
  readonly inlineStdout: boolean;
  readonly inlineStderr: boolean;
}

/** Creates the Execution service implementation. */
export function createExecutionService(options: ExecutionServiceOptions): ExecutionServer {
  const { log, cas, scheduler } = options;
  const draining = options.draining ?? (() => false);
  const streams = options.streams ?? new ExecutionStreams();

  /** Inlines stdout/stderr into a final response when the Execute request asked for it. */
  async function withInlining(
    state: OperationState,
    inline: InlineRequest,
  ): Promise<ExecuteResponse | undefined> {
    const response = state.response;
    const result = response?.result;
    if (result === undefined || !(inline.inlineStdout || inline.inlineStderr)) return response;
    const copy = { ...response, result: { ...result } } as ExecuteResponse & {
      result: NonNullable<ExecuteResponse['result']>;
    };
    const fn = state.actionDigest.fn.value;
    let budget = MAX_INLINE_BYTES;
    for (const [wanted, digestField, rawField] of [
      [inline.inlineStdout, 'stdoutDigest', 'stdoutRaw'],
      [inline.inlineStderr, 'stderrDigest', 'stderrRaw'],
    ] as const) {
      const message = result[digestField];
      if (!wanted || message === undefined || result[rawField].byteLength > 0) continue;
      const digest = parseDigest(message, fn);
      if (digest.size > budget || digest.size === 0) continue;
      budget -= digest.size;
      try {
        copy.result[rawField] = await readAll(cas, digest);
      } catch {
        // Inlining is best effort; the digest still lets the client fetch it.
      }
    }
    return copy;
  }

  async function stream(
    name: string,
    send: (op: Operation) => Promise<void>,
    ctx: RpcContext,
    inline: InlineRequest,
  ): Promise<void> {
    const watch = { signal: ctx.signal, coalesceMs: STAGE_UPDATE_COALESCE_MS };
    let counted = false;
    try {
      for await (const state of scheduler.watchOperation(name, watch)) {
        if (!counted && state.stage !== 'QUEUED') {
          counted = true;
          streams.add(1);
        }
        const response = state.done ? await withInlining(state, inline) : undefined;
        await send(toOperation(state, response));
        if (state.done) return;
      }
    } finally {
      if (counted) streams.add(-1);
    }
    // The scheduler ended the watch before the operation was done: it is shutting down.
    if (draining() && !ctx.signal.aborted) {
      throw unavailable(
        `this Kiln server is shutting down before ${name} finished; call WaitExecution on another server`,
      );
    }
  }

  async function execute(
    req: ExecuteRequest,
    send: (op: Operation) => Promise<void>,
    ctx: RpcContext,
    call: { getPeer(): string },
  ): Promise<void> {
    if (draining()) throw unavailable(DRAINING_MESSAGE);
    validateInstanceName(req.instanceName);
    const actionDigest = parseDigest(req.actionDigest, req.digestFunction, 'action_digest');
    const digestFunction =
      req.digestFunction === 0 ? actionDigest.fn : resolveDigestFunction(req.digestFunction);
    const loaded = await loadAction(cas, actionDigest);
    const metadata = ctx.requestMetadata;
    const state = await scheduler.submit({
      instanceName: req.instanceName,
      digestFunction,
      actionDigest,
      action: loaded.action,
      command: loaded.command,
      skipCacheLookup: req.skipCacheLookup,
      priority: req.executionPolicy?.priority ?? 0,
      // For fairness and quotas only: the interceptor already decided whether the caller may execute.
      principal: ctx.identity?.principal ?? '',
      clientAddress: call.getPeer(),
      toolInvocationId: metadata?.toolInvocationId ?? '',
      correlatedInvocationsId: metadata?.correlatedInvocationsId ?? '',
    });
    ctx.log.debug({ operation: state.name, action: actionDigest.key }, 'execute');
    await stream(state.name, send, ctx, req);
  }

  async function waitExecution(
    req: WaitExecutionRequest,
    send: (op: Operation) => Promise<void>,
    ctx: RpcContext,
  ): Promise<void> {
    await stream(req.name, send, ctx, { inlineStdout: false, inlineStderr: false });
  }

  return {
    // Executes come in bursts; lighter calls are answered between their starts.
    execute: serverStreaming(log, 'Execution.Execute', execute, { slicer: turnSlicer }),
    waitExecution: serverStreaming(log, 'Execution.WaitExecution', waitExecution),
  };
}
