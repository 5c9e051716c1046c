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
import { turnSlicer } from '../rpc/turn-slicer.ts';
import type { WorkerScheduler } from '../scheduler/scheduler.ts';
import type { Lease, PlatformProperty, TakeResult } from '../scheduler/types.ts';
import type { Logger } from '../util/logger.ts';
import { pollEnded, takeNoWork, whenCallEnds } from './bot-polls.ts';
import { mayReopenSession, newSessionName } from './bot-session-names.ts';
import {
  cancelledLease,
  finishedLeaseIds,
  hasUnseen,
  heldLeases,
  outOfStep,
  runsUnheld,
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
  /**
   * Longest time UpdateBotSession waits for work; 28 s by default, what
   * `kiln worker`'s 30 s call deadline allows (the reply leaves 2 s before
   * it). Every idle bot renews its call once per wait, so the wait sets an
   * idle fleet's cost: 20,000 bots cost about a fifth of a core at 20 s.
   */
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
  Partial<Pick<RpcContext, 'identity' | 'onCancel'>>;

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
    // A fleet registers, reconnects and completes work in waves; lighter
    // calls are answered between the starts of these.
    createBotSession: unary(
      options.log,
      'Bots.CreateBotSession',
      (req: CreateBotSessionRequest, ctx: RpcContext) => core.createBotSession(req, ctx),
      { slicer: turnSlicer },
    ),
    updateBotSession: unary(options.log, 'Bots.UpdateBotSession', core.updateBotSession, {
      slicer: turnSlicer,
    }),
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
  const longPollMs = options.longPollMs ?? DEFAULT_LONG_POLL_MS;
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
    const principal = ctx?.identity?.principal;
    const name = newSessionName(req.parent, bot.botId, principal);
    await openSession(name, bot, principal, 'bot session created');
    return { ...bot, name, leases: [], expireTime: expireTime() };
  }

  /** Registers the bot's worker under the session name and holds the session. */
  async function openSession(
    name: string,
    bot: BotSession,
    principal: string | undefined,
    event: string,
  ): Promise<SessionState> {
    const { platform, capacity } = workerProperties(bot.worker);
    try {
      await sweepSessions();
    } catch (err) {
      log.warn({ err }, 'forgetting the sessions of dropped bots failed');
    }
    await scheduler.registerWorker({ id: name, name: bot.botId, platform, capacity, principal });
    // A concurrent call may have re-opened it first; one state per session.
    const current = sessions.get(name);
    if (current !== undefined) return current;
    const session: SessionState = {
      botId: bot.botId,
      leases: new Map(),
      poll: undefined,
      principal,
    };
    sessions.set(name, session);
    log.info({ session: name, bot: bot.botId, capacity, platform }, event);
    return session;
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
    // Most calls (an idle bot's) report nothing: no set for them to hold through the poll.
    const finished = reported.length === 0 ? NONE_FINISHED : finishedLeaseIds(reported);
    let session = sessions.get(req.name);
    const resumed = session === undefined;
    const caller = ctx.identity?.principal;
    if (session === undefined)
      session = await resumeSession(req.name, reported, finished, bot, caller);
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
    const stopListening = whenCallEnds(ctx, () => poll.abort(CALL_ENDED));
    // Leases the bot and this process disagree about were handed out or
    // finished through another process: the scheduler's view settles them.
    if (!resumed && outOfStep(session.leases, reported)) {
      await reconcile(req.name, session, reported, finished);
    }
    const completions: Promise<void>[] = [];
    if (reported.length > 0) await applyLeaseReports(req.name, session, reported, completions);
    // Leases the bot has not seen yet go out at once, without waiting for
    // more; so does the news that a lease it runs is no longer its own (a
    // session re-opened after a restart), for the bot to stop it.
    const unseen = hasUnseen(session.leases, reported) || runsUnheld(session.leases, reported);
    const waitMs = unseen ? 0 : Math.max(0, Math.min(longPollMs, deadlineLeft(ctx) - 2000));
    // A bot that is leaving, or any bot of a draining server, takes no new work.
    const leaving = bot?.status === BotStatus.BOT_TERMINATING || options.draining?.() === true;
    let waiting: Promise<TakeResult>;
    try {
      waiting = leaving
        ? takeNoWork(scheduler, req.name, waitMs, poll.signal)
        : scheduler.takeWork(req.name, { waitMs, signal: poll.signal });
    } catch (err) {
      waiting = Promise.reject(err);
    }
    const held = session;
    // Returned, not awaited: this frame, with every local above, would
    // otherwise stay on the heap through the long poll of every idle bot.
    return waiting.then(
      (taken) => {
        pollEnded(held, poll, stopListening);
        return replyTo(req, held, taken, completions, reported, finished);
      },
      (err: unknown) => {
        pollEnded(held, poll, stopListening);
        // The scheduler dropped this worker (silent too long): its leases are
        // gone, and the bot must open a new session.
        if (hasCode(err, status.NOT_FOUND)) sessions.delete(req.name);
        throw err;
      },
    );
  }

  /** The reply to an UpdateBotSession once its poll ended with `taken`. */
  async function replyTo(
    req: UpdateBotSessionRequest,
    session: SessionState,
    taken: TakeResult,
    completions: readonly Promise<void>[],
    reported: readonly LeaseMessage[],
    finished: ReadonlySet<string>,
  ): Promise<BotSession> {
    const bot = req.botSession;
    for (const lease of taken.leases) session.leases.set(lease.id, lease);
    // Results the bot reported are recorded before it is told (it then
    // forgets them); should this fail, the leases just taken are re-sent on
    // its next call, as after any lost reply.
    if (completions.length > 0) await Promise.all(completions);
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
   * the same bot id, owner and leases. Once the worker is gone (the
   * scheduler forgot it in a restart, or dropped it as silent), the session
   * is opened again, with no lease, when its name was made for this bot and
   * caller (see bot-session-names.ts): the bot comes back in one call.
   * NOT_FOUND otherwise, and for a bot that is leaving.
   */
  async function resumeSession(
    name: string,
    reported: readonly LeaseMessage[],
    finished: ReadonlySet<string>,
    bot: BotSession | undefined,
    caller: string | undefined,
  ): Promise<SessionState> {
    const found = await scheduler.findWorker(name);
    if (found === undefined) {
      if (
        bot?.worker !== undefined &&
        bot.status !== BotStatus.BOT_TERMINATING &&
        mayReopenSession(name, bot.botId, caller)
      ) {
        return openSession(name, bot, caller, 'bot session re-opened');
      }
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

/** See {@link BotsServiceOptions.longPollMs}. */
export const DEFAULT_LONG_POLL_MS = 28_000;

/** What a call that reports no finished lease holds as its finished ones. */
const NONE_FINISHED: ReadonlySet<string> = new Set();
