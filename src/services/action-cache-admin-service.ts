/**
 * `kiln.admin.v1.ActionCacheAdmin`: who wrote an action cache entry
 * (GetProvenance, `ac:read`) and purging the entries of a principal or a
 * worker (Purge, `admin`). The interceptor checks the permissions; this
 * records each purge's outcome in the audit log.
 */
import type { ActionCache } from '../cache/action-cache.ts';
import { msOf } from '../cache/provenance.ts';
import { parseDigest, toDigestMessage } from '../digest/digest.ts';
import { validateInstanceName } from '../digest/instance-name.ts';
import { invalidArgument, notFound } from '../errors.ts';
import type { DigestFunction_Value } from '../gen/build/bazel/remote/execution/v2/remote_execution.js';
import type {
  ActionCacheAdminServer,
  GetProvenanceRequest,
  GetProvenanceResponse,
  PurgeRequest,
  PurgeResponse,
} from '../gen/kiln/admin/v1/action_cache_admin.js';
import type { AuditLog } from '../observe/audit-log.ts';
import { type RpcContext, unary } from '../rpc/rpc.ts';
import type { Logger } from '../util/logger.ts';

/** Options for {@link createActionCacheAdminService}. */
export interface ActionCacheAdminServiceOptions {
  readonly log: Logger;
  readonly actionCache: ActionCache;
  /** Where purges are recorded; they are only logged when absent. */
  readonly audit?: Pick<AuditLog, 'admin'>;
}

/** Creates the ActionCacheAdmin service implementation. */
export function createActionCacheAdminService(
  options: ActionCacheAdminServiceOptions,
): ActionCacheAdminServer {
  const { log, actionCache } = options;

  async function getProvenance(req: GetProvenanceRequest): Promise<GetProvenanceResponse> {
    validateInstanceName(req.instanceName);
    const action = parseDigest(req.actionDigest, req.digestFunction, 'action_digest');
    const entry = await actionCache.lookup(req.instanceName, action);
    if (entry === undefined) {
      throw notFound(`no action cache entry for action ${action.hash}/${action.size}`);
    }
    return { provenance: entry.provenance, complete: entry.complete };
  }

  /** The range of google.protobuf.Timestamp: 0001-01-01 to 9999-12-31 (UTC). */
  const MIN_TIMESTAMP_SECONDS = -62_135_596_800;
  const MAX_TIMESTAMP_SECONDS = 253_402_300_799;

  async function purge(
    req: PurgeRequest,
    ctx: RpcContext,
    call: { getPeer(): string },
  ): Promise<PurgeResponse> {
    validateInstanceName(req.instanceName);
    if (req.principal === '' && req.worker === '') {
      throw invalidArgument(
        'a purge needs a principal or a worker (or both) whose entries to remove; ' +
          'to empty the whole action cache, delete its store instead',
      );
    }
    const since = req.since;
    if (
      since !== undefined &&
      !(
        Number.isSafeInteger(since.seconds) &&
        since.seconds >= MIN_TIMESTAMP_SECONDS &&
        since.seconds <= MAX_TIMESTAMP_SECONDS &&
        Number.isInteger(since.nanos) &&
        since.nanos >= 0 &&
        since.nanos <= 999_999_999
      )
    ) {
      throw invalidArgument(
        `since (${since.seconds} s, ${since.nanos} ns) is not a valid time: seconds must lie ` +
          'between years 0001 and 9999 and nanos between 0 and 999,999,999',
      );
    }
    const sinceMs = since === undefined ? undefined : msOf(since);
    const by = ctx.identity?.principal ?? '';
    const filter = {
      principal: req.principal === '' ? undefined : req.principal,
      worker: req.worker === '' ? undefined : req.worker,
      sinceMs,
    };
    const outcome = await actionCache.purge({
      filter,
      instancePrefix: req.instanceName,
      by,
      dryRun: req.dryRun,
    });
    const detail = {
      instance: req.instanceName,
      ofPrincipal: filter.principal,
      ofWorker: filter.worker,
      since: sinceMs === undefined ? undefined : new Date(sinceMs).toISOString(),
      dryRun: req.dryRun,
      removed: outcome.removed,
      examined: outcome.examined,
    };
    if (options.audit !== undefined) {
      options.audit.admin({
        action: 'action-cache.purge',
        principal: by,
        peer: call.getPeer(),
        detail,
      });
    } else {
      log.info({ event: 'admin', action: 'action-cache.purge', principal: by, ...detail }, 'purge');
    }
    return {
      removed: outcome.removed,
      examined: outcome.examined,
      entries: outcome.entries.map((e) => ({
        instanceName: e.instanceName,
        actionDigest: toDigestMessage(e.action),
        digestFunction: e.action.fn.value as DigestFunction_Value,
        provenance: e.provenance,
      })),
    };
  }

  return {
    getProvenance: unary(log, 'ActionCacheAdmin.GetProvenance', getProvenance),
    purge: unary(log, 'ActionCacheAdmin.Purge', purge),
  };
}
