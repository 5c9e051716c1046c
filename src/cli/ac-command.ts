/**
 * `kiln ac`: the action cache from the command line. `get` shows a result
 * and who wrote it; `purge` (administrators) removes the entries a
 * principal or a worker wrote. Only workers and trusted clients write it.
 */
import { status } from '@grpc/grpc-js';
import { timestampOf } from '../cache/provenance.ts';
import { type Digest, formatDigest, parseDigest, toDigestMessage } from '../digest/digest.ts';
import { hasCode, notFound } from '../errors.ts';
import {
  type ActionResult,
  type DigestFunction_Value,
  GetActionResultRequest,
} from '../gen/build/bazel/remote/execution/v2/remote_execution.js';
import {
  GetProvenanceRequest,
  type GetProvenanceResponse,
  PurgeRequest,
  type PurgeResponse,
} from '../gen/kiln/admin/v1/action_cache_admin.js';
import { UsageError } from './cli-errors.ts';
import { plural, table } from './cli-output.ts';
import { type CommandContext, runCommand, runGroup } from './cli-runner.ts';
import type { Connection } from './connection.ts';
import { parseDigestArg } from './digest-arg.ts';
import { provenanceJson, provenanceText } from './provenance-printer.ts';
import { resultText, viewResult } from './result-printer.ts';
import { parseTimeArg } from './time-arg.ts';

const AC_HELP = `Usage: kiln ac <command> [options]

The action cache.

Commands:
  get ACTION_DIGEST   show the cached result of an action and who wrote it
  purge               remove every entry a principal or a worker wrote (admin)

Run "kiln ac get --help" or "kiln ac purge --help" for their options.
`;

const GET_HELP = `Usage: kiln ac get ACTION_DIGEST

Shows the cached result of an action: exit code, worker, stage timings,
outputs, stdout and stderr, and who wrote the entry (principal, worker,
tool invocation, client address, time). Fails with "no cached result" when
there is none.

Examples:
  kiln ac get 4c1f2e…/142
  kiln ac get "$ACTION" --json | jq '.provenance.principal'`;

const PURGE_HELP = `Usage: kiln ac purge (--principal NAME | --worker NAME) [--since TIME] [--dry-run]

Removes every action cache entry written by a principal or produced by a
worker, and says how many it removed: a poisoned cache is cleaned without
wiping it. Needs the admin permission on the instance (--instance; entries
of instances below it are included, and the default "" is every instance).

Options:
  --principal NAME   entries in which NAME took part: the client that uploaded
                     the result or asked for its execution, or the worker's principal
  --worker NAME      entries produced by workers of this name (bot id); with
                     --principal too, an entry must match both
  --since TIME       only entries written since TIME: RFC 3339
                     (2026-12-06T10:00:00Z) or a duration back from now (2h, 1d12h)
  --dry-run          count and list what would be removed, remove nothing

Examples:
  kiln ac purge --principal leaked-ci --since 2026-12-01T00:00:00Z
  kiln ac purge --worker bot-17 --since 6h --dry-run`;

/** Most purged entries listed as text; --json lists what the server returned (up to 1000). */
const PURGE_TEXT_LIST = 20;

/** Runs `kiln ac` with the arguments after `ac`. */
export function acCommand(args: string[]): Promise<number> {
  return runGroup(
    {
      name: 'ac',
      help: AC_HELP,
      commands: {
        get: (a) =>
          runCommand(a, { name: 'ac get', help: GET_HELP, positionals: ['ACTION_DIGEST'] }, get),
        purge: (a) =>
          runCommand(
            a,
            {
              name: 'ac purge',
              help: PURGE_HELP,
              options: {
                principal: { type: 'string' },
                worker: { type: 'string' },
                since: { type: 'string' },
                'dry-run': { type: 'boolean' },
              },
            },
            purge,
          ),
      },
    },
    args,
  );
}

async function get(ctx: CommandContext): Promise<number> {
  const { settings } = ctx;
  const actionDigest = parseDigestArg(
    ctx.args.positional(0),
    settings.digestFunction,
    'action digest',
  );
  const conn = await ctx.connect();
  const request = GetActionResultRequest.fromPartial({
    instanceName: settings.instanceName,
    actionDigest: toDigestMessage(actionDigest),
    digestFunction: actionDigest.fn.value as DigestFunction_Value,
    inlineStdout: true,
    inlineStderr: true,
  });
  let result: ActionResult;
  try {
    result = await conn.unary('GetActionResult', (md, opts, cb) =>
      conn.actionCache.getActionResult(request, md, opts, cb),
    );
  } catch (err) {
    if (!hasCode(err, status.NOT_FOUND)) throw err;
    throw notFound(
      `no cached result for action ${actionDigest.hash}/${actionDigest.size} in the action cache`,
    );
  }
  const [view, written] = await Promise.all([
    viewResult(conn, result, { actionDigest, cached: true }),
    provenance(conn, settings.instanceName, actionDigest),
  ]);
  const json = {
    ...view.json,
    provenance: written.response?.provenance && provenanceJson(written.response.provenance),
  };
  ctx.out.result(json, () =>
    resultText({
      ...view,
      summary: `${view.summary}\n${provenanceText(written.response?.provenance, written.note)}`,
    }),
  );
  return 0;
}

/**
 * Who wrote the entry. A server without Kiln's admin API (another REAPI
 * server, an older Kiln) answers UNIMPLEMENTED: then only a note.
 */
async function provenance(
  conn: Connection,
  instanceName: string,
  action: Digest,
): Promise<{ response?: GetProvenanceResponse; note?: string }> {
  const request = GetProvenanceRequest.fromPartial({
    instanceName,
    actionDigest: toDigestMessage(action),
    digestFunction: action.fn.value as DigestFunction_Value,
  });
  try {
    const response = await conn.unary<GetProvenanceResponse>('GetProvenance', (md, opts, cb) =>
      conn.actionCacheAdmin.getProvenance(request, md, opts, cb),
    );
    return { response };
  } catch (err) {
    if (hasCode(err, status.UNIMPLEMENTED)) {
      return { note: 'unknown (the server does not record provenance)' };
    }
    if (hasCode(err, status.NOT_FOUND)) return { note: 'unknown (the entry is gone)' };
    throw err;
  }
}

async function purge(ctx: CommandContext): Promise<number> {
  const { args, settings } = ctx;
  const principal = args.string('principal');
  const worker = args.string('worker');
  if (principal === undefined && worker === undefined) {
    throw new UsageError(
      'give --principal NAME or --worker NAME (or both): whose entries to remove',
    );
  }
  for (const [option, value] of [
    ['--principal', principal],
    ['--worker', worker],
  ] as const) {
    if (value === '') throw new UsageError(`${option} must not be empty`);
  }
  const since = args.string('since');
  const sinceMs = since === undefined ? undefined : parseTimeArg(since, '--since');
  const dryRun = args.flag('dry-run');
  const conn = await ctx.connect();
  const request = PurgeRequest.fromPartial({
    instanceName: settings.instanceName,
    principal: principal ?? '',
    worker: worker ?? '',
    since: sinceMs === undefined ? undefined : timestampOf(sinceMs),
    dryRun,
  });
  // A purge of many entries takes a while: up to ten minutes.
  const response: PurgeResponse = await conn.unary(
    'Purge',
    (md, opts, cb) => conn.actionCacheAdmin.purge(request, md, opts, cb),
    600_000,
  );
  const entries = response.entries.map((e) => ({
    instanceName: e.instanceName,
    actionDigest: formatDigest(parseDigest(e.actionDigest, e.digestFunction)),
    provenance: e.provenance && provenanceJson(e.provenance),
  }));
  const what = [
    principal === undefined ? undefined : `principal "${principal}"`,
    worker === undefined ? undefined : `worker "${worker}"`,
  ]
    .filter((s) => s !== undefined)
    .join(' and ');
  ctx.out.result(
    { removed: response.removed, examined: response.examined, dryRun, entries },
    () => {
      const verb = dryRun ? 'Would remove' : 'Removed';
      const scope =
        since === undefined ? '' : ` since ${new Date(sinceMs as number).toISOString()}`;
      const lines = [
        `${verb} ${plural(response.removed, 'action cache entry', 'action cache entries')} written by ${what}${scope}.`,
      ];
      const shown = entries.slice(0, PURGE_TEXT_LIST);
      if (shown.length > 0) {
        lines.push(
          table(
            shown.map((e) => [
              e.actionDigest,
              e.instanceName === '' ? '(default instance)' : e.instanceName,
              String(e.provenance?.writtenAt ?? ''),
            ]),
          ),
        );
      }
      if (response.removed > shown.length) {
        lines.push(`… and ${response.removed - shown.length} more (--json lists up to 1000)`);
      }
      return lines.join('\n');
    },
  );
  return 0;
}
