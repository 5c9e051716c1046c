/**
 * The options that describe an action, shared by `kiln action create` and
 * `kiln run`: platform, environment, outputs, working directory, timeout,
 * caching. Also the input root, given as a digest or as a local directory
 * to upload.
 */
import { stat } from 'node:fs/promises';
import { posix } from 'node:path';
import type { ParseArgsOptionDescriptor } from 'node:util';
import type { ActionDefinition, NameValue } from '../client/upload-action.ts';
import { uploadPath } from '../client/upload-path.ts';
import { parseDuration } from '../config/values.ts';
import { type Digest, formatDigest, makeDigest } from '../digest/digest.ts';
import { UsageError } from './cli-errors.ts';
import { formatSize, plural } from './cli-output.ts';
import type { CommandContext, ParsedArgs } from './cli-runner.ts';
import { looksLikeDigest, parseDigestArg } from './digest-arg.ts';
import { ProgressBar } from './progress-bar.ts';

/** The option definitions. */
export const ACTION_OPTIONS: Record<string, ParseArgsOptionDescriptor> = {
  platform: { type: 'string', multiple: true },
  env: { type: 'string', multiple: true },
  output: { type: 'string', multiple: true },
  cwd: { type: 'string' },
  timeout: { type: 'string' },
  'no-cache': { type: 'boolean' },
};

/** Help lines for {@link ACTION_OPTIONS}. */
export const ACTION_OPTIONS_HELP = `  --platform K=V       a platform property the worker must offer; repeatable
  --env K=V            an environment variable of the command; repeatable
  --output PATH        an output file or directory (relative to --cwd); repeatable
  --cwd DIR            working directory, relative to the input root
  --timeout DURATION   time limit: seconds (30) or with a unit (500ms, 2m)
  --no-cache           never cache the result (do_not_cache)`;

/** Parses `K=V` options; UsageError naming the option. */
function pairs(args: ParsedArgs, option: string): NameValue[] {
  return args.strings(option).map((entry) => {
    const at = entry.indexOf('=');
    if (at <= 0) throw new UsageError(`--${option} "${entry}" must look like NAME=VALUE`);
    return { name: entry.slice(0, at), value: entry.slice(at + 1) };
  });
}

/**
 * The declared outputs as paths relative to the input root, which `kiln run`
 * leaves out of the inputs it uploads: outputs it downloaded into the input
 * directory must not change the next run's input root (and its cache key).
 */
export function outputsInInputRoot(definition: Omit<ActionDefinition, 'inputRootDigest'>) {
  return new Set(
    (definition.outputPaths ?? []).map((p) =>
      posix.normalize(posix.join(definition.workingDirectory ?? '', p)).replace(/\/+$/, ''),
    ),
  );
}

/** Everything of the action but its input root, from the options and `-- ARGV…`. */
export function actionDefinitionOf(args: ParsedArgs): Omit<ActionDefinition, 'inputRootDigest'> {
  const timeout = args.string('timeout');
  let timeoutMs: number | undefined;
  if (timeout !== undefined) {
    timeoutMs = parseDuration(/^\s*[\d.]+\s*$/.test(timeout) ? `${timeout}s` : timeout);
    if (timeoutMs === undefined || timeoutMs <= 0) {
      throw new UsageError(`--timeout "${timeout}" is not a duration like 30, 30s or 2m`);
    }
  }
  const cwd = (args.string('cwd') ?? '').replace(/^\.\/?$/, '').replace(/\/+$/, '');
  for (const path of [cwd, ...args.strings('output')]) {
    if (path.startsWith('/')) throw new UsageError(`"${path}" must be a relative path`);
  }
  return {
    arguments: args.argv,
    environment: pairs(args, 'env'),
    platform: pairs(args, 'platform'),
    outputPaths: args.strings('output'),
    workingDirectory: cwd,
    timeoutMs,
    doNotCache: args.flag('no-cache'),
  };
}

/** The digest of an empty input root (an empty Directory encodes to no bytes). */
export function emptyRoot(ctx: CommandContext): Digest {
  const fn = ctx.settings.digestFunction;
  return makeDigest(fn, fn.emptyHash, 0);
}

/**
 * The input root `value` names: a `HASH/SIZE` digest (unless a directory of
 * that name exists) or a local directory, which is uploaded.
 */
export async function resolveInputRoot(ctx: CommandContext, value: string): Promise<Digest> {
  const info = await stat(value).catch(() => undefined);
  if (info === undefined && looksLikeDigest(value)) {
    return parseDigestArg(value, ctx.settings.digestFunction, 'input root');
  }
  if (!info?.isDirectory()) {
    throw new UsageError(`--input-root "${value}" is neither a directory nor a HASH/SIZE digest`);
  }
  return uploadInputDirectory(ctx, value);
}

/**
 * Uploads a local directory with a progress bar; returns its root Directory
 * digest. `skip` lists paths (relative to `path`) to leave out.
 */
export async function uploadInputDirectory(
  ctx: CommandContext,
  path: string,
  skip?: ReadonlySet<string>,
): Promise<Digest> {
  const { out } = ctx;
  const conn = await ctx.connect();
  let bar: ProgressBar | undefined;
  const uploaded = await uploadPath({
    cas: conn.cas,
    digestFunction: ctx.settings.digestFunction,
    path,
    skip,
    onStart: (total) => {
      bar = new ProgressBar({ stream: out.stderr, label: 'uploading', total, enabled: !out.json });
    },
    onProgress: (bytes) => bar?.add(bytes),
  });
  bar?.finish();
  if (uploaded.uploadedBlobs > 0 && !out.json) {
    out.note(
      `kiln: uploaded ${plural(uploaded.uploadedBlobs, 'blob')} (${formatSize(uploaded.uploadedBytes)}) of input root ${formatDigest(uploaded.digest)}`,
    );
  }
  return uploaded.digest;
}
