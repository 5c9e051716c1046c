/**
 * Per-principal quotas: how many actions one caller may have waiting for a
 * worker, and how many running at once. Shared by every scheduler
 * implementation, like the rest of the policy.
 */
import { invalidArgument, quote, resourceExhausted } from '../errors.ts';

/** The limits of one principal; a field left out is unlimited. */
export interface PrincipalQuota {
  /**
   * Most of its actions queued (waiting for a worker) at once; an Execute
   * that would queue one more is refused with RESOURCE_EXHAUSTED. Cache hits
   * and Execute calls that join an identical queued or running action queue
   * nothing and are never refused.
   */
  readonly maxQueued?: number;
  /**
   * Most of its actions executing at once; further actions stay queued (and
   * other principals' actions are dispatched) until one of its running
   * actions ends.
   */
  readonly maxExecuting?: number;
}

/** Quotas by principal. */
export interface PrincipalLimits {
  /** Applies to every principal without an entry of its own. */
  readonly default?: PrincipalQuota;
  /**
   * Principal → its quota. An entry replaces `default` as a whole: a field
   * it leaves out is unlimited for that principal (`ci: {}` exempts `ci`).
   */
  readonly principals?: Readonly<Record<string, PrincipalQuota>>;
}

/** A principal's resolved quota; `Infinity` where unlimited. */
export interface ResolvedQuota {
  readonly maxQueued: number;
  readonly maxExecuting: number;
}

const UNLIMITED: ResolvedQuota = Object.freeze({
  maxQueued: Number.POSITIVE_INFINITY,
  maxExecuting: Number.POSITIVE_INFINITY,
});

/**
 * Each principal's quota, and the count of its live leases that
 * `maxExecuting` is checked against. Queued counts live in the queue.
 */
export class PrincipalQuotas {
  readonly #default: ResolvedQuota;
  readonly #principals: ReadonlyMap<string, ResolvedQuota>;
  /** Live leases per principal; principals with none are absent. */
  readonly #executing = new Map<string, number>();

  /** Checks every value (positive integers) and throws INVALID_ARGUMENT naming the bad field. */
  constructor(limits: PrincipalLimits = {}) {
    const resolved = resolveLimits(limits);
    this.#default = resolved.default;
    this.#principals = resolved.principals;
  }

  /** The quota of `principal`. */
  of(principal: string): ResolvedQuota {
    return this.#principals.get(principal) ?? this.#default;
  }

  /** Counts a lease handed out for `principal`; true when that brought it to its `maxExecuting`. */
  leaseStarted(principal: string): boolean {
    const executing = (this.#executing.get(principal) ?? 0) + 1;
    this.#executing.set(principal, executing);
    return executing >= this.of(principal).maxExecuting;
  }

  /** Counts a lease of `principal` off; true when that took it below its `maxExecuting`. */
  leaseEnded(principal: string): boolean {
    const executing = (this.#executing.get(principal) ?? 1) - 1;
    if (executing === 0) this.#executing.delete(principal);
    else this.#executing.set(principal, executing);
    return executing < this.of(principal).maxExecuting;
  }

  /** Each principal with live leases and how many. */
  executing(): IterableIterator<[principal: string, executing: number]> {
    return this.#executing.entries();
  }

  /**
   * Throws RESOURCE_EXHAUSTED when `principal`, with `queued` actions
   * waiting, may not queue another.
   */
  checkQueued(principal: string, queued: number): void {
    const { maxQueued } = this.of(principal);
    if (queued < maxQueued) return;
    throw resourceExhausted(
      `principal ${quote(principal)} already has ${queued} actions queued, its limit ` +
        `(execution.principalLimits maxQueued ${maxQueued}); retry when some have started, ` +
        "lower the build's parallelism (Bazel: --jobs), or ask the operator to raise the limit",
    );
  }
}

/** Returns `limits` after checking every value; INVALID_ARGUMENT names the bad field. */
export function checkPrincipalLimits(limits: PrincipalLimits): PrincipalLimits {
  resolveLimits(limits);
  return limits;
}

function resolveLimits(limits: PrincipalLimits): {
  default: ResolvedQuota;
  principals: ReadonlyMap<string, ResolvedQuota>;
} {
  return {
    default: resolve(limits.default, 'default'),
    principals: new Map(
      Object.entries(limits.principals ?? {}).map(([name, quota]) => [
        name,
        resolve(quota, `principals.${name}`),
      ]),
    ),
  };
}

function resolve(quota: PrincipalQuota | undefined, path: string): ResolvedQuota {
  if (quota === undefined) return UNLIMITED;
  const field = (name: keyof PrincipalQuota): number => {
    const value = quota[name];
    if (value === undefined) return Number.POSITIVE_INFINITY;
    if (!Number.isSafeInteger(value) || value < 1) {
      throw invalidArgument(
        `execution.principalLimits.${path}.${name}: ${value} must be a positive integer`,
      );
    }
    return value;
  };
  return Object.freeze({ maxQueued: field('maxQueued'), maxExecuting: field('maxExecuting') });
}
