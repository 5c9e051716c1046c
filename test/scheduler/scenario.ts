/**
 * Builders for scheduler scenario tests: a scheduler on a FakeClock with
 * sequential ids, an in-memory action cache that records its calls, and
 * synthetic actions.
 */
import { createHash } from 'node:crypto';
import { status as Code } from '@grpc/grpc-js';
import { type Digest, makeDigest } from '../../src/digest/digest.ts';
import { SHA256 } from '../../src/digest/digest-function.ts';
import {
  Action,
  ActionResult,
  Command,
} from '../../src/gen/build/bazel/remote/execution/v2/remote_execution.js';
import { FakeClock } from '../../src/scheduler/clock.ts';
import { SequentialIds } from '../../src/scheduler/ids.ts';
import { InMemoryScheduler } from '../../src/scheduler/in-memory-scheduler.ts';
import type { SchedulerPolicy } from '../../src/scheduler/policy.ts';
import type { Scheduler } from '../../src/scheduler/scheduler.ts';
import type {
  ActionResultCache,
  LeaseCompletion,
  OperationState,
  SubmitRequest,
} from '../../src/scheduler/types.ts';
import type { VisitCounter } from '../../src/scheduler/visit-counter.ts';

/** An action cache in a Map that records every call. */
export class RecordingActionCache implements ActionResultCache {
  readonly results = new Map<string, ActionResult>();
  readonly gets: string[] = [];
  readonly puts: string[] = [];
  failGets = false;

  async get(instanceName: string, digest: Digest): Promise<ActionResult | undefined> {
    this.gets.push(digest.key);
    if (this.failGets) throw new Error('cache backend down');
    return this.results.get(`${instanceName}/${digest.key}`);
  }

  async put(instanceName: string, digest: Digest, result: ActionResult): Promise<void> {
    this.puts.push(digest.key);
    this.results.set(`${instanceName}/${digest.key}`, result);
  }
}

/** A scheduler, its clock and its cache. */
export interface Scenario<S extends Scheduler = InMemoryScheduler> {
  readonly clock: FakeClock;
  readonly cache: RecordingActionCache;
  readonly scheduler: S;
}

/** What {@link scenario} can vary besides the policy. */
export interface ScenarioOptions {
  /** Long-poll jitter; default 0, so polls end exactly at their wait. */
  readonly pollJitter?: number;
  /** Receives the count of records dispatch visits. */
  readonly visits?: VisitCounter;
}

/** A fresh scheduler on a FakeClock with ids `1`, `2`, … */
export function scenario(
  policy: Partial<SchedulerPolicy> = {},
  options: ScenarioOptions = {},
): Scenario {
  const clock = new FakeClock();
  const cache = new RecordingActionCache();
  const scheduler = new InMemoryScheduler({
    actionCache: cache,
    clock,
    ids: new SequentialIds(),
    policy,
    pollJitter: options.pollJitter ?? 0,
    visits: options.visits,
  });
  return { clock, cache, scheduler };
}

/** What {@link testAction} can vary. */
export interface ActionSpec {
  /** Action.platform properties as [name, value] pairs. */
  readonly platform?: readonly [string, string][];
  /** Command.platform properties (the deprecated location). */
  readonly commandPlatform?: readonly [string, string][];
  readonly timeoutSeconds?: number;
  readonly doNotCache?: boolean;
}

/** A synthetic action with a digest derived from its name. */
export interface TestAction {
  readonly name: string;
  readonly digest: Digest;
  readonly action: Action;
  readonly command: Command;
}

const props = (pairs: readonly [string, string][] | undefined) =>
  pairs === undefined ? undefined : { properties: pairs.map(([name, value]) => ({ name, value })) };

/** Builds an action whose digest is the SHA-256 of `name`. */
export function testAction(name: string, spec: ActionSpec = {}): TestAction {
  const hash = createHash('sha256').update(name).digest('hex');
  return {
    name,
    digest: makeDigest(SHA256, hash, 100 + name.length),
    action: Action.fromPartial({
      platform: props(spec.platform),
      doNotCache: spec.doNotCache ?? false,
      timeout:
        spec.timeoutSeconds === undefined ? undefined : { seconds: spec.timeoutSeconds, nanos: 0 },
    }),
    command: Command.fromPartial({
      arguments: ['run', name],
      platform: props(spec.commandPlatform),
    }),
  };
}

/** A SubmitRequest for `a` with neutral defaults. */
export function request(a: TestAction, overrides: Partial<SubmitRequest> = {}): SubmitRequest {
  return {
    instanceName: '',
    digestFunction: SHA256,
    actionDigest: a.digest,
    action: a.action,
    command: a.command,
    skipCacheLookup: false,
    priority: 0,
    toolInvocationId: '',
    correlatedInvocationsId: '',
    ...overrides,
  };
}

/** An ActionResult with the given exit code and a recognisable stdout. */
export function result(exitCode = 0, stdout = 'ok'): ActionResult {
  return ActionResult.fromPartial({ exitCode, stdoutRaw: Buffer.from(stdout) });
}

/** A successful completion carrying `result`. */
export function ok(r: ActionResult = result()): LeaseCompletion {
  return { result: r, status: { code: Code.OK, message: '', details: [] } };
}

/** Registers a worker whose name is its id. */
export async function worker(
  s: Scenario<Scheduler>,
  id: string,
  platform: readonly [string, string][] = [],
  capacity = 1,
): Promise<void> {
  await s.scheduler.registerWorker({
    id,
    name: id,
    platform: platform.map(([name, value]) => ({ name, value })),
    capacity,
  });
}

/** The status code and message of a done operation. */
export function outcome(op: OperationState): {
  code: number | undefined;
  message: string | undefined;
} {
  return { code: op.response?.status?.code, message: op.response?.status?.message };
}
