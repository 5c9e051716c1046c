/**
 * `kiln ops`: the server's long-running operations (google.longrunning
 * Operations): list them, look at one, wait for one, cancel one.
 */
import { status } from '@grpc/grpc-js';
import { outcomeOf, stageOf } from '../client/execute-action.ts';
import { makeDigest } from '../digest/digest.ts';
import { KilnError } from '../errors.ts';
import { executeMetadataOf } from '../execution/operation-message.ts';
import {
  ListOperationsRequest,
  type ListOperationsResponse,
  type Operation,
} from '../gen/google/longrunning/operations.js';
import { describeError, UsageError } from './cli-errors.ts';
import { table } from './cli-output.ts';
import { type CommandContext, type CommandSpec, runCommand, runGroup } from './cli-runner.ts';
import type { Connection } from './connection.ts';
import { viewResult } from './result-printer.ts';

const OPS_HELP = `Usage: kiln ops <command> [options]

The server's operations (one per Execute call).

Commands:
  list          list operations (--filter to narrow them)
  get NAME      show an operation, and its result when it is done

NAME is the operation name (operations/ID), its ID alone, or the address
of its page in the web UI.
  wait NAME     wait until an operation is done, then show it
  cancel NAME   cancel an operation

Run "kiln ops <command> --help" for a command's options.
`;

const LIST_HELP = `Usage: kiln ops list [options]

Lists operations, newest first (like the web UI): name, stage and action digest.

Options:
  --filter EXPR   key=value terms joined by AND; keys on Kiln: stage (QUEUED,
                  EXECUTING, COMPLETED), done, instance_name, invocation_id,
                  correlated_invocations_id
  --limit N       the N newest operations (default 100)

Examples:
  kiln ops list
  kiln ops list --filter 'stage=EXECUTING' --json`;

const GET_HELP = `Usage: kiln ops get NAME

Shows an operation: its stage and action, and its result once it is done.

Examples:
  kiln ops get operations/5f0c…`;

const WAIT_HELP = `Usage: kiln ops wait NAME

Waits until an operation is done (asking the server with WaitOperation),
then shows it like "kiln ops get".

Examples:
  kiln ops wait operations/5f0c…`;

const CANCEL_HELP = `Usage: kiln ops cancel NAME

Cancels an operation. An action other requests still wait for may keep
running for them.

Examples:
  kiln ops cancel operations/5f0c…`;

/** Runs `kiln ops` with the arguments after `ops`. */
export function opsCommand(args: string[]): Promise<number> {
  const named = (name: string, help: string): CommandSpec => ({
    name: `ops ${name}`,
    help,
    positionals: ['NAME'],
  });
  return runGroup(
    {
      name: 'ops',
      help: OPS_HELP,
      commands: {
        list: (a) =>
          runCommand(
            a,
            {
              name: 'ops list',
              help: LIST_HELP,
              options: { filter: { type: 'string' }, limit: { type: 'string' } },
            },
            list,
          ),
        get: (a) => runCommand(a, named('get', GET_HELP), get),
        wait: (a) => runCommand(a, named('wait', WAIT_HELP), wait),
        cancel: (a) => runCommand(a, named('cancel', CANCEL_HELP), cancel),
      },
    },
    args,
  );
}

/** Name, stage and action digest of an operation. */
function summaryOf(op: Operation) {
  const action = executeMetadataOf(op)?.actionDigest;
  return {
    name: op.name,
    stage: stageOf(op),
    done: op.done,
    action: action === undefined ? undefined : `${action.hash}/${action.sizeBytes}`,
  };
}

async function list(ctx: CommandContext): Promise<number> {
  const limitText = ctx.args.string('limit') ?? '100';
  const limit = Number(limitText);
  if (!Number.isSafeInteger(limit) || limit < 1) {
    throw new UsageError(`--limit "${limitText}" must be a positive integer`);
  }
  const conn = await ctx.connect();
  // ListOperations pages go oldest first, and the newest are wanted: read
  // every page, keeping the last `limit` operations.
  let operations: Operation[] = [];
  let pageToken = '';
  do {
    const request = ListOperationsRequest.fromPartial({
      name: '',
      filter: ctx.args.string('filter') ?? '',
      pageSize: 1000,
      pageToken,
    });
    const page: ListOperationsResponse = await conn.unary('ListOperations', (md, opts, cb) =>
      conn.operations.listOperations(request, md, opts, cb),
    );
    operations.push(...page.operations);
    if (operations.length > limit) operations = operations.slice(-limit);
    pageToken = page.nextPageToken;
  } while (pageToken !== '');
  const rows = operations.reverse().map(summaryOf);
  ctx.out.result({ operations: rows }, () =>
    rows.length === 0
      ? 'no operations'
      : table([['NAME', 'STAGE', 'ACTION'], ...rows.map((r) => [r.name, r.stage, r.action ?? ''])]),
  );
  return 0;
}

/** Prints an operation, with its result view when done. */
async function show(ctx: CommandContext, conn: Connection, op: Operation): Promise<number> {
  const summary = summaryOf(op);
  const header = table([
    ['operation', summary.name],
    ['stage', summary.stage],
    ...(summary.action ? [['action', summary.action]] : []),
  ]);
  if (!op.done) {
    ctx.out.result(summary, () => header);
    return 0;
  }
  let outcome: ReturnType<typeof outcomeOf>;
  try {
    outcome = outcomeOf(op);
  } catch (err) {
    const error = describeError(err);
    ctx.out.result({ ...summary, error }, () => `${header}\n${table([['error', error]])}`);
    return 0;
  }
  const { response } = outcome;
  const failure =
    response.status !== undefined && response.status.code !== status.OK
      ? { code: response.status.code, message: response.status.message }
      : undefined;
  if (response.result === undefined) {
    ctx.out.result({ ...summary, status: failure }, () => header);
    return 0;
  }
  const meta = executeMetadataOf(op)?.actionDigest;
  const view = await viewResult(conn, response.result, {
    actionDigest:
      meta === undefined
        ? undefined
        : makeDigest(conn.settings.digestFunction, meta.hash, meta.sizeBytes),
    operationName: op.name,
    cached: response.cachedResult,
    status: failure,
  });
  ctx.out.result({ ...summary, ...view.json }, () => `stage      COMPLETED\n${view.summary}`);
  return 0;
}

/**
 * The operation name NAME stands for: as is when it has a `/`, prefixed
 * with `operations/` when it is a bare ID (as in the web UI's addresses),
 * or taken from a pasted web UI address.
 */
export function operationName(text: string): string {
  const page = /^https?:\/\/[^/]+\/operations\/([^/?#]+)/.exec(text.trim());
  if (page !== null) return `operations/${decodeURIComponent(page[1] as string)}`;
  return text.includes('/') ? text : `operations/${text}`;
}

async function get(ctx: CommandContext): Promise<number> {
  const conn = await ctx.connect();
  const name = operationName(ctx.args.positional(0));
  const op: Operation = await conn.unary('GetOperation', (md, opts, cb) =>
    conn.operations.getOperation({ name }, md, opts, cb),
  );
  return show(ctx, conn, op);
}

async function wait(ctx: CommandContext): Promise<number> {
  const conn = await ctx.connect();
  const name = operationName(ctx.args.positional(0));
  for (;;) {
    // Each call waits up to a minute on the server; the deadline leaves it room.
    const op: Operation = await conn.unary(
      'WaitOperation',
      (md, opts, cb) =>
        conn.operations.waitOperation({ name, timeout: { seconds: 60, nanos: 0 } }, md, opts, cb),
      90_000,
    );
    if (op.done) return show(ctx, conn, op);
  }
}

async function cancel(ctx: CommandContext): Promise<number> {
  const conn = await ctx.connect();
  const name = operationName(ctx.args.positional(0));
  // Cancelling a finished operation succeeds and does nothing: say so instead.
  const op: Operation = await conn.unary('GetOperation', (md, opts, cb) =>
    conn.operations.getOperation({ name }, md, opts, cb),
  );
  if (op.done) {
    throw new KilnError(
      status.FAILED_PRECONDITION,
      `operation ${name} had already finished; nothing to cancel (see "kiln ops get ${name}")`,
    );
  }
  await conn.unary('CancelOperation', (md, opts, cb) =>
    conn.operations.cancelOperation({ name }, md, opts, cb),
  );
  ctx.out.result({ name, cancelled: true }, () => `cancelled ${name}`);
  return 0;
}
