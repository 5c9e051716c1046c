/**
 * The Remote Worker API's Bots service (v1test2): workers open a bot session
 * and then call UpdateBotSession in a loop, reporting their leases and
 * receiving new ones. UpdateBotSession long-polls: with nothing to hand out
 * it waits until work arrives, a lease is cancelled, or the poll time ends.
 *
 * Every reply lists every lease the scheduler believes the bot holds, so a
 * lease assigned in a reply that never reached the bot is re-sent on the
 * next one instead of being lost.
 */
import { randomUUID } from 'node:crypto';
import { status } from '@grpc/grpc-js';
import { hasCode, invalidArgument, notFound, permissionDenied, quote } from '../errors.ts';
import { packAssignment, unpackExecuteResponse } from '../execution/lease-payload.ts';
import {
  type BotSession,
  BotStatus,
  type BotsServer,
  type CreateBotSessionRequest,
  type Lease as LeaseMessage,
  LeaseState,
  type UpdateBotSessionRequest,
} from '../gen/google/devtools/remoteworkers/v1test2/bots.js';
import type { Worker } from '../gen/google/devtools/remoteworkers/v1test2/worker.js';
import { type RpcContext, unary } from '../rpc/rpc.ts';
import type { WorkerScheduler } from '../scheduler/scheduler.ts';
import type { Lease, PlatformProperty } from '../scheduler/types.ts';
import type { Logger } from '../util/logger.ts';
import {
  cancelledLease,
  finishedLeaseIds,
  hasUnseen,
  heldLeases,
  outOfStep,
} from './bot-session-sync.ts';

/** Worker property carrying how many actions a bot runs at once; not a platform property. */
export const CAPACITY_PROPERTY = 'kiln.capacity';

/**
 * Reasons for ending a long poll. Given to `abort()`, they spare the
 * DOMException (with its stack trace) that a reasonless abort creates.
 */
const SUPERSEDED = new Error('a newer UpdateBotSession call of the bot took over');
const CALL_ENDED = new Error('the UpdateBotSession call ended');

/** Options for {@link createBotsService}. */
export interface BotsServiceOptions {
  readonly log: Logger;
  readonly scheduler: WorkerScheduler;
  /** Longest time UpdateBotSession waits for work; 20 s by default. */
  readonly longPollMs?: number;
  /** How long a bot may stay silent before the scheduler drops it (for expire_time). */
  readonly workerTimeoutMs?: number;
  /**
   * How often a CreateBotSession first forgets the sessions whose worker the
   * scheduler dropped (silent too long); `workerTimeoutMs` by default, 0 for
   * every call. A sweep looks at every session, so with a fleet of tens of
   * thousands it must not run more often than workers can expire: a
   * reconnecting fleet would otherwise pay for it again and again.
   */
  readonly sessionSweepMs?: number;
  /** Milliseconds clock for the sweep; `Date.now` by default. */
  readonly now?: () => number;
  /** True once the server drains: no bot gets new leases (see {@link takeNoWork}). */
  readonly draining?: () => boolean;
}

interface SessionState {
  readonly botId: string;
  /** Leases handed to this bot and not yet finished, by id. */
  readonly leases: Map<string, Lease>;
  /** The long poll of the bot's latest UpdateBotSession; a newer call ends it. */
  poll: AbortController | undefined;
  /**
   * The principal that created the session (undefined without
   * authentication): only it may update the session, so that another
   * holder of `worker` who learns the name cannot report results in this
   * bot's name.
   */
  readonly principal: string | undefined;
}

/** Splits a bot's advertised properties into platform properties and capacity. */
export function workerProperties(worker: Worker | undefined): {
  platform: PlatformProperty[];
  capacity: number;
} {
  const platform: PlatformProperty[] = [];
  let capacity = 1;
  const all = [
    ...(worker?.properties ?? []),
    ...(worker?.devices ?? []).flatMap((d) => d.properties),
  ];
  for (const { key, value } of all) {
    if (key === CAPACITY_PROPERTY) {
      const n = Number(value);
      if (!Number.isInteger(n) || n < 1) {
        throw invalidArgument(`${CAPACITY_PROPERTY} "${value}" must be a positive integer`);
      }
      capacity = n;
    } else {
      platform.push({ name: key, value });
    }
  }
  return { platform, capacity };
}

/** What a long poll needs to know about the call it serves. */
export type PollContext = Pick<RpcContext, 'signal' | 'deadlineMs'> &
  Partial<Pick<RpcContext, 'identity'>>;

/**
 * The Bots service's logic without gRPC: what {@link createBotsService} serves,
 * and what the worker inside `kiln serve` calls directly (see
 * `InProcessBotsTransport` in worker/bots-transport.ts), sparing both sides protobuf and HTTP/2.
 */
export interface BotsCore {
  /** `ctx.identity`, when given, is recorded as the principal of the bot's results. */
  createBotSession(
    req: CreateBotSessionRequest,
    ctx?: Pick<RpcContext, 'identity'>,
  ): Promise<BotSession>;
  /**
   * Reports the bot's leases and long-polls for new ones until work arrives,
   * `ctx.signal` aborts (it then returns what it has) or the poll time ends.
   */
  updateBotSession(req: UpdateBotSessionRequest, ctx: PollContext): Promise<BotSession>;
}

/** The Bots service over a scheduler. */
export function createBotsService(options: BotsServiceOptions): BotsServer {
  const core = createBotsCore(options);
  return {
    createBotSession: unary(
      options.log,
      'Bots.CreateBotSession',
      (req: CreateBotSessionRequest, ctx: RpcContext) => core.createBotSession(req, ctx),
    ),
    updateBotSession: unary(options.log, 'Bots.UpdateBotSession', core.updateBotSession),
  };
}

/** {@link BotsCore} and the size of its session table. */
export interface BotsCoreWithSessions extends BotsCore {
  /** Bot sessions held (for tests). */
  sessionCount(): number;
}

/**
 * The Bots logic over a scheduler, with its own table of bot sessions. A
 * session whose worker the scheduler has dropped is forgotten by the next
 * CreateBotSession (at most every `sessionSweepMs`), so bots that open a
 * session and never come back (crashed, or a client trying the API) leave
 * nothing behind: before, each kept its entry and the leases it held, with
 * their Actions and Commands, for the life of the process.
 */
export function createBotsCore(options: BotsServiceOptions): BotsCoreWithSessions {
  const { log, scheduler } = options;
  const longPollMs = options.longPollMs ?? 20_000;
  const workerTimeoutMs = options.workerTimeoutMs ?? 60_000;
  const sessionSweepMs = options.sessionSweepMs ?? workerTimeoutMs;
  const now = options.now ?? Date.now;
  const sessions = new Map<string, SessionState>();
  let lastSweepMs = Number.NEGATIVE_INFINITY;

  /** Forgets the sessions (not polling) whose worker the scheduler no longer knows. */
  async function sweepSessions(): Promise<void> {
    if (now() - lastSweepMs < sessionSweepMs) return;
    lastSweepMs = now();
    // Only sessions that existed before the question: their worker was registered by then.
    const before = [...sessions];
    const live = new Set((await scheduler.listWorkers()).map((w) => w.id));
    for (const [name, session] of before) {
      if (live.has(name) || session.poll !== undefined || sessions.get(name) !== session) continue;
      sessions.delete(name);
    }
  }

  function expireTime() {
    const ms = Date.now() + workerTimeoutMs;
    return { seconds: Math.floor(ms / 1000), nanos: (ms % 1000) * 1e6 };
  }

  async function createBotSession(
    req: CreateBotSessionRequest,
    ctx?: Pick<RpcContext, 'identity'>,
  ): Promise<BotSession> {
    const bot = req.botSession;
    if (bot === undefined || bot.botId === '')
      throw invalidArgument('bot_session.bot_id is required');
    const { platform, capacity } = workerProperties(bot.worker);
    const name = `${req.parent === '' ? '' : `${req.parent}/`}botSessions/${randomUUID()}`;
    try {
      await sweepSessions();
    } catch (err) {
      log.warn({ err }, 'forgetting the sessions of dropped bots failed');
    }
    await scheduler.registerWorker({
      id: name,
      name: bot.botId,
      platform,
      capacity,
      principal: ctx?.identity?.principal,
    });
    sessions.set(name, {
      botId: bot.botId,
      leases: new Map(),
      poll: undefined,
      principal: ctx?.identity?.principal,
    });
    log.info({ session: name, bot: bot.botId, capacity, platform }, 'bot session created');
    return { ...bot, name, leases: [], expireTime: expireTime() };
  }

  /**
   * Applies what the bot says about its leases. A finished lease is released
   * at once, and its completion (the action cache write, then the waiting
   * operations) goes on while the call claims the bot's next work: it is
   * added to `completions`, which the reply waits for. The bot forgets a
   * result once its call is answered, so a completion the scheduler could
   * not record (UNAVAILABLE: its database restarting) must fail the call,
   * and the bot then reports the result again.
   */
  async function applyLeaseReports(
    name: string,
    session: SessionState,
    leases: LeaseMessage[],
    completions: Promise<void>[],
  ) {
    for (const lease of leases) {
      if (lease.state === LeaseState.ACTIVE) {
        // Not held (after reconciling): left out of the reply, so the bot stops it.
        if (!session.leases.has(lease.id)) continue;
        try {
          await scheduler.updateLease(name, lease.id, { state: 'RUNNING' });
        } catch (err) {
          // The scheduler no longer associates this lease with the bot (lost or
          // already finished): forget it and let the bot drop it.
          if (!hasCode(err, status.NOT_FOUND)) throw err;
          session.leases.delete(lease.id);
        }
      } else if (lease.state === LeaseState.COMPLETED || lease.state === LeaseState.CANCELLED) {
        const response = unpackExecuteResponse(lease.result);
        const reported = lease.status ?? response?.status;
        session.leases.delete(lease.id);
        const completing = scheduler
          .completeLease(name, lease.id, {
            result: response?.result,
            status:
              reported ??
              (lease.state === LeaseState.CANCELLED
                ? { code: status.CANCELLED, message: 'cancelled', details: [] }
                : { code: status.INTERNAL, message: 'bot reported no status', details: [] }),
            message: response?.message,
          })
          .catch((err: unknown) => {
            // NOT_FOUND: lost or already finished. UNAVAILABLE: the call fails
            // and the bot reports it again. Anything else (a malformed report)
            // leaves the lease to its deadline, which retries the action.
            if (hasCode(err, status.NOT_FOUND)) return;
            if (hasCode(err, status.UNAVAILABLE)) throw err;
            log.warn({ err, session: name, lease: lease.id }, 'lease completion rejected');
          });
        // Handled here too: a call that fails before its reply never awaits it.
        completing.catch(() => {});
        completions.push(completing);
      }
    }
  }

  async function updateBotSession(
    req: UpdateBotSessionRequest,
    ctx: PollContext,
  ): Promise<BotSession> {
    const bot = req.botSession;
    const reported = bot?.leases ?? [];
    const finished = finishedLeaseIds(reported);
    let session = sessions.get(req.name);
    const resumed = session === undefined;
    if (session === undefined) session = await resumeSession(req.name, reported, finished);
    const caller = ctx.identity?.principal;
    if (session.principal !== undefined && caller !== session.principal) {
      throw permissionDenied(
        `bot session ${req.name} was created by principal ${quote(session.principal)}; ` +
          `only it may update the session, not ${quote(caller ?? 'anonymous')}`,
      );
    }
    if (bot !== undefined && bot.botId !== '' && bot.botId !== session.botId) {
      throw invalidArgument(
        `bot session ${req.name} belongs to bot ${quote(session.botId)}, not ${quote(bot.botId)}; ` +
          'each bot must create its own session',
      );
    }
    // One long poll per bot: a bot that calls again (to report a finished
    // action) has abandoned its previous call, which must not take leases
    // that only its dead reply would carry.
    session.poll?.abort(SUPERSEDED);
    const poll = new AbortController();
    session.poll = poll;
    const onCallAbort = (): void => poll.abort(CALL_ENDED);
    if (ctx.signal.aborted) poll.abort(CALL_ENDED);
    else ctx.signal.addEventListener('abort', onCallAbort, { once: true });
    // Leases the bot and this process disagree about were handed out or
    // finished through another process: the scheduler's view settles them.
    if (!resumed && outOfStep(session.leases, reported)) {
      await reconcile(req.name, session, reported, finished);
    }
    const completions: Promise<void>[] = [];
    if (reported.length > 0) await applyLeaseReports(req.name, session, reported, completions);
    // Leases the bot has not seen yet go out at once, without waiting for more.
    const unseen = hasUnseen(session.leases, reported);
    const waitMs = unseen ? 0 : Math.max(0, Math.min(longPollMs, deadlineLeft(ctx) - 2000));
    let taken: Awaited<ReturnType<WorkerScheduler['takeWork']>>;
    try {
      // A bot that is leaving, or any bot of a draining server, takes no new work.
      const leaving = bot?.status === BotStatus.BOT_TERMINATING || options.draining?.() === true;
      taken = leaving
        ? await takeNoWork(scheduler, req.name, waitMs, poll.signal)
        : await scheduler.takeWork(req.name, { waitMs, signal: poll.signal });
    } catch (err) {
      // The scheduler dropped this worker (silent too long): its leases are
      // gone, and the bot must open a new session.
      if (hasCode(err, status.NOT_FOUND)) sessions.delete(req.name);
      throw err;
    } finally {
      // The poll is over: a later call has nothing to end, and this call's
      // own end nothing to abort.
      ctx.signal.removeEventListener('abort', onCallAbort);
      if (session.poll === poll) session.poll = undefined;
    }
    for (const lease of taken.leases) session.leases.set(lease.id, lease);
    // Results the bot reported are recorded before it is told (it then
    // forgets them); should this fail, the leases just taken are re-sent on
    // its next call, as after any lost reply.
    await Promise.all(completions);
    // An idle bot's reply (most replies) holds no lease: nothing to look up.
    const leases: LeaseMessage[] = [];
    for (const lease of session.leases.values()) {
      const state = taken.cancelledLeaseIds.includes(lease.id)
        ? LeaseState.CANCELLED
        : reported.some((l) => l.id === lease.id && l.state === LeaseState.ACTIVE)
          ? LeaseState.ACTIVE
          : LeaseState.PENDING;
      // A lease the bot will start carries the Action and Command, which the
      // worker then need not read back from the CAS.
      const inline = state === LeaseState.PENDING;
      leases.push({
        id: lease.id,
        payload: packAssignment({
          instanceName: lease.instanceName,
          actionDigest: lease.actionDigest,
          timeoutMs: lease.timeoutMs,
          action: inline ? lease.action : undefined,
          command: inline ? lease.command : undefined,
          toolInvocationId: lease.toolInvocationId,
          traceparent: lease.traceparent,
        }),
        result: undefined,
        state,
        status: undefined,
        requirements: undefined,
        expireTime: undefined,
        assignment: '',
        inlineAssignment: undefined,
      });
    }
    for (const id of taken.cancelledLeaseIds) {
      if (!session.leases.has(id) && !finished.has(id)) leases.push(cancelledLease(id));
    }
    return {
      name: req.name,
      botId: session.botId,
      status: bot?.status ?? 0,
      worker: bot?.worker,
      leases,
      expireTime: expireTime(),
      version: bot?.version ?? '',
    };
  }

  /**
   * Continues a session this process did not create (another process did,
   * or this one before a restart) from the scheduler's record of its worker:
   * the same bot id, owner and leases. NOT_FOUND once the worker is gone.
   */
  async function resumeSession(
    name: string,
    reported: readonly LeaseMessage[],
    finished: ReadonlySet<string>,
  ): Promise<SessionState> {
    const found = await scheduler.findWorker(name);
    if (found === undefined) {
      throw notFound(
        `bot session ${name} is unknown (expired or server restarted); create a new one`,
      );
    }
    const leases = heldLeases(found, reported, finished);
    const session: SessionState = {
      botId: found.name,
      leases,
      poll: undefined,
      principal: found.principal === '' ? undefined : found.principal,
    };
    // A concurrent call may have resumed it first; one state per session.
    const current = sessions.get(name);
    if (current !== undefined) return current;
    sessions.set(name, session);
    log.info({ session: name, bot: found.name, leases: leases.size }, 'bot session resumed');
    return session;
  }

  /** Replaces the session's leases with those the scheduler says its worker holds. */
  async function reconcile(
    name: string,
    session: SessionState,
    reported: readonly LeaseMessage[],
    finished: ReadonlySet<string>,
  ) {
    const found = await scheduler.findWorker(name);
    // A worker already gone: the poll below answers NOT_FOUND.
    if (found === undefined) return;
    session.leases.clear();
    for (const [id, lease] of heldLeases(found, reported, finished)) session.leases.set(id, lease);
  }

  function deadlineLeft(ctx: PollContext): number {
    return ctx.deadlineMs === undefined ? longPollMs + 2000 : ctx.deadlineMs - Date.now();
  }

  return { createBotSession, updateBotSession, sessionCount: () => sessions.size };
}

/** How long the poll of a bot that takes no new work waits before it answers. */
const LEAVING_POLL_MS = 2000;

/**
 * The poll of a bot that finishes its actions and takes no new ones: waits
 * a little (the bot cuts the call short when it has a result to report),
 * then hands out only the cancellations of the leases it holds.
 */
async function takeNoWork(
  scheduler: WorkerScheduler,
  workerId: string,
  waitMs: number,
  signal: AbortSignal,
): ReturnType<WorkerScheduler['takeWork']> {
  await new Promise<void>((done) => {
    const end = (): void => {
      clearTimeout(timer);
      done();
    };
    const timer = setTimeout(end, Math.min(waitMs, LEAVING_POLL_MS));
    if (signal.aborted) end();
    else signal.addEventListener('abort', end, { once: true });
  });
  return scheduler.takeWork(workerId, { maxLeases: 0 });
}
