/**
 * The `execution` section of the configuration: whether `kiln serve` runs a
 * scheduler, its policy, and the worker it runs in-process.
 */
import { availableParallelism } from 'node:os';
import { z } from 'zod';
import type { PrincipalLimits } from '../scheduler/principal-limits.ts';
import { countSchema, durationSchema, flagSchema, sizeSchema } from './values.ts';

/** The validated `execution` section. */
export interface ExecutionConfig {
  /** Serve Execute, Operations and the Bots API. */
  readonly enabled: boolean;
  /** Actions the in-process worker runs at once; 0 runs no local worker. */
  readonly localWorkers: number;
  /** Leases the in-process worker takes beyond `localWorkers`, staged while commands run. */
  readonly localPrefetch: number;
  /** The in-process worker's directory (file cache and build directories), under dataDir when relative. */
  readonly workDir: string;
  /** Byte budget of the in-process worker's file cache. */
  readonly workerCacheSize: number;
  /** Extra platform properties of the in-process worker, `name=value`. */
  readonly platform: readonly string[];
  /** Timeout of actions that set none, in ms. */
  readonly defaultTimeoutMs: number;
  /** Longest timeout an action may ask for, in ms; longer ones are rejected. */
  readonly maxTimeoutMs: number;
  /** A worker silent this long is gone and its actions are retried, in ms. */
  readonly workerTimeoutMs: number;
  /** An action no connected worker can run fails after this long, in ms; 0 fails at once. */
  readonly unschedulableTimeoutMs: number;
  /** How often a lost action is retried on another worker. */
  readonly maxRetries: number;
  /** Who the in-process worker's actions run as (see `worker/action-users.ts`). */
  readonly actionUsers: string;
  /** Offer the namespace sandbox when it works (`auto`) or never (`off`). */
  readonly sandbox: 'auto' | 'off';
  /** Memory limit of each in-process worker action, in bytes; 0 for none. */
  readonly actionMemoryLimit: number;
  /** Most queued and executing actions per principal; empty for no limits. */
  readonly principalLimits: PrincipalLimits;
  /** Where the scheduler keeps its state: this process's memory, or PostgreSQL. */
  readonly scheduler: SchedulerBackendConfig;
}

/** `execution.scheduler`: `memory`, or a PostgreSQL database shared by several processes. */
export type SchedulerBackendConfig =
  | 'memory'
  | {
      readonly postgres: {
        /** `postgresql://user[:password]@host[:port]/database[?…]`. */
        readonly url: string;
        /** Most pooled connections per process (one more listens). */
        readonly poolSize: number;
        /** Schema holding the scheduler's tables. */
        readonly schema: string;
      };
    };

const nonNegativeCount = z
  .union([z.number().int().min(0), z.string().regex(/^\s*\d+\s*$/)], {
    error: 'expected a non-negative integer',
  })
  .transform((v) => Number(v));

const platformEntry = z
  .string()
  .regex(/^[^=\s]+=.*$/, { error: 'expected name=value' })
  .describe('A platform property as name=value.');

const quotaSchema = z
  .object({
    maxQueued: countSchema
      .optional()
      .describe(
        'Most actions of the principal waiting for a worker at once; an Execute that would queue one more is refused with RESOURCE_EXHAUSTED. Default: unlimited.',
      ),
    maxExecuting: countSchema
      .optional()
      .describe(
        "Most actions of the principal running at once; further ones wait in the queue while other principals' actions run. Default: unlimited.",
      ),
  })
  .strict();

const principalLimitsSchema = z
  .object({
    default: quotaSchema
      .optional()
      .describe('Limits of every principal without an entry under principals. Default: none.'),
    principals: z
      .record(z.string(), quotaSchema)
      .default({})
      .describe(
        'Limits by principal name (auth.tokens[].principal, anonymous, or loopback). An entry replaces default as a whole: a field it leaves out is unlimited. Default: none.',
      ),
  })
  .strict();

const postgresSchedulerSchema = z
  .object({
    url: z
      .string()
      .regex(/^postgres(ql)?:\/\/\S+$/, {
        error: 'expected a postgresql://user@host:port/database URL',
      })
      .describe(
        'The PostgreSQL database, postgresql://user[:password]@host[:port]/database; write a password as an environment variable reference to keep it out of the file.',
      ),
    poolSize: countSchema
      .default(10)
      .describe(
        'Most pooled connections of each process (one more listens for notifications). Default: 10.',
      ),
    schema: z
      .string()
      .regex(/^[a-z_][a-z0-9_]{0,40}$/, {
        error: 'expected a lower-case SQL identifier (letters, digits, _) of at most 41 characters',
      })
      .default('kiln')
      .describe('Schema of the scheduler tables, created when missing. Default: kiln.'),
  })
  .strict();

const schedulerBackendSchema = z
  .union(
    [
      z.literal('memory'),
      z
        .object({
          postgres: postgresSchedulerSchema.describe(
            'Keep the scheduler state in this PostgreSQL database, shared by every Kiln process configured with it.',
          ),
        })
        .strict(),
    ],
    {
      error: 'expected memory or { postgres: { url: … } }',
    },
  )
  .default('memory')
  .describe(
    'Where the scheduler keeps operations, the queue and workers: memory (this process only, lost on restart), or { postgres: { url } } (shared by every process on that database, kept across restarts). Default: memory.',
  );

/** Schema of the `execution` section. */
export const executionSchema = z
  .object({
    enabled: flagSchema
      .default(true)
      .describe('Serve remote execution (Execute, Operations, Bots). Default: true.'),
    localWorkers: nonNegativeCount
      .default(availableParallelism())
      .describe(
        'Actions the in-process worker runs at once; 0 disables it (workers then join with `kiln worker`). Default: the number of cores.',
      ),
    localPrefetch: nonNegativeCount
      .optional()
      .describe(
        'Actions the in-process worker takes beyond localWorkers: their inputs are staged and their outputs uploaded while other commands run, so the command slots do not wait for those phases. Default: localWorkers.',
      ),
    workDir: z
      .string()
      .min(1)
      .default('worker')
      .describe('Directory of the in-process worker, relative to server.dataDir. Default: worker.'),
    workerCacheSize: sizeSchema
      .default(10 * 2 ** 30)
      .describe('Byte budget of the in-process worker file cache. Default: 10GiB.'),
    platform: z
      .array(platformEntry)
      .default([])
      .describe(
        'Extra platform properties of the in-process worker (name=value), besides the detected OSFamily and ISA. Default: none.',
      ),
    defaultTimeout: durationSchema
      .default(15 * 60_000)
      .describe('Timeout of actions that set none. Default: 15m.'),
    maxTimeout: durationSchema
      .default(3 * 3_600_000)
      .describe('Longest action timeout accepted; longer ones are rejected. Default: 3h.'),
    workerTimeout: durationSchema
      .default(60_000)
      .describe('A worker silent this long is dropped and its actions retried. Default: 60s.'),
    unschedulableTimeout: z
      .union([z.literal(0), durationSchema])
      .default(30_000)
      .describe(
        'An action no connected worker can run fails after this long; 0 fails at once. Default: 30s.',
      ),
    maxRetries: countSchema
      .or(z.literal(0))
      .default(2)
      .describe('Retries of an action whose worker disappeared. Default: 2.'),
    actionUsers: z
      .string()
      .regex(/^(auto|off|\d+-\d+(:\d+)?)$/, {
        error: 'expected auto, off, or a user id range FIRST-LAST[:GID]',
      })
      .default('auto')
      .describe(
        "Who the in-process worker runs actions as. auto: when Kiln runs as root, each running action gets a user of its own (ids 59000 onwards, group nogroup), which cannot write its inputs, the file cache, the data directory or another action; otherwise the server's own user. off: the server's user. FIRST-LAST[:GID]: that range of user ids (at least localWorkers of them). Default: auto.",
      ),
    sandbox: z
      .enum(['auto', 'off'])
      .default('auto')
      .describe(
        'auto: offer the namespace sandbox (platform property sandbox=namespaces: no network, private /tmp and PID namespace, read-only host file system) when bubblewrap works here; off: never. Default: auto.',
      ),
    actionMemoryLimit: sizeSchema
      .or(z.literal(0))
      .default(0)
      .describe(
        "Memory limit of each action's processes together (e.g. 4GiB), enforced through a cgroup of the action's user; an action that goes over it is killed and fails with RESOURCE_EXHAUSTED. Needs privilege separation and a cgroup memory controller (v2, or v1 beside it): Kiln refuses to start without them. Default: 0, no limit.",
      ),
    principalLimits: principalLimitsSchema
      .prefault({})
      .describe(
        'Per-principal quotas on queued and executing actions (workers are shared round-robin between principals regardless). Default: none.',
      ),
    scheduler: schedulerBackendSchema,
  })
  .strict()
  .transform(
    (e): ExecutionConfig => ({
      enabled: e.enabled,
      localWorkers: e.localWorkers,
      localPrefetch: e.localPrefetch ?? e.localWorkers,
      workDir: e.workDir,
      workerCacheSize: e.workerCacheSize,
      platform: e.platform,
      defaultTimeoutMs: e.defaultTimeout,
      maxTimeoutMs: e.maxTimeout,
      workerTimeoutMs: e.workerTimeout,
      unschedulableTimeoutMs: e.unschedulableTimeout,
      maxRetries: e.maxRetries,
      actionUsers: e.actionUsers,
      sandbox: e.sandbox,
      actionMemoryLimit: e.actionMemoryLimit,
      principalLimits: e.principalLimits,
      scheduler: e.scheduler,
    }),
  )
  .describe('Remote execution: the scheduler and the in-process worker.');
