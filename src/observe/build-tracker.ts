/**
 * What each recent build did, as far as this server saw it. A "build" is one
 * tool invocation: every RPC Bazel sends during one `bazel build` carries the
 * same `tool_invocation_id` in its REAPI RequestMetadata. The tracker keeps a
 * bounded number of them in memory for the web UI; nothing is persisted.
 */

/** Who made a request: the parts of REAPI RequestMetadata that name a build. */
export interface Invocation {
  /** `tool_invocation_id`; requests without one belong to no build and are ignored. */
  readonly invocationId: string;
  /** `correlated_invocations_id`: groups invocations (e.g. a CI run's several builds). */
  readonly correlatedInvocationsId?: string;
  /** `tool_details.tool_name`, e.g. `bazel`. */
  readonly toolName?: string;
  /** `tool_details.tool_version`. */
  readonly toolVersion?: string;
}

/** The outcome of one execution that a worker reported. */
export interface ExecutionOutcome {
  /** True when the action did not succeed: a non-zero exit code or a non-OK status. */
  readonly failed: boolean;
  /** Time the command ran, from ExecutedActionMetadata; 0 when the worker did not report it. */
  readonly executionMs: number;
  /** What the action used, when the worker measured it (a ResourceUsage in the metadata). */
  readonly resources?: {
    /** CPU time, user plus system. */
    readonly cpuMs: number;
    /** Largest resident set size of any one process of the action. */
    readonly peakMemoryBytes: number;
  };
}

/** One build's totals, as the UI shows them. */
export interface BuildSummary {
  readonly invocationId: string;
  /** The last non-empty `correlated_invocations_id` seen; empty when none. */
  readonly correlatedInvocationsId: string;
  /** The last non-empty tool name seen; empty when none. */
  readonly toolName: string;
  readonly toolVersion: string;
  /** First and last time (ms since the epoch) any request of the build was seen. */
  readonly firstSeenMs: number;
  readonly lastSeenMs: number;
  /** Executions of this build's actions that workers completed. */
  readonly actionsExecuted: number;
  /** Action cache lookups that hit: GetActionResult, or Execute answered from the cache. */
  readonly cacheHits: number;
  /**
   * Action cache lookups that missed. An Execute whose cache lookup misses
   * right after the same build's GetActionResult missed the same action (what
   * Bazel does for every remotely executed action) counts once, not twice.
   */
  readonly cacheMisses: number;
  /** Executions that failed (non-zero exit code, timeout, or error status). */
  readonly failures: number;
  /** Sum of the executions' run times. */
  readonly totalExecutionMs: number;
  /** Executions whose worker reported their resource usage; the next two cover only these. */
  readonly actionsMeasured: number;
  /** Sum of the measured executions' CPU time, user plus system. */
  readonly totalCpuMs: number;
  /** The largest peak memory of any one measured execution. */
  readonly peakMemoryBytes: number;
  /**
   * The longest chain of executed actions, each consuming an output of the
   * one before, by execution time (see critical-path.ts). The server cannot
   * see Bazel's graph or the actions Bazel ran locally or took from a cache,
   * so this is a lower bound of the build's real critical path; it is never
   * shorter than the longest single execution.
   */
  readonly criticalMs: number;
  /** `lastSeenMs - firstSeenMs`: how long the build talked to this server. */
  readonly wallMs: number;
}

/** Options for {@link BuildTracker}. */
export interface BuildTrackerOptions {
  /** Builds kept; the least recently active is forgotten first. Default 200. */
  readonly maxBuilds?: number;
  /** Clock in ms since the epoch; default `Date.now`. */
  readonly now?: () => number;
}

interface Build {
  readonly invocationId: string;
  correlatedInvocationsId: string;
  toolName: string;
  toolVersion: string;
  readonly firstSeenMs: number;
  lastSeenMs: number;
  actionsExecuted: number;
  cacheHits: number;
  cacheMisses: number;
  failures: number;
  totalExecutionMs: number;
  actionsMeasured: number;
  totalCpuMs: number;
  peakMemoryBytes: number;
  criticalMs: number;
}

/**
 * Aggregates events per tool invocation id. Memory is bounded: at most
 * `maxBuilds` builds, each a fixed handful of numbers and strings.
 */
export class BuildTracker {
  readonly #maxBuilds: number;
  readonly #now: () => number;
  /** In order of last activity, least recent first (re-inserted on every event). */
  readonly #builds = new Map<string, Build>();

  constructor(options: BuildTrackerOptions = {}) {
    const maxBuilds = options.maxBuilds ?? 200;
    if (!Number.isSafeInteger(maxBuilds) || maxBuilds <= 0) {
      throw new RangeError(`maxBuilds ${maxBuilds} must be a positive integer`);
    }
    this.#maxBuilds = maxBuilds;
    this.#now = options.now ?? Date.now;
  }

  /** Every tracked build, the most recently active first. */
  list(): BuildSummary[] {
    return [...this.#builds.values()].reverse().map(summarize);
  }

  /** One build by its tool invocation id, or undefined when unknown or forgotten. */
  get(invocationId: string): BuildSummary | undefined {
    const build = this.#builds.get(invocationId);
    return build === undefined ? undefined : summarize(build);
  }

  /** An action cache lookup (GetActionResult, or the one inside Execute). */
  recordCacheLookup(who: Invocation, hit: boolean): void {
    const build = this.#touch(who);
    if (build === undefined) return;
    if (hit) build.cacheHits++;
    else build.cacheMisses++;
  }

  /** An Execute that queued or joined an execution; marks the build active. */
  recordSubmission(who: Invocation): void {
    this.#touch(who);
  }

  /** A worker finished one of the build's actions. */
  recordExecution(who: Invocation, outcome: ExecutionOutcome): void {
    const build = this.#touch(who);
    if (build === undefined) return;
    build.actionsExecuted++;
    if (outcome.failed) build.failures++;
    const ms = Math.max(0, outcome.executionMs);
    build.totalExecutionMs += ms;
    build.criticalMs = Math.max(build.criticalMs, ms);
    if (outcome.resources !== undefined) {
      build.actionsMeasured++;
      build.totalCpuMs += Math.max(0, outcome.resources.cpuMs);
      build.peakMemoryBytes = Math.max(build.peakMemoryBytes, outcome.resources.peakMemoryBytes);
    }
  }

  /** A path length through the build's executed actions (see critical-path.ts). */
  recordCriticalPath(invocationId: string, ms: number): void {
    const build = this.#builds.get(invocationId);
    if (build !== undefined) build.criticalMs = Math.max(build.criticalMs, ms);
  }

  /** Finds or creates the build and makes it the most recent; undefined without an id. */
  #touch(who: Invocation): Build | undefined {
    if (who.invocationId === '') return undefined;
    const now = this.#now();
    let build = this.#builds.get(who.invocationId);
    if (build === undefined) {
      build = {
        invocationId: who.invocationId,
        correlatedInvocationsId: '',
        toolName: '',
        toolVersion: '',
        firstSeenMs: now,
        lastSeenMs: now,
        actionsExecuted: 0,
        cacheHits: 0,
        cacheMisses: 0,
        failures: 0,
        totalExecutionMs: 0,
        actionsMeasured: 0,
        totalCpuMs: 0,
        peakMemoryBytes: 0,
        criticalMs: 0,
      };
      if (this.#builds.size >= this.#maxBuilds) {
        const oldest = this.#builds.keys().next().value;
        if (oldest !== undefined) this.#builds.delete(oldest);
      }
    } else {
      this.#builds.delete(who.invocationId);
    }
    this.#builds.set(who.invocationId, build);
    build.lastSeenMs = Math.max(build.lastSeenMs, now);
    if (who.correlatedInvocationsId) build.correlatedInvocationsId = who.correlatedInvocationsId;
    if (who.toolName) build.toolName = who.toolName;
    if (who.toolVersion) build.toolVersion = who.toolVersion;
    return build;
  }
}

function summarize(build: Build): BuildSummary {
  return { ...build, wallMs: build.lastSeenMs - build.firstSeenMs };
}
