/**
 * The timing and retry rules every scheduler implementation follows, with
 * their defaults. Shared so that the in-memory and a PostgreSQL scheduler
 * behave the same under the same configuration.
 */
import { invalidArgument } from '../errors.ts';
import { checkPrincipalLimits, type PrincipalLimits } from './principal-limits.ts';

/** Scheduling rules; each field is optional where it is accepted and has a default. */
export interface SchedulerPolicy {
  /** Execution timeout for actions that set none (or zero). Default 15 minutes. */
  readonly defaultTimeoutMs: number;
  /**
   * Largest timeout an action may ask for; larger ones are rejected with
   * INVALID_ARGUMENT, as REAPI requires. Default 3 hours (Bazel's "eternal"
   * tests ask for one hour).
   */
  readonly maxTimeoutMs: number;
  /**
   * Extra time after a lease's timeout before the scheduler treats the lease
   * as lost. It covers input fetching and output upload, which the timeout
   * does not. Default 5 minutes.
   */
  readonly leaseGraceMs: number;
  /**
   * A worker that has not called the scheduler for this long is gone: its
   * leases are lost. A worker waiting in a long-poll counts as present.
   * Default 60 seconds.
   */
  readonly workerTimeoutMs: number;
  /**
   * How long an action may wait for a worker that can run it to connect
   * before it fails with FAILED_PRECONDITION; 0 fails at once. Default 30 seconds.
   */
  readonly unschedulableTimeoutMs: number;
  /** How often a lost action is queued again before it fails with UNAVAILABLE. Default 2. */
  readonly maxRetries: number;
  /** How long a done operation stays readable (for late WaitExecution or GetOperation). Default 1 hour. */
  readonly completedRetentionMs: number;
  /**
   * Most done operations kept readable at once; past it the one completed
   * longest ago is forgotten first, before its `completedRetentionMs` is up.
   * Bounds the memory done operations hold (each keeps its ExecuteResponse)
   * however many actions a busy hour completes. Default 10,000.
   */
  readonly maxCompletedOperations: number;
  /**
   * Most bytes the responses of done operations may hold at once (inline
   * stdout and stderr, inline output contents); past it the one completed
   * longest ago is forgotten first. Without it 10,000 responses with 256 KiB
   * of inline output each could keep 2.5 GB. Default 64 MiB.
   */
  readonly maxCompletedBytes: number;
  /** Page size of `listOperations` when the caller asks for none, and the cap on what it may ask. Default 100 and 1000. */
  readonly defaultPageSize: number;
  readonly maxPageSize: number;
  /**
   * Quotas per principal (the authenticated caller): most actions queued and
   * most executing at once. Default: none.
   */
  readonly principalLimits: PrincipalLimits;
}

type NumericPolicy = Omit<SchedulerPolicy, 'principalLimits'>;

/** The defaults of {@link SchedulerPolicy}. */
export const DEFAULT_SCHEDULER_POLICY: SchedulerPolicy = Object.freeze({
  defaultTimeoutMs: 15 * 60_000,
  maxTimeoutMs: 3 * 3_600_000,
  leaseGraceMs: 5 * 60_000,
  workerTimeoutMs: 60_000,
  unschedulableTimeoutMs: 30_000,
  maxRetries: 2,
  completedRetentionMs: 3_600_000,
  maxCompletedOperations: 10_000,
  maxCompletedBytes: 64 * 1024 * 1024,
  defaultPageSize: 100,
  maxPageSize: 1000,
  principalLimits: Object.freeze({}),
});

/**
 * Fills in defaults and checks every value, so a bad configuration fails at
 * startup with the field's name rather than misbehaving later.
 */
export function resolvePolicy(partial: Partial<SchedulerPolicy> = {}): SchedulerPolicy {
  const { principalLimits, ...numbers } = partial;
  const policy = { ...DEFAULT_SCHEDULER_POLICY };
  if (principalLimits !== undefined) policy.principalLimits = checkPrincipalLimits(principalLimits);
  for (const [key, value] of Object.entries(numbers) as [
    keyof NumericPolicy,
    number | undefined,
  ][]) {
    if (value === undefined) continue;
    if (!Number.isSafeInteger(value) || value < 0) {
      throw invalidArgument(`scheduler.${key}: ${value} must be a non-negative integer`);
    }
    policy[key] = value;
  }
  const positive: (keyof NumericPolicy)[] = [
    'defaultTimeoutMs',
    'workerTimeoutMs',
    'maxCompletedOperations',
    'maxCompletedBytes',
    'defaultPageSize',
    'maxPageSize',
  ];
  for (const key of positive) {
    if (policy[key] === 0) throw invalidArgument(`scheduler.${key} must be positive`);
  }
  if (policy.defaultTimeoutMs > policy.maxTimeoutMs) {
    throw invalidArgument(
      `scheduler.defaultTimeoutMs (${policy.defaultTimeoutMs}) exceeds scheduler.maxTimeoutMs (${policy.maxTimeoutMs})`,
    );
  }
  return Object.freeze(policy);
}
