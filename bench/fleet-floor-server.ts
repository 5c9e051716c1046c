/**
 * The fleet bench's floor (see fleet-bench.ts): a minimal grpc-js server
 * speaking the same Bots, Execution and Capabilities messages as `kiln
 * serve`, with no storage, cache, validation or scheduling policy behind
 * them. An Execute is handed to the longest-waiting UpdateBotSession as a
 * lease naming its action, and its stream ends with the result the worker
 * reports. The same simulated fleet and bench client drive it as drive
 * Kiln, so its burst latencies are what grpc-js and this machine allow
 * with no server-side work at all: the floor under Kiln's rows.
 *
 * Run as `node bench/fleet-floor-server.ts`; prints `floor serving on HOST:PORT`.
 */
import {
  Server,
  ServerCredentials,
  type ServerUnaryCall,
  type ServerWritableStream,
  type sendUnaryData,
} from '@grpc/grpc-js';
import {
  CapabilitiesService,
  type ExecuteRequest,
  ExecutionService,
} from '../src/gen/build/bazel/remote/execution/v2/remote_execution.js';
import {
  type BotSession,
  BotsService,
  type CreateBotSessionRequest,
  LeaseState,
  type UpdateBotSessionRequest,
} from '../src/gen/google/devtools/remoteworkers/v1test2/bots.js';
import type { Operation } from '../src/gen/google/longrunning/operations.js';
import { ActionAssignment } from '../src/gen/kiln/worker/v1/lease.js';
import { setConnectionWindow, setInitialStreamWindow } from '../src/server/http2-tuning.ts';

const WINDOW_BYTES = 8 * 1024 * 1024;
const ASSIGNMENT_TYPE = 'type.googleapis.com/kiln.worker.v1.ActionAssignment';
/** How long an idle poll is held, as `kiln serve` holds one (under the workers' 30 s deadline). */
const POLL_HOLD_MS = 25_000;

interface Poll {
  readonly session: BotSession;
  readonly reply: sendUnaryData<BotSession>;
  timer: NodeJS.Timeout | undefined;
}

async function main(): Promise<void> {
  const server = new Server({ 'grpc.enable_channelz': 0 });
  setInitialStreamWindow(server, WINDOW_BYTES);
  /** Polls waiting for work, oldest first (removed lazily once answered). */
  const polls: Poll[] = [];
  let pollHead = 0;
  /** Executes no poll was waiting for, oldest first. */
  const queued: { id: string; request: ExecuteRequest }[] = [];
  /** Execute streams by lease id, until their worker reports the result. */
  const running = new Map<string, ServerWritableStream<ExecuteRequest, Operation>>();
  let nextId = 0;

  const leaseTo = (poll: Poll, id: string, request: ExecuteRequest): void => {
    if (poll.timer !== undefined) clearTimeout(poll.timer);
    const payload = ActionAssignment.encode({
      instanceName: request.instanceName,
      actionDigest: request.actionDigest,
      digestFunction: request.digestFunction,
      timeout: undefined,
      action: undefined,
      command: undefined,
      toolInvocationId: '',
      traceparent: '',
    }).finish();
    poll.reply(null, {
      ...poll.session,
      leases: [
        {
          id,
          payload: { typeUrl: ASSIGNMENT_TYPE, value: Buffer.from(payload) },
          result: undefined,
          state: LeaseState.PENDING,
          status: undefined,
          requirements: undefined,
          expireTime: undefined,
          assignment: '',
          inlineAssignment: undefined,
        },
      ],
    });
  };

  const waitingPoll = (): Poll | undefined => {
    while (pollHead < polls.length) {
      const poll = polls[pollHead++] as Poll;
      if (poll.timer !== undefined) return poll;
    }
    polls.length = 0;
    pollHead = 0;
    return undefined;
  };

  server.addService(
    {
      createBotSession: BotsService.createBotSession,
      updateBotSession: BotsService.updateBotSession,
    },
    {
      createBotSession(
        call: ServerUnaryCall<CreateBotSessionRequest, BotSession>,
        callback: sendUnaryData<BotSession>,
      ) {
        const session = call.request.botSession as BotSession;
        callback(null, { ...session, name: `sessions/${session.botId}` });
      },
      updateBotSession(
        call: ServerUnaryCall<UpdateBotSessionRequest, BotSession>,
        callback: sendUnaryData<BotSession>,
      ) {
        const session = { ...(call.request.botSession as BotSession), leases: [] };
        for (const lease of call.request.botSession?.leases ?? []) {
          const stream = running.get(lease.id);
          if (stream === undefined || lease.state !== LeaseState.COMPLETED) continue;
          running.delete(lease.id);
          stream.write({ name: lease.id, metadata: undefined, done: true, response: lease.result });
          stream.end();
        }
        const poll: Poll = { session, reply: callback, timer: undefined };
        const next = queued.shift();
        if (next !== undefined) {
          leaseTo(poll, next.id, next.request);
          return;
        }
        poll.timer = setTimeout(() => {
          poll.timer = undefined;
          callback(null, session);
        }, POLL_HOLD_MS);
        polls.push(poll);
      },
    },
  );
  server.addService(
    { execute: ExecutionService.execute },
    {
      execute(call: ServerWritableStream<ExecuteRequest, Operation>) {
        const id = `operations/${nextId++}`;
        running.set(id, call);
        call.once('cancelled', () => running.delete(id));
        const poll = waitingPoll();
        if (poll === undefined) {
          queued.push({ id, request: call.request });
          return;
        }
        const timer = poll.timer;
        poll.timer = undefined;
        clearTimeout(timer);
        leaseTo(poll, id, call.request);
      },
    },
  );
  server.addService(
    { getCapabilities: CapabilitiesService.getCapabilities },
    {
      getCapabilities(_call: ServerUnaryCall<unknown, unknown>, callback: sendUnaryData<unknown>) {
        callback(null, {});
      },
    },
  );
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (err, p) =>
      err ? reject(err) : resolve(p),
    ),
  );
  setConnectionWindow(server, WINDOW_BYTES);
  process.stdout.write(`floor serving on 127.0.0.1:${port}\n`);
  process.on('SIGTERM', () => {
    server.forceShutdown();
    process.exit(0);
  });
}

main().catch((err: unknown) => {
  process.stderr.write(`fleet floor server failed: ${String(err)}\n`);
  process.exit(1);
});
