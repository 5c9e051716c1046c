/**
 * Keeping a Bots frontend's view of a bot session in step with the
 * scheduler, whose workers and leases other server processes may serve too
 * (the PostgreSQL scheduler): which leases the session holds, and when the
 * bot's report and this process's memory disagree enough to ask again.
 */
import {
  type Lease as LeaseMessage,
  LeaseState,
} from '../gen/google/devtools/remoteworkers/v1test2/bots.js';
import type { Lease, RegisteredWorker } from '../scheduler/types.ts';

/** Leases the bot reports finished (completed or cancelled) in one call. */
export function finishedLeaseIds(reported: readonly LeaseMessage[]): Set<string> {
  const done = (l: LeaseMessage) =>
    l.state === LeaseState.COMPLETED || l.state === LeaseState.CANCELLED;
  return new Set(reported.filter(done).map((l) => l.id));
}

/**
 * The leases the scheduler says the worker holds, as far as the bot still
 * runs them or has yet to see them: not those it reported finished in this
 * call, nor those it once reported running (no longer `PENDING`) and now
 * leaves out, since it finished them through another process whose
 * completion may still be under way.
 */
export function heldLeases(
  found: RegisteredWorker,
  reported: readonly LeaseMessage[],
  finished: ReadonlySet<string>,
): Map<string, Lease> {
  const held = new Map<string, Lease>();
  for (const lease of found.leases) {
    if (finished.has(lease.id)) continue;
    if (lease.state !== 'PENDING' && !reported.some((l) => l.id === lease.id)) continue;
    held.set(lease.id, lease);
  }
  return held;
}

/**
 * Whether the bot reports a lease this process does not hold for it, or
 * does not report one it holds (a lost reply, or finished elsewhere).
 */
export function outOfStep(held: Map<string, Lease>, reported: readonly LeaseMessage[]): boolean {
  for (const l of reported) if (!held.has(l.id)) return true;
  return hasUnseen(held, reported);
}

/** Whether the session holds a lease the bot did not report (it has not seen it yet). */
export function hasUnseen(held: Map<string, Lease>, reported: readonly LeaseMessage[]): boolean {
  for (const id of held.keys()) if (!reported.some((l) => l.id === id)) return true;
  return false;
}

/** Whether the bot reports running a lease the session does not hold (lost, or given to another). */
export function runsUnheld(held: Map<string, Lease>, reported: readonly LeaseMessage[]): boolean {
  for (const l of reported) if (l.state === LeaseState.ACTIVE && !held.has(l.id)) return true;
  return false;
}

/** A cancelled lease another process handed out, for a reply: the bot needs only its id. */
export function cancelledLease(id: string): LeaseMessage {
  return {
    id,
    payload: undefined,
    result: undefined,
    state: LeaseState.CANCELLED,
    status: undefined,
    requirements: undefined,
    expireTime: undefined,
    assignment: '',
    inlineAssignment: undefined,
  };
}
