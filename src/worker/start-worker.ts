/**
 * Starts a worker process's parts: the file cache, the build directory root
 * and the agent that talks to the scheduler. Used by `kiln worker` and by the
 * in-process worker of `kiln serve`.
 */
import { createHash } from 'node:crypto';
import { statSync } from 'node:fs';
import { chmod, mkdir, rm } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { type ChannelCredentials, credentials, type Interceptor } from '@grpc/grpc-js';
import { CasClient } from '../client/cas-client.ts';
import { SHA256 } from '../digest/digest-function.ts';
import type { WorkerCounters } from '../observe/worker-metrics.ts';
import type { WorkerActionSpans } from '../observe/worker-spans.ts';
import type { PlatformProperty } from '../scheduler/types.ts';
import type { BotsCore } from '../services/bots-service.ts';
import type { BlobStore } from '../storage/blob-store.ts';
import { formatSize } from '../util/format-size.ts';
import type { Logger } from '../util/logger.ts';
import { probeActionCgroups } from './action-cgroups.mjs';
import { type ActionUsersPlan, parseActionUsers, resolveActionUsers } from './action-users.ts';
import { GrpcBotsTransport, InProcessBotsTransport } from './bots-transport.ts';
import { discardLeftovers } from './discard-leftovers.ts';
import { FileCache } from './file-cache.ts';
import { HelperProcessLauncher } from './helper-process-launcher.ts';
import { LocalCas } from './local-cas.ts';
import { ProcessForker } from './process-forker.mjs';
import type { ActionCgroupRequest } from './process-launcher.ts';
import { GNU_TIME, hasGnuTime } from './resource-accounting-runner.ts';
import { probeSandbox, SANDBOX_PROPERTY } from './sandboxing-runner.ts';
import { WorkerAgent } from './worker-agent.ts';

/** Options for {@link startWorker}. */
export interface StartWorkerOptions {
  /** Scheduler and CAS address, `host:port`; unused when `inProcess` is set. */
  readonly address: string;
  /** Credentials for `address` (TLS, a client certificate); plaintext by default. */
  readonly credentials?: ChannelCredentials;
  /** Client interceptors around every gRPC call (e.g. one sending a bearer token). */
  readonly interceptors?: Interceptor[];
  /**
   * Run inside the server: call its Bots logic and its CAS store directly
   * instead of over gRPC (the local workers of `kiln serve`).
   */
  readonly inProcess?: {
    readonly bots: BotsCore;
    /** The server's verifying CAS. */
    readonly cas: BlobStore;
  };
  /** Directory for the file cache (`cache/`) and build directories (`build/`). */
  readonly workDir: string;
  /** File cache byte budget. */
  readonly cacheBytes: number;
  /** Commands run at once. */
  readonly capacity: number;
  /** Leases taken beyond `capacity`, staged while commands run (see WorkerAgentOptions). */
  readonly prefetch?: number;
  readonly platform: readonly PlatformProperty[];
  /** Bot id; host name and pid by default. */
  readonly name?: string;
  readonly log: Logger;
  /** Who actions run as (see action-users.ts): `auto` by default. */
  readonly actionUsers?: string;
  /** Offer the namespace sandbox when it works here (`auto`, the default) or never (`off`). */
  readonly sandbox?: 'auto' | 'off';
  /**
   * The memory limit of each action's processes together, in bytes; 0 or
   * absent for none. Needs privilege separation and a cgroup memory controller.
   */
  readonly actionMemoryLimitBytes?: number;
  /** Traces each action it runs; none when tracing is off. */
  readonly spans?: WorkerActionSpans;
}

/** A running worker. */
export interface RunningWorker {
  readonly name: string;
  /** The running totals of its guards (for /metrics). */
  counters(): WorkerCounters;
  /**
   * Takes no new actions, and resolves once the running ones have finished
   * and their results are reported; {@link stop} then closes the worker.
   */
  drain(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Decides the isolation and accounting steps at start, and says which are
 * on: privilege separation, the sandbox (offered only when a trial run
 * works), resource accounting (when GNU time is installed).
 */
async function isolationSteps(
  users: ActionUsersPlan,
  sandbox: 'auto' | 'off',
  memoryLimitBytes: number,
  log: Logger,
): Promise<{ bwrap?: string; time?: string; cgroup?: ActionCgroupRequest }> {
  if (users.enabled) {
    const ids = users.pool.users.map((u) => u.uid);
    log.info(
      { uids: `${ids[0]}-${ids.at(-1)}`, gid: users.pool.users[0]?.gid },
      'privilege separation on: each action runs as a user of its own',
    );
  } else {
    log.warn({ why: users.why }, 'privilege separation off');
  }
  let bwrap: string | undefined;
  if (sandbox === 'off') {
    log.info('sandbox off (not offered)');
  } else {
    const probe = await probeSandbox(users.enabled ? users.pool.users[0] : undefined);
    if ('bwrap' in probe) {
      bwrap = probe.bwrap;
      log.info(
        { property: `${SANDBOX_PROPERTY.name}=${SANDBOX_PROPERTY.value}` },
        'sandbox available: actions that ask for it run in Linux namespaces',
      );
    } else {
      log.warn({ why: probe.why }, 'sandbox unavailable: not offered to actions');
    }
  }
  const time = hasGnuTime() ? GNU_TIME : undefined;
  const cgroup = users.enabled ? actionCgroup(memoryLimitBytes, log) : undefined;
  // The process forker measures what it starts; commands started in cgroups need GNU time.
  if (time === undefined && (cgroup !== undefined || !ProcessForker.reportsUsage())) {
    log.warn(`resource usage is not measured: ${GNU_TIME} (Debian package "time") is missing`);
  }
  if (memoryLimitBytes > 0 && !users.enabled) {
    throw new Error(
      `an action memory limit needs privilege separation (a root worker with action users), which is off: ${users.why}`,
    );
  }
  return { bwrap, time, cgroup };
}

/**
 * Whether actions run in cgroups of their users (see action-cgroups.mjs):
 * always under a memory limit (an error when there is no memory controller
 * to enforce it), otherwise only where moving into a cgroup is cheap.
 */
function actionCgroup(memoryLimitBytes: number, log: Logger): ActionCgroupRequest | undefined {
  const probe = probeActionCgroups();
  if (memoryLimitBytes > 0) {
    if (!probe.usable || probe.memory === undefined) {
      throw new Error(
        `cannot enforce the action memory limit: ${probe.usable ? 'no cgroup memory controller (v2, or v1 beside it) is available to this process' : probe.why}`,
      );
    }
    log.info(
      { limit: formatSize(memoryLimitBytes), controller: `cgroup ${probe.memory}` },
      'each action runs under a memory limit, in a cgroup of its user',
    );
    if (!probe.cheapMoves) log.warn(SLOW_MOVES);
    return { memoryLimitBytes };
  }
  if (probe.usable && probe.cheapMoves) {
    log.info('each action runs in a cgroup of its user (leftover processes are killed through it)');
    return { memoryLimitBytes: 0 };
  }
  log.info(
    { why: probe.usable ? SLOW_MOVES : probe.why },
    'action cgroups off: leftover processes of an action user are found through /proc',
  );
  return undefined;
}

const SLOW_MOVES =
  'cgroup v2 is mounted without favordynmods: placing each action in a cgroup waits for an RCU grace period (5-20 ms per action); remount it with favordynmods to avoid that';

/**
 * A work directory that action users can pass through to their input
 * roots. Many tools open their inputs by absolute path (a test runner's
 * `$PWD/…`, a JVM's working directory), which needs search permission on
 * every directory above the build directory; a data directory under
 * `/root` (mode 0o700) has none for other users. Rather than open such a
 * directory to everyone, the worker then keeps its file cache and build
 * directories under /var/tmp, says so, and removes them when it stops.
 */
function reachableWorkDir(workDir: string, log: Logger): string {
  const closed = closedAncestor(workDir);
  if (closed === undefined) return workDir;
  const fallback = join(
    '/var/tmp',
    `kiln-worker-${createHash('sha256').update(workDir).digest('hex').slice(0, 12)}`,
  );
  if (closedAncestor(fallback) !== undefined) {
    throw new Error(
      `actions run as other users cannot pass through ${closed} to the work directory ${workDir}; choose a work directory whose parent directories others may search (mode o+x)`,
    );
  }
  log.warn(
    { workDir, closed, using: fallback },
    'other users cannot pass through a parent of the work directory; the worker uses another one (set the work directory under a searchable path to choose it)',
  );
  return fallback;
}

/** The first existing directory on the way to `path` that other users cannot search. */
function closedAncestor(path: string): string | undefined {
  let dir = resolve(path);
  const chain: string[] = [];
  while (true) {
    chain.unshift(dir);
    const parent = dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  for (const d of chain) {
    let mode: number;
    try {
      mode = statSync(d).mode;
    } catch {
      return undefined; // Not created yet: the worker creates it searchable.
    }
    if ((mode & 0o001) === 0 && d !== resolve(path)) return d;
  }
  return undefined;
}

/** Opens the file cache and connects the agent. */
export async function startWorker(options: StartWorkerOptions): Promise<RunningWorker> {
  const { log } = options;
  const slots = options.capacity;
  const users = resolveActionUsers(parseActionUsers(options.actionUsers ?? 'auto'), slots);
  const workDir = users.enabled ? reachableWorkDir(options.workDir, log) : options.workDir;
  const buildRoot = join(workDir, 'build');
  const isolation = await isolationSteps(
    users,
    options.sandbox ?? 'auto',
    options.actionMemoryLimitBytes ?? 0,
    log,
  );
  await discardLeftovers(buildRoot, log);
  await mkdir(buildRoot, { recursive: true });
  if (users.enabled) {
    // Action users pass through to their own input roots, and see nothing else here.
    await chmod(workDir, 0o711);
    await chmod(buildRoot, 0o711);
  }
  const { inProcess } = options;
  // One connection carries the session, the file cache's downloads and the
  // actions' CAS traffic, and reconnects on one schedule after a restart.
  const grpc =
    inProcess === undefined
      ? new GrpcBotsTransport(
          options.address,
          options.credentials ?? credentials.createInsecure(),
          options.interceptors,
        )
      : undefined;
  const cacheCas =
    inProcess === undefined
      ? new CasClient({ channel: grpc?.channel, interceptors: options.interceptors })
      : new LocalCas({ store: inProcess.cas, digestFunction: SHA256 });
  const fileCache = await FileCache.open({
    directory: join(workDir, 'cache'),
    maxBytes: options.cacheBytes,
    cas: cacheCas,
    privateToWorker: users.enabled,
    // Actions run as the worker's user and could write cached files through their inputs.
    verifyIntegrity: !users.enabled,
    log,
  });
  const launcher = new HelperProcessLauncher({ log: options.log });
  const agent = new WorkerAgent({
    address: options.address,
    credentials: options.credentials,
    interceptors: options.interceptors,
    grpc,
    inProcess:
      inProcess === undefined
        ? undefined
        : {
            bots: new InProcessBotsTransport(inProcess.bots),
            casFor: (fn) => new LocalCas({ store: inProcess.cas, digestFunction: fn }),
          },
    name: options.name,
    capacity: options.capacity,
    prefetch: options.prefetch,
    platform:
      isolation.bwrap === undefined ? options.platform : [...options.platform, SANDBOX_PROPERTY],
    actionUsers: users.enabled ? users.pool : undefined,
    actionCgroup: isolation.cgroup,
    bwrap: isolation.bwrap,
    time: isolation.time,
    fileCache,
    buildRoot,
    launcher,
    log: log.child({ worker: options.name ?? 'local' }),
    spans: options.spans,
  });
  agent.start();
  return {
    name: agent.name,
    counters: () => ({
      cacheFilesDiscarded: fileCache.stats.discarded,
      leftoverProcessesKilled: users.enabled ? users.pool.leftoversKilled : 0,
      leftoverKillFallbacks: users.enabled ? users.pool.killFallbacks : 0,
      leftoverTempEntriesRemoved: users.enabled ? users.pool.tempEntriesRemoved : 0,
    }),
    drain: () => agent.drain(),
    async stop() {
      await agent.stop();
      await launcher.close();
      await fileCache.close();
      if (users.enabled) users.pool.close();
      if (cacheCas instanceof CasClient) cacheCas.close();
      // A stand-in work directory holds nothing the next start would keep (the file
      // cache starts empty): it goes, rather than pile up under /var/tmp.
      if (workDir !== options.workDir) await rm(workDir, { recursive: true, force: true });
    },
  };
}
