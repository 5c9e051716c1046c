/**
 * ActionCache: GetActionResult (with inlining of stdout, stderr and output
 * files on request) and UpdateActionResult (for callers holding `ac:write`,
 * which the authorization interceptor checks).
 */
import type { ActionCache } from '../cache/action-cache.ts';
import { type Digest, isEmptyDigest, parseDigest } from '../digest/digest.ts';
import { validateInstanceName } from '../digest/instance-name.ts';
import { invalidArgument, notFound } from '../errors.ts';
import type {
  ActionCacheServer,
  ActionResult,
  Digest as DigestMessage,
  GetActionResultRequest,
  UpdateActionResultRequest,
} from '../gen/build/bazel/remote/execution/v2/remote_execution.js';
import { type RpcContext, unary } from '../rpc/rpc.ts';
import { type BlobStore, readAll } from '../storage/blob-store.ts';
import type { Logger } from '../util/logger.ts';
import { MAX_INLINE_BYTES } from './limits.ts';

/** Options for {@link createActionCacheService}. */
export interface ActionCacheServiceOptions {
  readonly log: Logger;
  readonly actionCache: ActionCache;
  /** The CAS, for inlining. */
  readonly cas: BlobStore;
  /** Told about every GetActionResult hit and miss (metrics, build tracking). */
  readonly onLookup?: (lookup: ActionCacheLookup) => void;
}

/** One GetActionResult outcome. */
export interface ActionCacheLookup {
  readonly instanceName: string;
  readonly actionDigest: Digest;
  readonly hit: boolean;
  /** The caller's REAPI RequestMetadata, when it sent one. */
  readonly requestMetadata: RpcContext['requestMetadata'];
}

/** Creates the ActionCache service implementation. */
export function createActionCacheService(options: ActionCacheServiceOptions): ActionCacheServer {
  const { log, actionCache, cas } = options;

  /** Reads a blob to inline if it fits the remaining budget. */
  async function inline(
    message: DigestMessage | undefined,
    fnValue: number,
    budget: { left: number },
  ): Promise<Buffer | undefined> {
    if (message === undefined) return undefined;
    const digest: Digest = parseDigest(message, fnValue);
    if (digest.size > budget.left) return undefined;
    budget.left -= digest.size;
    return isEmptyDigest(digest) ? Buffer.alloc(0) : readAll(cas, digest);
  }

  async function getActionResult(
    req: GetActionResultRequest,
    ctx: RpcContext,
  ): Promise<ActionResult> {
    validateInstanceName(req.instanceName);
    const action = parseDigest(req.actionDigest, req.digestFunction, 'action_digest');
    const result = await actionCache.get(req.instanceName, action);
    options.onLookup?.({
      instanceName: req.instanceName,
      actionDigest: action,
      hit: result !== undefined,
      requestMetadata: ctx.requestMetadata,
    });
    if (result === undefined) {
      throw notFound(`no complete action result for action ${action.hash}/${action.size}`);
    }
    const budget = { left: MAX_INLINE_BYTES };
    const fn = action.fn.value;
    if (req.inlineStdout && result.stdoutRaw.byteLength === 0) {
      result.stdoutRaw = (await inline(result.stdoutDigest, fn, budget)) ?? result.stdoutRaw;
    }
    if (req.inlineStderr && result.stderrRaw.byteLength === 0) {
      result.stderrRaw = (await inline(result.stderrDigest, fn, budget)) ?? result.stderrRaw;
    }
    if (req.inlineOutputFiles.length > 0) {
      const wanted = new Set(req.inlineOutputFiles);
      for (const file of result.outputFiles) {
        if (wanted.has(file.path) && file.contents.byteLength === 0) {
          file.contents = (await inline(file.digest, fn, budget)) ?? file.contents;
        }
      }
    }
    return result;
  }

  async function updateActionResult(
    req: UpdateActionResultRequest,
    ctx: RpcContext,
    call: { getPeer(): string },
  ): Promise<ActionResult> {
    validateInstanceName(req.instanceName);
    const action = parseDigest(req.actionDigest, req.digestFunction, 'action_digest');
    if (req.actionResult === undefined) throw invalidArgument('action_result is missing');
    await actionCache.put(req.instanceName, action, req.actionResult, {
      source: 'upload',
      principal: ctx.identity?.principal,
      toolInvocationId: ctx.requestMetadata?.toolInvocationId,
      clientAddress: call.getPeer(),
    });
    return req.actionResult;
  }

  return {
    getActionResult: unary(log, 'ActionCache.GetActionResult', getActionResult),
    updateActionResult: unary(log, 'ActionCache.UpdateActionResult', updateActionResult),
  };
}
