/**
 * One process of the fleet bench's simulated workers (see fleet-bench.ts):
 * many Bots sessions over a few gRPC connections, each long-polling
 * UpdateBotSession the way `kiln worker` does, completing every lease at
 * once with a canned successful result. It reports to its parent over IPC.
 *
 * A simulated worker costs a little state and one call in flight, so tens
 * of thousands fit in a few processes. Each reconnects with jittered
 * exponential backoff when the server goes away, as a real fleet must after
 * a restart of `kiln serve`.
 *
 * Run by fleet-bench.ts as `node bench/fleet-sim.ts '<SimOptions as JSON>'`.
 */
import { connectivityState, credentials, Metadata, type ServiceError, status } from '@grpc/grpc-js';
import { CLIENT_CHANNEL_OPTIONS } from '../src/client/channel-options.ts';
import { packExecuteResponse } from '../src/execution/lease-payload.ts';
import type { ActionResult } from '../src/gen/build/bazel/remote/execution/v2/remote_execution.js';
import {
  type BotSession,
  BotsClient,
  type Lease,
  LeaseState,
} from '../src/gen/google/devtools/remoteworkers/v1test2/bots.js';
import { ActionAssignment } from '../src/gen/kiln/worker/v1/lease.js';
import { RECONNECT_CHANNEL_OPTIONS, ReconnectBackoff } from '../src/worker/reconnect-backoff.ts';
import { benchInterceptors } from './bench-token.ts';
import { epochMs, sleep } from './measure.ts';

/** What the parent tells a simulator process to simulate. */
export interface SimOptions {
  readonly address: string;
  /** Simulated workers in this process. */
  readonly workers: number;
  /** gRPC connections they share (round robin). */
  readonly connections: number;
  /** Bot ids are `sim-<index>`, numbered from here. */
  readonly firstIndex: number;
  /** Longest UpdateBotSession call, as `kiln worker`'s poll timeout. */
  readonly pollTimeoutMs: number;
}

/** Messages from the parent. */
export type ToSim = { type: 'start' } | { type: 'stop' };

/** Messages to the parent. */
export type FromSim =
  | { type: 'ready' }
  | {
      type: 'status';
      /** Workers holding a session now. */
      registered: number;
      /** Leases received since the last status: [action hash, epoch ms]. */
      leases: [string, number][];
      /** Leases reported completed so far. */
      completed: number;
      /** Failed calls so far, by gRPC status code. */
      errors: Record<string, number>;
    }
  | { type: 'error'; message: string };

const STATUS_INTERVAL_MS = 100;
const CREATE_DEADLINE_MS = 60_000;

/** The result every simulated action ends with: exit code 0, no outputs. */
const CANNED_RESULT: ActionResult = {
  outputFiles: [],
  outputSymlinks: [],
  outputFileSymlinks: [],
  outputDirectorySymlinks: [],
  outputDirectories: [],
  exitCode: 0,
  stdoutRaw: Buffer.alloc(0),
  stdoutDigest: undefined,
  stderrRaw: Buffer.alloc(0),
  stderrDigest: undefined,
  executionMetadata: undefined,
};
const CANNED_RESPONSE = packExecuteResponse({
  result: CANNED_RESULT,
  cachedResult: false,
  status: { code: 0, message: '', details: [] },
  serverLogs: {},
  message: '',
});

/** One simulated worker's state. */
interface SimWorker {
  readonly botId: string;
  readonly client: BotsClient;
  session: BotSession | undefined;
  /** Leases to report on the next call, by id. */
  readonly reports: Map<string, Lease>;
}

/** What a call on a channel in TRANSIENT_FAILURE fails with (see `run`). */
const DOWN = Object.assign(new Error('the channel is waiting to reconnect'), {
  code: status.UNAVAILABLE,
});

/** Whether calls on the client's channel fail at once (it is waiting to re-dial). */
function channelDown(client: BotsClient): boolean {
  return client.getChannel().getConnectivityState(false) === connectivityState.TRANSIENT_FAILURE;
}

function send(message: FromSim): void {
  process.send?.(message);
}

function unaryCall<T>(
  start: (callback: (err: ServiceError | null, res: T) => void) => unknown,
): Promise<T> {
  return new Promise((resolve, reject) => {
    start((err, res) => (err ? reject(err) : resolve(res)));
  });
}

async function main(): Promise<void> {
  const options = JSON.parse(process.argv[2] ?? '{}') as SimOptions;
  const interceptors = benchInterceptors();
  const creds = credentials.createInsecure();
  const clients = Array.from(
    { length: options.connections },
    () =>
      new BotsClient(options.address, creds, {
        ...CLIENT_CHANNEL_OPTIONS,
        // Re-dialled on kiln worker's schedule after a restart.
        ...RECONNECT_CHANNEL_OPTIONS,
        // One connection per client: grpc-js would otherwise share one.
        'grpc.use_local_subchannel_pool': 1,
        interceptors,
      }),
  );
  let stopped = false;
  let completed = 0;
  let leases: [string, number][] = [];
  const errors: Record<string, number> = {};
  const workers: SimWorker[] = Array.from({ length: options.workers }, (_, i) => ({
    botId: `sim-${options.firstIndex + i}`,
    client: clients[i % clients.length] as BotsClient,
    session: undefined,
    reports: new Map(),
  }));

  const create = async (w: SimWorker): Promise<BotSession> => {
    const session: BotSession = {
      name: '',
      botId: w.botId,
      status: 1,
      worker: {
        devices: [],
        properties: [{ key: 'OSFamily', value: 'linux' }],
        configs: [],
      },
      leases: [],
      expireTime: undefined,
      version: '',
    };
    return unaryCall<BotSession>((cb) =>
      w.client.createBotSession(
        { parent: '', botSession: session },
        new Metadata(),
        { deadline: Date.now() + CREATE_DEADLINE_MS },
        cb,
      ),
    );
  };

  const update = async (w: SimWorker, session: BotSession): Promise<void> => {
    const reported = [...w.reports.values()];
    const reply = await unaryCall<BotSession>((cb) =>
      w.client.updateBotSession(
        { name: session.name, botSession: { ...session, leases: reported }, updateMask: undefined },
        new Metadata(),
        { deadline: Date.now() + options.pollTimeoutMs },
        cb,
      ),
    );
    for (const lease of reported) {
      w.reports.delete(lease.id);
      if (lease.state === LeaseState.COMPLETED) completed++;
    }
    for (const lease of reply.leases) {
      if (w.reports.has(lease.id)) continue;
      if (lease.state === LeaseState.PENDING) {
        const hash = lease.payload
          ? (ActionAssignment.decode(lease.payload.value).actionDigest?.hash ?? '')
          : '';
        leases.push([hash, epochMs()]);
        w.reports.set(lease.id, {
          ...lease,
          payload: undefined,
          state: LeaseState.COMPLETED,
          status: { code: 0, message: '', details: [] },
          result: CANNED_RESPONSE,
        });
      } else if (lease.state === LeaseState.CANCELLED) {
        w.reports.set(lease.id, {
          ...lease,
          payload: undefined,
          status: { code: status.CANCELLED, message: 'cancelled', details: [] },
        });
      }
    }
  };

  /** One worker's life: open a session, poll until stopped, reconnect on failure. */
  const run = async (w: SimWorker): Promise<void> => {
    // kiln worker's schedule: full jitter below a bound doubling from 100 ms to 5 s.
    const backoff = new ReconnectBackoff();
    let outage = false;
    while (!stopped) {
      try {
        // A call on a channel waiting to re-dial fails at once with
        // UNAVAILABLE; that failure is counted without the call, whose cost
        // (tens of thousands of them while the server restarts) would take
        // the machine's CPU from the server under test. Same schedule.
        if (channelDown(w.client)) throw DOWN;
        w.session ??= await create(w);
        await update(w, w.session);
        backoff.reset();
        outage = false;
      } catch (err) {
        if (stopped) break;
        const code = (err as ServiceError).code ?? -1;
        errors[code] = (errors[code] ?? 0) + 1;
        // As kiln worker (worker-agent.ts): only a forgotten session
        // (NOT_FOUND: a server that cannot re-open it, see
        // bot-session-names.ts) means opening a new one, at once when it
        // follows an outage. After any other
        // failure (the server gone away, a deadline, an overload) the session
        // and the results still to report are kept, for a server that shares
        // the scheduler's state (or this one, back) to continue.
        if (code === status.NOT_FOUND) {
          w.session = undefined;
          w.reports.clear();
          if (outage) {
            outage = false;
            continue;
          }
        } else {
          outage = true;
        }
        await sleep(backoff.next());
      }
    }
  };

  // Connect every channel before the parent starts the clock.
  await Promise.all(
    clients.map(
      (c) =>
        new Promise<void>((resolve, reject) =>
          c.waitForReady(Date.now() + 30_000, (err) => (err ? reject(err) : resolve())),
        ),
    ),
  );
  const timer = setInterval(() => {
    let registered = 0;
    for (const w of workers) if (w.session !== undefined) registered++;
    send({ type: 'status', registered, leases, completed, errors });
    leases = [];
  }, STATUS_INTERVAL_MS);
  let started = false;
  process.on('message', (message: ToSim) => {
    if (message.type === 'start' && !started) {
      started = true;
      for (const w of workers) void run(w);
    } else if (message.type === 'stop') {
      stopped = true;
      clearInterval(timer);
      for (const c of clients) c.close();
      // Calls still open end with the channels; nothing more to report.
      process.exit(0);
    }
  });
  // The parent's death ends the simulation too.
  process.on('disconnect', () => process.exit(0));
  send({ type: 'ready' });
}

main().catch((err: unknown) => {
  send({ type: 'error', message: err instanceof Error ? err.message : String(err) });
  process.exit(1);
});
