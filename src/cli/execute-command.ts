/**
 * `kiln execute`: runs a stored action on the server, reports its stages on
 * stderr as they change, and prints the result: exit code, stage timings,
 * resource usage (when the worker measured it), outputs, stdout and stderr.
 */
import { status } from '@grpc/grpc-js';
import { type ExecutionOutcome, executeAction } from '../client/execute-action.ts';
import type { Digest } from '../digest/digest.ts';
import { KilnError } from '../errors.ts';
import { type BlobKind, decodeBlob } from '../ui/blob-kind.ts';
import { formatDuration } from './cli-output.ts';
import { type CommandContext, runCommand } from './cli-runner.ts';
import type { Connection } from './connection.ts';
import { parseDigestArg } from './digest-arg.ts';
import { resultText, viewResult } from './result-printer.ts';

const EXECUTE_HELP = `Usage: kiln execute ACTION_DIGEST [options]

Runs an action (see "kiln action create") and waits for it. Stage changes
(queued, executing, completed) go to stderr; the result goes to stdout: exit
code, worker, stage timings (queued, input fetch, execution, output upload),
resources (CPU time, peak memory, storage reads and writes; when the worker
measured them), outputs, and the command's stdout and stderr. Exits 0 when
the action ran, whatever its exit code (see "exitCode" in --json), 1 when it
could not run.

Options:
  --skip-cache   run even if the action cache holds a result
  -q, --quiet    do not report stage changes

Examples:
  kiln execute 4c1f2e…/142
  kiln execute "$ACTION" --skip-cache --json | jq .exitCode`;

/** A stage the CLI saw, and when (ms after Execute was called). */
export interface SeenStage {
  readonly stage: string;
  readonly atMs: number;
}

/** An execution with the stages it went through. */
export interface WatchedExecution extends ExecutionOutcome {
  readonly stages: readonly SeenStage[];
  readonly elapsedMs: number;
}

/**
 * Executes `actionDigest`, writing `kiln: queued …`, `kiln: executing` and
 * `kiln: completed …` lines to stderr unless `quiet`.
 */
export async function executeWithStages(
  ctx: CommandContext,
  conn: Connection,
  actionDigest: Digest,
  options: { skipCacheLookup: boolean; quiet: boolean },
): Promise<WatchedExecution> {
  const start = performance.now();
  const stages: SeenStage[] = [];
  let named = false;
  const outcome = await executeAction({
    client: conn.execution,
    instanceName: ctx.settings.instanceName,
    actionDigest,
    skipCacheLookup: options.skipCacheLookup,
    onStage: (stage, name) => {
      stages.push({ stage, atMs: Math.round(performance.now() - start) });
      if (options.quiet || stage === 'COMPLETED') return;
      const which = named ? '' : ` (operation ${name})`;
      named = true;
      ctx.out.note(`kiln: ${stage.toLowerCase().replace('_', ' ')}${which}`);
    },
  });
  const elapsedMs = performance.now() - start;
  if (!options.quiet) {
    const { response } = outcome;
    const how = response.cachedResult
      ? 'cache hit'
      : response.result === undefined
        ? 'no result'
        : `exit code ${response.result.exitCode}`;
    // A fast action's stream carries its result alone (the server holds back
    // stage updates briefly): the operation is then named here.
    const which = named ? '' : `; operation ${outcome.operationName}`;
    ctx.out.note(`kiln: completed in ${formatDuration(elapsedMs)} (${how}${which})`);
  }
  return { ...outcome, stages, elapsedMs };
}

/** The ExecuteResponse status as `{code, message}` when it is not OK. */
export function failureOf(
  outcome: ExecutionOutcome,
): { code: number; message: string } | undefined {
  const s = outcome.response.status;
  return s === undefined || s.code === status.OK ? undefined : { code: s.code, message: s.message };
}

/** What to do with a blob of each kind instead of executing it. */
const INSTEAD: Readonly<Record<Exclude<BlobKind, 'action'>, string>> = {
  directory:
    'a Directory (an input root?): make an action with "kiln action create" or use "kiln run"',
  tree: 'a Tree: look at it with "kiln cas cat --as Tree"',
  command: 'a Command: "kiln action create" makes the Action that names it',
  file: 'a plain file: look at it with "kiln cas cat"',
};

/**
 * When Execute rejected `digest` as malformed, an error saying what the blob
 * is instead (a Directory, a Command, a file), or undefined when it is an
 * Action after all, or cannot be read: then the server's error stands.
 */
async function notAnAction(
  conn: Connection,
  digest: Digest,
  err: unknown,
): Promise<KilnError | undefined> {
  const code = err instanceof KilnError ? err.code : undefined;
  if (code !== status.INVALID_ARGUMENT && code !== status.FAILED_PRECONDITION) return undefined;
  if (digest.size > 4 * 1024 * 1024) return undefined;
  const data = await conn.cas.readBlob(digest).catch(() => undefined);
  const kind = data === undefined ? undefined : decodeBlob(digest, data)?.kind;
  if (kind === undefined || kind === 'action') return undefined;
  return new KilnError(
    status.INVALID_ARGUMENT,
    `blob ${digest.hash}/${digest.size} is not an Action; it looks like ${INSTEAD[kind]}`,
  );
}

/** Runs `kiln execute` with the arguments after `execute`. */
export function executeCommand(args: string[]): Promise<number> {
  return runCommand(
    args,
    {
      name: 'execute',
      help: EXECUTE_HELP,
      positionals: ['ACTION_DIGEST'],
      options: { 'skip-cache': { type: 'boolean' }, quiet: { type: 'boolean', short: 'q' } },
    },
    async (ctx) => {
      const actionDigest = parseDigestArg(
        ctx.args.positional(0),
        ctx.settings.digestFunction,
        'action digest',
      );
      const conn = await ctx.connect();
      const run = await executeWithStages(ctx, conn, actionDigest, {
        skipCacheLookup: ctx.args.flag('skip-cache'),
        quiet: ctx.args.flag('quiet'),
      }).catch(async (err: unknown) => {
        throw (await notAnAction(conn, actionDigest, err)) ?? err;
      });
      const failure = failureOf(run);
      const result = run.response.result;
      if (result === undefined) {
        throw new KilnError(
          failure?.code ?? status.INTERNAL,
          `the action failed: ${failure?.message ?? 'the server sent no result'}`,
        );
      }
      const view = await viewResult(conn, result, {
        actionDigest,
        operationName: run.operationName,
        cached: run.response.cachedResult,
        status: failure,
      });
      ctx.out.result({ ...view.json, stages: run.stages }, () => resultText(view));
      if (failure !== undefined) {
        ctx.out.note(
          `kiln: the action failed: ${status[failure.code] ?? failure.code}: ${failure.message}`,
        );
        return 1;
      }
      return 0;
    },
  );
}
