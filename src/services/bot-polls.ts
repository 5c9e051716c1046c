/**
 * The long polls of UpdateBotSession: noticing the end of the call a poll
 * serves, forgetting a finished poll, and the poll of a bot that takes no
 * new work.
 */
import type { WorkerScheduler } from '../scheduler/scheduler.ts';
import type { PollContext } from './bots-service.ts';

const noop = (): void => {};

/**
 * Calls `listener` once the UpdateBotSession call ends early (the client
 * cancelled it or its deadline passed); returns what stops listening.
 */
export function whenCallEnds(ctx: PollContext, listener: () => void): () => void {
  if (ctx.onCancel !== undefined) return ctx.onCancel(listener);
  const { signal } = ctx;
  if (signal.aborted) {
    listener();
    return noop;
  }
  signal.addEventListener('abort', listener, { once: true });
  return () => signal.removeEventListener('abort', listener);
}

/**
 * The poll is over: a later call has nothing to end, and this call's own
 * end nothing to abort.
 */
export function pollEnded(
  session: { poll: AbortController | undefined },
  poll: AbortController,
  stopListening: () => void,
): void {
  stopListening();
  if (session.poll === poll) session.poll = undefined;
}

/** How long the poll of a bot that takes no new work waits before it answers. */
const LEAVING_POLL_MS = 2000;

/**
 * The poll of a bot that finishes its actions and takes no new ones: waits
 * a little (the bot cuts the call short when it has a result to report),
 * then hands out only the cancellations of the leases it holds.
 */
export async function takeNoWork(
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
