/**
 * Capabilities.GetCapabilities: what this server supports, so clients can
 * pick digest functions, batch sizes and compression.
 */

import { allows } from '../auth/permissions.ts';
import { DIGEST_FUNCTIONS } from '../digest/digest-function.ts';
import { validateInstanceName } from '../digest/instance-name.ts';
import {
  type CapabilitiesServer,
  Compressor_Value,
  DigestFunction_Value,
  type GetCapabilitiesRequest,
  type ServerCapabilities,
  SymlinkAbsolutePathStrategy_Value,
} from '../gen/build/bazel/remote/execution/v2/remote_execution.js';
import { encodeOnce } from '../rpc/capabilities-codec.ts';
import { unary } from '../rpc/rpc.ts';
import type { Logger } from '../util/logger.ts';
import { MAX_BATCH_TOTAL_SIZE_BYTES } from './limits.ts';

/** Options for {@link createCapabilitiesService}. */
export interface CapabilitiesServiceOptions {
  readonly log: Logger;
  /** Whether this server also serves Execute. */
  readonly executionEnabled?: boolean;
}

/**
 * The capabilities this server advertises to a caller that may
 * (`updateEnabled`) or may not write the action cache.
 */
export function serverCapabilities(
  options: CapabilitiesServiceOptions,
  updateEnabled: boolean,
): ServerCapabilities {
  return {
    cacheCapabilities: {
      digestFunctions: DIGEST_FUNCTIONS.map((f) => f.value as DigestFunction_Value),
      actionCacheUpdateCapabilities: { updateEnabled },
      cachePriorityCapabilities: { priorities: [{ minPriority: 0, maxPriority: 0 }] },
      maxBatchTotalSizeBytes: MAX_BATCH_TOTAL_SIZE_BYTES,
      symlinkAbsolutePathStrategy: SymlinkAbsolutePathStrategy_Value.ALLOWED,
      supportedCompressors: [Compressor_Value.ZSTD],
      supportedBatchUpdateCompressors: [Compressor_Value.ZSTD],
      maxCasBlobSizeBytes: 0,
      splitBlobSupport: false,
      spliceBlobSupport: false,
      fastCdc2020Params: undefined,
      repMaxCdcParams: undefined,
    },
    executionCapabilities: {
      digestFunction: DigestFunction_Value.SHA256,
      execEnabled: options.executionEnabled ?? false,
      // Lower values run sooner; any int32 is accepted.
      executionPriorityCapabilities: options.executionEnabled
        ? { priorities: [{ minPriority: -(2 ** 31), maxPriority: 2 ** 31 - 1 }] }
        : undefined,
      supportedNodeProperties: [],
      digestFunctions: options.executionEnabled
        ? DIGEST_FUNCTIONS.map((f) => f.value as DigestFunction_Value)
        : [],
    },
    deprecatedApiVersion: { major: 2, minor: 0, patch: 0, prerelease: '' },
    lowApiVersion: { major: 2, minor: 0, patch: 0, prerelease: '' },
    highApiVersion: { major: 2, minor: 3, patch: 0, prerelease: '' },
  };
}

/**
 * Creates the Capabilities service implementation. `update_enabled` is told
 * per caller: true only for callers with `ac:write` on the request's instance.
 * Those are the only two answers, each encoded once when first sent (see
 * capabilities-codec.ts, whose service definition must be the one registered).
 */
export function createCapabilitiesService(options: CapabilitiesServiceOptions): CapabilitiesServer {
  const caps = encodeOnce(serverCapabilities(options, true));
  const readOnly = encodeOnce(serverCapabilities(options, false));
  return {
    getCapabilities: unary(
      options.log,
      'Capabilities.GetCapabilities',
      async (req: GetCapabilitiesRequest, ctx) => {
        validateInstanceName(req.instanceName);
        const identity = ctx.identity;
        if (identity === undefined || allows(identity, 'ac:write', req.instanceName)) return caps;
        return readOnly;
      },
    ),
  };
}
