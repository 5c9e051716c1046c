/**
 * google.longrunning.Operations over the scheduler's operations: get, list
 * (filter and paging), cancel, delete and wait.
 */
import { invalidArgument } from '../errors.ts';
import { parseOperationFilter } from '../execution/operation-filter.ts';
import { toOperation } from '../execution/operation-message.ts';
import type {
  CancelOperationRequest,
  DeleteOperationRequest,
  GetOperationRequest,
  ListOperationsRequest,
  ListOperationsResponse,
  Operation,
  OperationsServer,
  WaitOperationRequest,
} from '../gen/google/longrunning/operations.js';
import type { Empty } from '../gen/google/protobuf/empty.js';
import { type RpcContext, unary } from '../rpc/rpc.ts';
import type { OperationScheduler } from '../scheduler/scheduler.ts';
import type { OperationState } from '../scheduler/types.ts';
import type { Logger } from '../util/logger.ts';
import { MAX_TIMER_DELAY_MS, timerDelayMs } from '../util/timer-delay.ts';

/** Options for {@link createOperationsService}. */
export interface OperationsServiceOptions {
  readonly log: Logger;
  readonly scheduler: OperationScheduler;
  /** WaitOperation's wait when the request names no timeout; 60 s by default. */
  readonly defaultWaitMs?: number;
  /**
   * WaitOperation's longest wait: a longer timeout waits this long, as
   * google.longrunning allows. By default, and at most, 2^31 - 1 ms (about
   * 24.8 days), the longest timer Node keeps.
   */
  readonly maxWaitMs?: number;
}

/** Most operations per ListOperations page. */
const MAX_PAGE_SIZE = 1000;

/** Creates the Operations service implementation. */
export function createOperationsService(options: OperationsServiceOptions): OperationsServer {
  const { log, scheduler } = options;
  const defaultWaitMs = options.defaultWaitMs ?? 60_000;
  const maxWaitMs = timerDelayMs(options.maxWaitMs ?? MAX_TIMER_DELAY_MS);

  async function list(req: ListOperationsRequest): Promise<ListOperationsResponse> {
    if (req.pageSize < 0) throw invalidArgument(`page_size ${req.pageSize} is negative`);
    const page = await scheduler.listOperations({
      ...parseOperationFilter(req.filter),
      pageSize: Math.min(req.pageSize || MAX_PAGE_SIZE, MAX_PAGE_SIZE),
      pageToken: req.pageToken,
    });
    return {
      operations: page.operations.map((s) => toOperation(s)),
      nextPageToken: page.nextPageToken,
      unreachable: [],
    };
  }

  async function wait(req: WaitOperationRequest, ctx: RpcContext): Promise<Operation> {
    const timeoutMs = req.timeout
      ? req.timeout.seconds * 1000 + Math.floor(req.timeout.nanos / 1e6)
      : defaultWaitMs;
    if (timeoutMs < 0) throw invalidArgument('timeout is negative');
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), Math.min(timerDelayMs(timeoutMs), maxWaitMs));
    ctx.signal.addEventListener('abort', () => abort.abort(), { once: true });
    let last: OperationState | undefined;
    try {
      for await (const state of scheduler.watchOperation(req.name, { signal: abort.signal })) {
        last = state;
        if (state.done) break;
      }
    } finally {
      clearTimeout(timer);
      abort.abort();
    }
    return toOperation(last ?? (await scheduler.getOperation(req.name)));
  }

  const empty: Empty = {};
  return {
    listOperations: unary(log, 'Operations.ListOperations', list),
    getOperation: unary(log, 'Operations.GetOperation', async (req: GetOperationRequest) =>
      toOperation(await scheduler.getOperation(req.name)),
    ),
    cancelOperation: unary(
      log,
      'Operations.CancelOperation',
      async (req: CancelOperationRequest) => {
        await scheduler.cancelOperation(req.name);
        return empty;
      },
    ),
    deleteOperation: unary(
      log,
      'Operations.DeleteOperation',
      async (req: DeleteOperationRequest) => {
        await scheduler.deleteOperation(req.name);
        return empty;
      },
    ),
    waitOperation: unary(log, 'Operations.WaitOperation', (req: WaitOperationRequest, ctx) =>
      wait(req, ctx),
    ),
  };
}
