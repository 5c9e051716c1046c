/**
 * `kiln action create`: stores a Command and an Action in the CAS and prints
 * the action digest, for `kiln execute` (or any REAPI client) to run.
 */
import { uploadAction } from '../client/upload-action.ts';
import { formatDigest } from '../digest/digest.ts';
import {
  ACTION_OPTIONS,
  ACTION_OPTIONS_HELP,
  actionDefinitionOf,
  emptyRoot,
  resolveInputRoot,
} from './action-options.ts';
import { type CommandContext, runCommand, runGroup } from './cli-runner.ts';

const ACTION_HELP = `Usage: kiln action <command> [options]

Commands:
  create   store an Action and its Command; prints the action digest

Run "kiln action create --help" for its options.
`;

const CREATE_HELP = `Usage: kiln action create [options] -- PROGRAM [ARGS…]

Builds a Command (arguments, environment, outputs, working directory,
platform) and an Action (command, input root, timeout, caching), uploads the
ones the server lacks, and prints the action digest HASH/SIZE.

Options:
  --input-root ROOT    a root Directory digest HASH/SIZE, or a local directory
                       to upload (default: an empty input root)
${ACTION_OPTIONS_HELP}

Examples:
  kiln action create --input-root ./src --output out.txt -- sh -c 'wc -l *.c > out.txt'
  kiln action create --platform OSFamily=linux --env LANG=C --timeout 60 -- make test
  ACTION=$(kiln action create -- echo hello) && kiln execute "$ACTION"`;

/** Runs `kiln action` with the arguments after `action`. */
export function actionCommand(args: string[]): Promise<number> {
  return runGroup(
    {
      name: 'action',
      help: ACTION_HELP,
      commands: {
        create: (a) =>
          runCommand(
            a,
            {
              name: 'action create',
              help: CREATE_HELP,
              options: { ...ACTION_OPTIONS, 'input-root': { type: 'string' } },
              argv: true,
            },
            create,
          ),
      },
    },
    args,
  );
}

async function create(ctx: CommandContext): Promise<number> {
  const definition = actionDefinitionOf(ctx.args);
  const rootArg = ctx.args.string('input-root');
  const conn = await ctx.connect();
  const inputRootDigest =
    rootArg === undefined ? emptyRoot(ctx) : await resolveInputRoot(ctx, rootArg);
  const uploaded = await uploadAction(conn.cas, ctx.settings.digestFunction, {
    ...definition,
    inputRootDigest,
  });
  ctx.out.result(
    {
      actionDigest: formatDigest(uploaded.actionDigest),
      commandDigest: formatDigest(uploaded.commandDigest),
      inputRootDigest: formatDigest(inputRootDigest),
    },
    () => formatDigest(uploaded.actionDigest),
  );
  return 0;
}
