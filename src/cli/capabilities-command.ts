/**
 * `kiln capabilities`: what a REAPI server says it supports
 * (GetCapabilities), in a few readable lines or as the message in JSON.
 */
import { status } from '@grpc/grpc-js';
import {
  compressor_ValueToJSON,
  digestFunction_ValueToJSON,
  type ServerCapabilities,
  ServerCapabilities as ServerCapabilitiesMessage,
  symlinkAbsolutePathStrategy_ValueToJSON,
} from '../gen/build/bazel/remote/execution/v2/remote_execution.js';
import type { SemVer } from '../gen/build/bazel/semver/semver.js';
import { formatSize, table } from './cli-output.ts';
import { runCommand } from './cli-runner.ts';

const CAPABILITIES_HELP = `Usage: kiln capabilities [options]

Asks the server what it supports (GetCapabilities): API versions, digest
functions, batch and blob size limits, compressors, whether clients may
write the action cache, and whether it executes actions.

Examples:
  kiln capabilities
  kiln capabilities --server grpcs://remote.example.com:443 --json`;

const version = (v: SemVer | undefined) =>
  v === undefined ? '?' : `${v.major}.${v.minor}${v.patch ? `.${v.patch}` : ''}`;

/** The readable summary. */
export function describeCapabilities(caps: ServerCapabilities, address: string, instance: string) {
  const cache = caps.cacheCapabilities;
  const exec = caps.executionCapabilities;
  const rows: string[][] = [
    ['server', `${address}${instance === '' ? '' : ` (instance "${instance}")`}`],
    ['API versions', `${version(caps.lowApiVersion)} to ${version(caps.highApiVersion)}`],
  ];
  if (cache !== undefined) {
    rows.push(
      [
        'digest functions',
        cache.digestFunctions.map((f) => digestFunction_ValueToJSON(f).toLowerCase()).join(', '),
      ],
      [
        'max batch size',
        cache.maxBatchTotalSizeBytes > 0 ? formatSize(cache.maxBatchTotalSizeBytes) : 'unlimited',
      ],
      [
        'max blob size',
        cache.maxCasBlobSizeBytes > 0 ? formatSize(cache.maxCasBlobSizeBytes) : 'unlimited',
      ],
      [
        'compressors',
        ['IDENTITY', ...cache.supportedCompressors.map((c) => compressor_ValueToJSON(c))]
          .filter((c, i, all) => all.indexOf(c) === i)
          .join(', ')
          .toLowerCase(),
      ],
      [
        'action cache writes',
        cache.actionCacheUpdateCapabilities?.updateEnabled ? 'allowed' : 'not allowed',
      ],
      [
        'absolute symlinks',
        symlinkAbsolutePathStrategy_ValueToJSON(cache.symlinkAbsolutePathStrategy).toLowerCase(),
      ],
    );
  } else {
    rows.push(['cache', 'not offered']);
  }
  rows.push([
    'remote execution',
    exec?.execEnabled
      ? `enabled (${digestFunction_ValueToJSON(exec.digestFunction).toLowerCase()})`
      : 'not offered',
  ]);
  return table(rows);
}

/** Runs `kiln capabilities` with the arguments after `capabilities`. */
export function capabilitiesCommand(args: string[]): Promise<number> {
  return runCommand(args, { name: 'capabilities', help: CAPABILITIES_HELP }, async (ctx) => {
    const conn = await ctx.connect();
    const { instanceName, address } = ctx.settings;
    const caps: ServerCapabilities = await conn.unary('GetCapabilities', (md, opts, cb) =>
      conn.capabilities.getCapabilities({ instanceName }, md, opts, cb),
    );
    ctx.out.result(ServerCapabilitiesMessage.toJSON(caps), () =>
      describeCapabilities(caps, address, instanceName),
    );
    return status.OK;
  });
}
