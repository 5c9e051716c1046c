/**
 * `kiln worker`: joins a scheduler over the Remote Worker API and runs
 * actions until SIGINT/SIGTERM.
 */
import { availableParallelism } from 'node:os';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { parseSize } from '../config/values.ts';
import { createLogger } from '../util/logger.ts';
import { installProcessFailureHandlers } from '../util/process-failures.ts';
import { parseActionUsers } from '../worker/action-users.ts';
import { detectPlatform, parsePlatformProperties } from '../worker/platform-detect.ts';
import { startWorker } from '../worker/start-worker.ts';

export const WORKER_HELP = `Usage: kiln worker --scheduler grpc://HOST:PORT [options]

Runs actions for a Kiln scheduler. The worker dials the scheduler (it needs no
open port of its own), downloads inputs into a local file cache, runs each
command in a fresh build directory and uploads the outputs.

Options:
  --scheduler URL      scheduler address, grpc://HOST:PORT (required)
  --concurrency N      commands run at once (default: number of cores, ${availableParallelism()} here)
  --prefetch N         actions taken beyond --concurrency, whose inputs are staged
                       and outputs uploaded while other commands run (default 0)
  --platform K=V       a platform property to offer; repeatable. OSFamily and ISA
                       are detected and always offered
  --work-dir DIR       file cache and build directories (default ./kiln-worker)
  --cache-size SIZE    file cache budget, e.g. 20GiB (default 10GiB)
  --name NAME          worker name shown in results (default HOST-PID)
  --action-users SPEC  who actions run as: auto (default: when the worker runs as
                       root, each running action gets a user of its own, ids
                       59000 onwards in group nogroup), off (the worker's user),
                       or a range FIRST-LAST[:GID]
  --sandbox MODE       auto (default): offer the namespace sandbox (platform
                       property sandbox=namespaces) when bubblewrap works here;
                       off: never
  --action-memory-limit SIZE
                       memory limit of each action's processes together, e.g.
                       4GiB (default: none); needs privilege separation and a
                       cgroup memory controller. An action over it is killed
                       and fails with RESOURCE_EXHAUSTED
  --log-level LEVEL    trace, debug, info, warn, error (default info)
  -h, --help           show this help

Examples:
  kiln worker --scheduler grpc://build-farm:8980
  kiln worker --scheduler grpc://10.0.0.5:8980 --concurrency 16 --platform pool=large
`;

/** Strips `grpc://` and checks `host:port`. */
export function schedulerAddress(url: string): string {
  const address = url.replace(/^grpc:\/\//, '');
  if (url.startsWith('grpcs://') || !/^(\[[^\]]+\]|[^:/]+):\d{1,5}$/.test(address)) {
    throw new Error(
      `--scheduler "${url}" must look like grpc://HOST:PORT (TLS is not supported yet)`,
    );
  }
  return address;
}

/** Runs `kiln worker` with the arguments after `worker`. */
export async function workerCommand(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      scheduler: { type: 'string' },
      concurrency: { type: 'string' },
      prefetch: { type: 'string' },
      platform: { type: 'string', multiple: true },
      'work-dir': { type: 'string' },
      'cache-size': { type: 'string' },
      name: { type: 'string' },
      'action-users': { type: 'string' },
      sandbox: { type: 'string' },
      'action-memory-limit': { type: 'string' },
      'log-level': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(WORKER_HELP);
    return 0;
  }
  if (values.scheduler === undefined) throw new Error('--scheduler grpc://HOST:PORT is required');
  const address = schedulerAddress(values.scheduler);
  const concurrency = Number(values.concurrency ?? availableParallelism());
  if (!Number.isInteger(concurrency) || concurrency < 1) {
    throw new Error(`--concurrency "${values.concurrency}" must be a positive integer`);
  }
  const prefetch = Number(values.prefetch ?? 0);
  if (!Number.isInteger(prefetch) || prefetch < 0) {
    throw new Error(`--prefetch "${values.prefetch}" must be a non-negative integer`);
  }
  const cacheBytes = parseSize(values['cache-size'] ?? '10GiB');
  if (cacheBytes === undefined || cacheBytes <= 0) {
    throw new Error(`--cache-size "${values['cache-size']}" is not a size like 10GiB`);
  }
  const sandbox = values.sandbox ?? 'auto';
  if (sandbox !== 'auto' && sandbox !== 'off') {
    throw new Error(`--sandbox "${values.sandbox}" must be auto or off`);
  }
  const memoryLimit = values['action-memory-limit'];
  const actionMemoryLimitBytes = memoryLimit === undefined ? 0 : parseSize(memoryLimit);
  if (actionMemoryLimitBytes === undefined || actionMemoryLimitBytes < 0) {
    throw new Error(`--action-memory-limit "${memoryLimit}" is not a size like 4GiB`);
  }
  const actionUsers = values['action-users'] ?? 'auto';
  parseActionUsers(actionUsers);
  const log = createLogger({ level: values['log-level'] });
  // The worker serves no /metrics; its failures are in its logs and its exit status.
  installProcessFailureHandlers({ log, component: 'worker' });
  const worker = await startWorker({
    address,
    workDir: resolve(values['work-dir'] ?? 'kiln-worker'),
    cacheBytes,
    capacity: concurrency,
    prefetch,
    platform: [...detectPlatform(), ...parsePlatformProperties(values.platform ?? [])],
    name: values.name,
    log,
    actionUsers,
    sandbox,
    actionMemoryLimitBytes,
  });
  process.stdout.write(`Kiln worker ${worker.name} is working for grpc://${address}\n`);
  await new Promise<void>((done) => {
    process.once('SIGINT', () => done());
    process.once('SIGTERM', () => done());
  });
  await worker.stop();
  log.flush();
  return 0;
}
