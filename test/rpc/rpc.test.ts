import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import { Metadata, type ServerUnaryCall, type ServiceError, status } from '@grpc/grpc-js';
import { pino } from 'pino';
import { invalidArgument, KilnError } from '../../src/errors.ts';
import { RequestMetadata } from '../../src/gen/build/bazel/remote/execution/v2/remote_execution.js';
import { type RpcContext, STATUS_DETAILS_LIMIT, toServiceError, unary } from '../../src/rpc/rpc.ts';
import { silentLogger } from '../../src/util/logger.ts';

/** The parts of a grpc-js unary call that `unary` uses. */
class FakeCall extends EventEmitter {
  cancelled = false;
  readonly request = {};
  readonly metadata = new Metadata();
  deadline: Date | number = Number.POSITIVE_INFINITY;

  getDeadline(): Date | number {
    return this.deadline;
  }

  cancel(): void {
    this.cancelled = true;
    this.emit('cancelled', 'cancelled');
  }
}

/**
 * Calls a handler wrapped by `unary` with a fake call; resolves with the
 * handler's context once `body` (which runs inside the handler) has finished.
 */
function runHandler(
  call: FakeCall,
  body: (ctx: RpcContext) => Promise<void>,
  log = silentLogger(),
): Promise<{ ctx: RpcContext; error: Partial<ServiceError> | null }> {
  return new Promise((resolve) => {
    let seen: RpcContext | undefined;
    const handler = unary<object, object>(log, 'Test.Method', async (_req, ctx) => {
      seen = ctx;
      await body(ctx);
      return {};
    });
    handler(call as unknown as ServerUnaryCall<object, object>, (error) => {
      resolve({ ctx: seen as RpcContext, error: error as Partial<ServiceError> | null });
    });
  });
}

describe('RPC context', () => {
  it('aborts a signal taken before the client cancels, when it cancels', async () => {
    const call = new FakeCall();
    let abortedDuringCall = false;
    await runHandler(call, async (ctx) => {
      const { signal } = ctx;
      assert.equal(signal.aborted, false);
      assert.equal(ctx.cancelled(), false);
      call.cancel();
      abortedDuringCall = signal.aborted;
    });
    assert.equal(abortedDuringCall, true);
  });

  it('gives an already aborted signal when the client cancelled before it was taken', async () => {
    const call = new FakeCall();
    const { ctx } = await runHandler(call, async () => {
      call.cancel();
    });
    assert.equal(ctx.signal.aborted, true);
    const { cancelled } = ctx;
    assert.equal(cancelled(), true, 'cancelled works when taken off the context');
  });

  it('decodes RequestMetadata and binds its ids to the log lines', async () => {
    const call = new FakeCall();
    const metadata = RequestMetadata.encode(
      RequestMetadata.fromPartial({ toolInvocationId: 'inv-1', actionId: 'act-2' }),
    ).finish();
    call.metadata.set('build.bazel.remote.execution.v2.requestmetadata-bin', Buffer.from(metadata));
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(chunk.toString());
        done();
      },
    });
    const { ctx } = await runHandler(call, async (c) => c.log.info('hello'), pino(sink));
    assert.equal(ctx.requestMetadata?.toolInvocationId, 'inv-1');
    const line = JSON.parse(lines[0] ?? '{}');
    assert.deepEqual(
      [line.method, line.invocation, line.actionId],
      ['Test.Method', 'inv-1', 'act-2'],
    );
  });

  it('reports no RequestMetadata when the header is absent or malformed', async () => {
    const absent = await runHandler(new FakeCall(), async () => {});
    assert.equal(absent.ctx.requestMetadata, undefined);
    const malformed = new FakeCall();
    malformed.metadata.set(
      'build.bazel.remote.execution.v2.requestmetadata-bin',
      Buffer.from([0x0a, 0x05]),
    );
    const bad = await runHandler(malformed, async () => {});
    assert.equal(bad.ctx.requestMetadata, undefined);
  });

  it('exposes the deadline in epoch milliseconds, or undefined without one', async () => {
    const call = new FakeCall();
    call.deadline = new Date(1_700_000_000_000);
    const { ctx } = await runHandler(call, async () => {});
    assert.equal(ctx.deadlineMs, 1_700_000_000_000);
    const none = await runHandler(new FakeCall(), async () => {});
    assert.equal(none.ctx.deadlineMs, undefined);
  });

  it('turns a KilnError into its gRPC status', async () => {
    const { error } = await runHandler(new FakeCall(), async () => {
      throw invalidArgument('bad digest');
    });
    assert.equal(error?.code, status.INVALID_ARGUMENT);
    assert.equal(error?.details, 'bad digest');
  });
});

describe('status details in trailers', () => {
  const withDetails = (bytes: number) =>
    new KilnError(status.FAILED_PRECONDITION, 'blobs missing', {
      details: [
        {
          typeUrl: 'type.googleapis.com/google.rpc.PreconditionFailure',
          value: Buffer.alloc(bytes, 1),
        },
      ],
    });

  it('sends details that fit as grpc-status-details-bin', () => {
    const error = toServiceError(withDetails(1000), silentLogger(), 'Test.Method');
    assert.equal(error.code, status.FAILED_PRECONDITION);
    const [bin] = error.metadata?.get('grpc-status-details-bin') ?? [];
    assert.ok(Buffer.isBuffer(bin) && bin.length > 1000);
  });

  it(`leaves out details over ${STATUS_DETAILS_LIMIT} bytes, keeping the code and message`, () => {
    const error = toServiceError(withDetails(STATUS_DETAILS_LIMIT), silentLogger(), 'Test.Method');
    assert.equal(error.code, status.FAILED_PRECONDITION);
    assert.equal(error.details, 'blobs missing');
    assert.deepEqual(error.metadata?.get('grpc-status-details-bin'), []);
  });
});
