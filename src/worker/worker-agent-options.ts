/**
 * The options of the worker agent (see worker-agent.ts), in a file of their
 * own so that the agent's file holds only its behaviour.
 */
import type { ChannelCredentials, Interceptor } from '@grpc/grpc-js';
import type { DigestFunction } from '../digest/digest-function.ts';
import type { WorkerActionSpans } from '../observe/worker-spans.ts';
import type { PlatformProperty } from '../scheduler/types.ts';
import type { Logger } from '../util/logger.ts';
import type { ActionUserPool } from './action-users.ts';
import type { BotsTransport, GrpcBotsTransport } from './bots-transport.ts';
import type { FileCache } from './file-cache.ts';
import type { WorkerCas } from './local-cas.ts';
import type { ActionCgroupRequest, ProcessLauncher } from './process-launcher.ts';
import type { ReconnectBackoffOptions } from './reconnect-backoff.ts';

/** Options for `WorkerAgent` (worker-agent.ts). */
export interface WorkerAgentOptions {
  /** Scheduler (and CAS) address, `host:port`; unused when `inProcess` is set. */
  readonly address: string;
  /** Credentials for `address`; plaintext by default. */
  readonly credentials?: ChannelCredentials;
  /**
   * An already dialled gRPC transport to use instead of dialling `address`
   * (so that other clients of the worker can share its channel); the agent
   * closes it when it stops.
   */
  readonly grpc?: GrpcBotsTransport;
  /** Client interceptors around every gRPC call (e.g. one sending a bearer token). */
  readonly interceptors?: Interceptor[];
  /**
   * Reach the scheduler and the CAS by direct calls instead of gRPC: the
   * worker inside `kiln serve`.
   */
  readonly inProcess?: {
    readonly bots: BotsTransport;
    /** The CAS for actions of one digest function. */
    readonly casFor: (fn: DigestFunction) => WorkerCas;
  };
  /** Bot id shown in ExecutedActionMetadata.worker; host name and pid by default. */
  readonly name?: string;
  /** Commands run at once. */
  readonly capacity: number;
  /**
   * Leases taken beyond `capacity`: their inputs are staged and their
   * outputs uploaded while other actions' commands run, so that the
   * commands' slots do not sit idle during those phases. 0 by default.
   */
  readonly prefetch?: number;
  /** Platform properties this worker offers. */
  readonly platform: readonly PlatformProperty[];
  /** The local file cache shared by all actions. */
  readonly fileCache: FileCache;
  /** Where build directories are created; same file system as the file cache. */
  readonly buildRoot: string;
  readonly log: Logger;
  /** Starts the actions' processes; spawning from this process by default. */
  readonly launcher?: ProcessLauncher;
  /** Longest UpdateBotSession call (the server long-polls within it); 30 s by default. */
  readonly pollTimeoutMs?: number;
  /** Privilege separation: the users actions run as (see action-users.ts); the worker's own user when absent. */
  readonly actionUsers?: ActionUserPool;
  /** With `actionUsers`: run each command in its user's cgroup, under this memory limit (see action-cgroups.mjs). */
  readonly actionCgroup?: ActionCgroupRequest;
  /** The namespace sandbox, for actions that ask for it: the bubblewrap binary. */
  readonly bwrap?: string;
  /** Resource accounting: the GNU time binary; no usage is measured when absent. */
  readonly time?: string;
  /**
   * The waits between attempts to reach a lost scheduler (see
   * reconnect-backoff.ts): 100 ms growing to 5 s, with full jitter, by default.
   */
  readonly reconnect?: ReconnectBackoffOptions;
  /** Traces each action it runs (src/observe/worker-spans.ts); none when tracing is off. */
  readonly spans?: WorkerActionSpans;
}
