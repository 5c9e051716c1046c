/**
 * `kiln ac`: the action cache from the command line (read-only: only
 * workers and trusted clients write it).
 */
import { status } from '@grpc/grpc-js';
import { toDigestMessage } from '../digest/digest.ts';
import { hasCode, notFound } from '../errors.ts';
import {
  type ActionResult,
  type DigestFunction_Value,
  GetActionResultRequest,
} from '../gen/build/bazel/remote/execution/v2/remote_execution.js';
import { type CommandContext, runCommand, runGroup } from './cli-runner.ts';
import { parseDigestArg } from './digest-arg.ts';
import { resultText, viewResult } from './result-printer.ts';

const AC_HELP = `Usage: kiln ac <command> [options]

The action cache.

Commands:
  get ACTION_DIGEST   show the cached result of an action

Run "kiln ac get --help" for its options.
`;

const GET_HELP = `Usage: kiln ac get ACTION_DIGEST

Shows the cached result of an action: exit code, worker, stage timings,
outputs, stdout and stderr. Fails with "no cached result" when there is none.

Examples:
  kiln ac get 4c1f2e…/142
  kiln ac get "$ACTION" --json | jq '.outputFiles[].path'`;

/** Runs `kiln ac` with the arguments after `ac`. */
export function acCommand(args: string[]): Promise<number> {
  return runGroup(
    {
      name: 'ac',
      help: AC_HELP,
      commands: {
        get: (a) =>
          runCommand(a, { name: 'ac get', help: GET_HELP, positionals: ['ACTION_DIGEST'] }, get),
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
  const view = await viewResult(conn, result, { actionDigest, cached: true });
  ctx.out.result(view.json, () => resultText(view));
  return 0;
}
