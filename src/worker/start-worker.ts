/**
 * Starts a worker process's parts: the file cache, the build directory root
 * and the agent that talks to the scheduler. Used by `kiln worker` and by the
 * in-process worker of `kiln serve`.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { CasClient } from '../client/cas-client.ts';
import { SHA256 } from '../digest/digest-function.ts';
import type { PlatformProperty } from '../scheduler/types.ts';
import type { BotsCore } from '../services/bots-service.ts';
import type { BlobStore } from '../storage/blob-store.ts';
import type { Logger } from '../util/logger.ts';
import { InProcessBotsTransport } from './bots-transport.ts';
import { discardLeftovers } from './discard-leftovers.ts';
import { FileCache } from './file-cache.ts';
import { HelperProcessLauncher } from './helper-process-launcher.ts';
import { LocalCas } from './local-cas.ts';
import { WorkerAgent } from './worker-agent.ts';

/** Options for {@link startWorker}. */
export interface StartWorkerOptions {
  /** Scheduler and CAS address, `host:port`; unused when `inProcess` is set. */
  readonly address: string;
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
}

/** A running worker. */
export interface RunningWorker {
  readonly name: string;
  stop(): Promise<void>;
}

/** Opens the file cache and connects the agent. */
export async function startWorker(options: StartWorkerOptions): Promise<RunningWorker> {
  const buildRoot = join(options.workDir, 'build');
  await discardLeftovers(buildRoot, options.log);
  await mkdir(buildRoot, { recursive: true });
  const { inProcess } = options;
  const cacheCas =
    inProcess === undefined
      ? new CasClient({ address: options.address })
      : new LocalCas({ store: inProcess.cas, digestFunction: SHA256 });
  const fileCache = await FileCache.open({
    directory: join(options.workDir, 'cache'),
    maxBytes: options.cacheBytes,
    cas: cacheCas,
  });
  const launcher = new HelperProcessLauncher({ log: options.log });
  const agent = new WorkerAgent({
    address: options.address,
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
    platform: options.platform,
    fileCache,
    buildRoot,
    launcher,
    log: options.log.child({ worker: options.name ?? 'local' }),
  });
  agent.start();
  return {
    name: agent.name,
    async stop() {
      await agent.stop();
      await launcher.close();
      await fileCache.close();
      if (cacheCas instanceof CasClient) cacheCas.close();
    },
  };
}
