/**
 * The worker side of the Remote Worker API: opens a bot session with a
 * scheduler, long-polls UpdateBotSession for leases, runs each with an
 * ActionExecutor, and reports results. Reconnects on its own when the
 * scheduler restarts or forgets the session.
 */
import { hostname } from 'node:os';
import { credentials, type ServiceError, status } from '@grpc/grpc-js';
import { CasClient } from '../client/cas-client.ts';
import { ConcurrencyLimiter } from '../client/concurrency-limiter.ts';
import type { DigestFunction } from '../digest/digest-function.ts';
import { type Assignment, unpackAssignment } from '../execution/lease-payload.ts';
import {
  type BotSession,
  BotStatus,
  type Lease,
  LeaseState,
} from '../gen/google/devtools/remoteworkers/v1test2/bots.js';
import { CAPACITY_PROPERTY } from '../services/bots-service.ts';
import { RecentSet } from '../util/recent-set.ts';
import { ActionExecutor } from './action-executor.ts';
import { type BotsTransport, GrpcBotsTransport } from './bots-transport.ts';
import { BuildDirectoryPool } from './build-directory-pool.ts';
import type { ActionRunner } from './command-runner.ts';
import { composeRunner } from './compose-runner.ts';
import type { WorkerCas } from './local-cas.ts';
import { DirectProcessLauncher } from './process-launcher.ts';
import { ReconnectBackoff } from './reconnect-backoff.ts';
import type { WorkerAgentOptions } from './worker-agent-options.ts';
import { acknowledgement, type LocalLease, leaseMessage } from './worker-leases.ts';

export type { WorkerAgentOptions } from './worker-agent-options.ts';

/**
 * Why a long poll is cut short (a lease finished, or the worker stops). Given
 * to `abort()`, it spares the DOMException that a reasonless abort creates.
 */
const POLL_INTERRUPTED = new Error('the worker has leases to report');

/** A worker process's connection to a scheduler. */
export class WorkerAgent {
  readonly #options: WorkerAgentOptions;
  readonly #name: string;
  readonly #bots: BotsTransport;
  readonly #casFor: (instanceName: string, fn: DigestFunction) => WorkerCas;
  readonly #runner: ActionRunner;
  /** Mode of the directories staged into input roots (writable by action users under privilege separation). */
  readonly #directoryMode: number;
  readonly #buildDirectories: BuildDirectoryPool;
  /** The `capacity` slots commands run in, shared by all executors. */
  readonly #runSlots: ConcurrencyLimiter;
  readonly #executors = new Map<string, ActionExecutor>();
  readonly #leases = new Map<string, LocalLease>();
  /**
   * Leases this worker finished and reported, most recent last: a reply
   * that offers one again (its completion was still under way in another
   * server process) must not start it twice.
   */
  readonly #finished = new RecentSet<string>(1024);
  #session: BotSession | undefined;
  #stopped = false;
  /** Set by {@link drain}: the loop ends once every lease is finished and reported. */
  #draining = false;
  #wake: (() => void) | undefined;
  /** Ends a wait between reconnection attempts (when the worker stops). */
  #endPause: (() => void) | undefined;
  /** Set when the agent itself cut the current long poll short. */
  #interrupted = false;
  #loop: Promise<void> | undefined;

  constructor(options: WorkerAgentOptions) {
    this.#options = options;
    this.#name = options.name ?? `${hostname()}-${process.pid}`;
    if (options.inProcess !== undefined) {
      const { bots, casFor } = options.inProcess;
      this.#bots = bots;
      this.#casFor = (_instanceName, fn) => casFor(fn);
    } else {
      const grpc =
        options.grpc ??
        new GrpcBotsTransport(
          options.address,
          options.credentials ?? credentials.createInsecure(),
          options.interceptors,
        );
      const channel = grpc.channel;
      const interceptors = options.interceptors;
      this.#bots = grpc;
      this.#casFor = (instanceName, fn) =>
        new CasClient({ channel, interceptors, instanceName, digestFunction: fn });
    }
    this.#runner = composeRunner({
      launcher: options.launcher ?? new DirectProcessLauncher(),
      actionUsers: options.actionUsers,
      actionCgroup: options.actionCgroup,
      bwrap: options.bwrap,
      time: options.time,
      log: options.log,
    });
    this.#directoryMode = options.actionUsers === undefined ? 0o755 : 0o777;
    this.#runSlots = new ConcurrencyLimiter({ limit: options.capacity });
    const { launcher } = options;
    this.#buildDirectories = new BuildDirectoryPool({
      buildRoot: options.buildRoot,
      log: options.log,
      directoryMode: this.#directoryMode,
      empty:
        launcher?.emptyDirectory &&
        (async (path) => {
          await launcher.emptyDirectory?.(path);
        }),
      emptyKeepingDirectories:
        launcher?.emptyDirectory &&
        ((path, keep) => launcher.emptyDirectory?.(path, keep) as Promise<string[]>),
    });
  }

  /** The bot id. */
  get name(): string {
    return this.#name;
  }

  /** Starts the session loop in the background. */
  start(): void {
    this.#loop ??= this.#run();
  }

  /**
   * Takes no new leases (the session tells the scheduler the bot is
   * terminating), lets the running actions finish and reports their
   * results; resolves once nothing is left to report, or the worker stops.
   */
  drain(): Promise<void> {
    this.#draining = true;
    // The poll in flight ends, so that the next one says the bot is leaving.
    this.#wake?.();
    this.#endPause?.();
    return this.#loop ?? Promise.resolve();
  }

  /** Stops taking work, cancels running actions and closes the connection. */
  async stop(): Promise<void> {
    this.#stopped = true;
    for (const lease of this.#leases.values()) lease.abort.abort();
    this.#wake?.();
    this.#endPause?.();
    await this.#loop;
    await this.#buildDirectories.close();
    this.#bots.close();
  }

  /**
   * The session loop. When the scheduler cannot be reached (a restart, a
   * network fault) it retries after jittered, growing waits, opening a new
   * session when the old one is gone; it logs once when the connection is
   * lost and once when it is back, not at every attempt.
   */
  async #run(): Promise<void> {
    const log = this.#options.log;
    const backoff = new ReconnectBackoff(this.#options.reconnect);
    let outage: { readonly sinceMs: number } | undefined;
    const reachable = () => {
      if (outage !== undefined) {
        log.info(
          { downMs: Date.now() - outage.sinceMs, attempts: backoff.attempts },
          'scheduler reachable again',
        );
        outage = undefined;
      }
      backoff.reset();
    };
    while (!this.#stopped && !(this.#draining && this.#leases.size === 0)) {
      this.#interrupted = false;
      try {
        if (this.#session === undefined) {
          this.#session = await this.#createSession();
          reachable();
        }
        await this.#update(this.#session);
        reachable();
      } catch (err) {
        if (this.#stopped || (this.#draining && this.#leases.size === 0)) break;
        const code = (err as ServiceError).code;
        // Woken to report a result: not a failure.
        if (code === status.CANCELLED && this.#interrupted) continue;
        if (code === status.NOT_FOUND) {
          // The scheduler forgot the session (it restarted, or timed the worker out).
          log.warn({ session: this.#session?.name }, 'bot session lost; opening a new one');
          this.#session = undefined;
          for (const lease of this.#leases.values()) lease.abort.abort();
          this.#leases.clear();
          // Kept through an outage and then refused (the server restarted
          // without shared state): the new session is the fix, at once.
          if (outage !== undefined) continue;
        } else {
          if (outage === undefined) {
            outage = { sinceMs: Date.now() };
            log.warn(
              { err: (err as Error).message },
              'scheduler unreachable; retrying with jittered backoff until it answers',
            );
          }
          // The session is kept: another server process sharing the
          // scheduler's state (or this one, back) continues it with the
          // leases running here; one that does not know it says NOT_FOUND.
        }
        await this.#pause(backoff.next());
      }
    }
  }

  /** Waits `ms`, or less when the worker stops. */
  #pause(ms: number): Promise<void> {
    return new Promise<void>((done) => {
      const timer = setTimeout(() => this.#endPause?.(), ms);
      this.#endPause = () => {
        clearTimeout(timer);
        this.#endPause = undefined;
        done();
      };
    });
  }

  #createSession(): Promise<BotSession> {
    const properties = [
      {
        key: CAPACITY_PROPERTY,
        value: String(this.#options.capacity + (this.#options.prefetch ?? 0)),
      },
      ...this.#options.platform.map((p) => ({ key: p.name, value: p.value })),
    ];
    const session: BotSession = {
      name: '',
      botId: this.#name,
      status: 1,
      worker: { devices: [], properties, configs: [] },
      leases: [],
      expireTime: undefined,
      version: '',
    };
    return this.#bots
      .createBotSession({ parent: '', botSession: session }, { deadlineMs: Date.now() + 10_000 })
      .then((created) => {
        this.#options.log.info({ session: created.name }, 'worker connected');
        return created;
      });
  }

  /** One UpdateBotSession round: report leases, receive new ones. */
  async #update(session: BotSession): Promise<void> {
    const reported = [...this.#leases.values()];
    const reportedDone = new Set(reported.filter((l) => l.outcome).map((l) => l.id));
    const leases: Lease[] = reported.map((l) => leaseMessage(l));
    const poll = new AbortController();
    const interrupt = () => {
      this.#interrupted = true;
      poll.abort(POLL_INTERRUPTED);
    };
    const pending = this.#bots.updateBotSession(
      {
        name: session.name,
        botSession: {
          ...session,
          status: this.#draining ? BotStatus.BOT_TERMINATING : session.status,
          leases,
        },
        updateMask: undefined,
      },
      {
        deadlineMs: Date.now() + (this.#options.pollTimeoutMs ?? 30_000),
        signal: poll.signal,
      },
    );
    // A finished action interrupts the long poll so its result goes out at once.
    this.#wake = interrupt;
    const finishedSince = [...this.#leases.values()].some(
      (l) => l.outcome !== undefined && !reportedDone.has(l.id),
    );
    if (finishedSince || this.#stopped) interrupt();
    const response = await pending;
    this.#wake = undefined;
    for (const id of reportedDone) {
      this.#leases.delete(id);
      this.#finished.add(id);
    }
    const known = new Set<string>();
    for (const lease of response.leases) {
      known.add(lease.id);
      const local = this.#leases.get(lease.id);
      if (lease.state === LeaseState.CANCELLED) {
        if (local) {
          local.cancelled = true;
          local.abort.abort();
        } else {
          this.#leases.set(lease.id, acknowledgement(lease));
        }
      } else if (
        local === undefined &&
        lease.state === LeaseState.PENDING &&
        !this.#finished.has(lease.id)
      ) {
        this.#begin(lease);
      }
    }
    // Leases the scheduler no longer lists were lost or reassigned: stop them.
    for (const local of this.#leases.values()) {
      if (!known.has(local.id) && local.outcome === undefined) {
        local.abort.abort();
        this.#leases.delete(local.id);
      }
    }
  }

  #begin(lease: Lease): void {
    let assignment: Assignment;
    try {
      assignment = unpackAssignment(lease.payload);
    } catch (err) {
      this.#options.log.error({ err, lease: lease.id }, 'unusable lease payload');
      return;
    }
    const local: LocalLease = {
      id: lease.id,
      abort: new AbortController(),
      outcome: undefined,
      cancelled: false,
    };
    this.#leases.set(lease.id, local);
    // Every line about the action names its build and its digest.
    const log = this.#options.log.child({
      invocation: assignment.toolInvocationId ?? '',
      actionDigest: `${assignment.actionDigest.hash}/${assignment.actionDigest.size}`,
    });
    log.debug({ lease: lease.id }, 'lease started');
    const trace = this.#options.spans?.actionStarted({
      leaseId: lease.id,
      assignment,
      startedAtMs: Date.now(),
    });
    const executor = this.#executorFor(assignment.instanceName, assignment.actionDigest.fn);
    const run = () =>
      executor.execute({
        actionDigest: assignment.actionDigest,
        action: assignment.action,
        command: assignment.command,
        timeoutMs: assignment.timeoutMs,
        signal: local.abort.signal,
        log,
      });
    // Traced, the action's CAS calls run under its span (worker-spans.ts).
    void (trace === undefined ? run() : trace.run(run))
      .then(
        (outcome) => {
          local.outcome = outcome;
          log.debug(
            { lease: lease.id, code: outcome.status.code, exitCode: outcome.result.exitCode },
            'lease finished',
          );
        },
        (err: unknown) => {
          log.error({ err, lease: lease.id }, 'worker failure');
          local.outcome = {
            status: {
              code: status.INTERNAL,
              message: `worker failure: ${String(err)}`,
              details: [],
            },
          };
        },
      )
      .finally(() => {
        const outcome = local.outcome;
        if (trace !== undefined && outcome !== undefined) {
          trace.finished({
            result: outcome.result,
            status: outcome.status,
            finishedAtMs: Date.now(),
          });
        }
        this.#wake?.();
      });
  }

  #executorFor(instanceName: string, fn: DigestFunction): ActionExecutor {
    const key = `${fn.name}/${instanceName}`;
    let executor = this.#executors.get(key);
    if (executor === undefined) {
      const cas = this.#casFor(instanceName, fn);
      executor = new ActionExecutor({
        cas,
        fileCache: this.#options.fileCache,
        buildRoot: this.#options.buildRoot,
        buildDirectories: this.#buildDirectories,
        workerName: this.#name,
        runner: this.#runner,
        directoryMode: this.#directoryMode,
        runSlots: this.#runSlots,
        log: this.#options.log,
      });
      this.#executors.set(key, executor);
    }
    return executor;
  }
}
