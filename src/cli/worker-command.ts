/**
 * `kiln worker`: joins a scheduler over the Remote Worker API and runs
 * actions until SIGTERM (finishing the running ones first) or SIGINT.
 */
import { availableParallelism, hostname } from 'node:os';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { bearerTokenInterceptor, readBearerToken } from '../client/bearer-token.ts';
import { channelCredentials } from '../client/channel-credentials.ts';
import { parseDuration, parseSize } from '../config/values.ts';
import { startTracing, type Tracing } from '../observe/tracing.ts';
import { tracingClientInterceptor } from '../observe/tracing-client-interceptor.ts';
import { workerSpans } from '../observe/worker-spans.ts';
import { createLogger, type Logger, parseLogFormat } from '../util/logger.ts';
import { installProcessFailureHandlers } from '../util/process-failures.ts';
import { parseActionUsers } from '../worker/action-users.ts';
import { detectPlatform, parsePlatformProperties } from '../worker/platform-detect.ts';
import { type RunningWorker, startWorker } from '../worker/start-worker.ts';

export const WORKER_HELP = `Usage: kiln worker --scheduler grpc[s]://HOST:PORT [options]

Runs actions for a Kiln scheduler. The worker dials the scheduler (it needs no
open port of its own), downloads inputs into a local file cache, runs each
command in a fresh build directory and uploads the outputs. When the scheduler
goes away (a restart, a network fault) the worker keeps retrying, waiting a
random time up to 100 ms, then up to 200 ms, 400 ms, … and at most 5 s between
attempts, and opens a new session once it answers; it logs the outage once and
the reconnection once.

Options:
  --scheduler URL      scheduler address, grpc://HOST:PORT, or grpcs://HOST:PORT
                       for TLS (required)
  --tls-ca FILE        CA certificates to trust instead of the system's; turns TLS on
  --tls-cert FILE      client certificate for mutual TLS (with --tls-key FILE)
  --tls-key FILE       the client certificate's private key
  --token-file FILE    send the bearer token in FILE (default: $KILN_TOKEN, when
                       set); the token needs the worker permission
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
  --drain-timeout DURATION
                       on SIGTERM, how long running actions may take to finish,
                       e.g. 10m (default 60s); the worker takes no new actions
                       meanwhile, reports the results, then exits. A second
                       SIGTERM, or SIGINT, stops at once, cancelling them
  --trace-endpoint URL send OpenTelemetry spans of each action (input staging,
                       execution, output upload) over OTLP/HTTP to this
                       collector, e.g. http://127.0.0.1:4318; they continue the
                       scheduler's trace of the action (default: no tracing)
  --trace-service-name NAME
                       service.name of those spans (default kiln-worker)
  --log-level LEVEL    trace, debug, info, warn, error (default info)
  --log-format FORMAT  json or pretty (default: pretty when stderr is a terminal,
                       JSON otherwise)
  -h, --help           show this help

Examples:
  kiln worker --scheduler grpc://build-farm:8980
  kiln worker --scheduler grpc://10.0.0.5:8980 --concurrency 16 --platform pool=large
  kiln worker --scheduler grpcs://build-farm:8980 --tls-ca ca.crt \\
      --tls-cert worker.crt --tls-key worker.key
`;

/** Splits `grpc://` or `grpcs://` (TLS) from `host:port`, which it checks. */
export function schedulerAddress(url: string): { address: string; tls: boolean } {
  const match = /^(?:(grpcs?):\/\/)?((?:\[[^\]]+\]|[^:/]+):\d{1,5})$/.exec(url);
  if (match === null) {
    throw new Error(`--scheduler "${url}" must look like grpc://HOST:PORT or grpcs://HOST:PORT`);
  }
  return { address: match[2] as string, tls: match[1] === 'grpcs' };
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
      'tls-ca': { type: 'string' },
      'tls-cert': { type: 'string' },
      'tls-key': { type: 'string' },
      'token-file': { type: 'string' },
      'drain-timeout': { type: 'string' },
      'trace-endpoint': { type: 'string' },
      'trace-service-name': { type: 'string' },
      'log-level': { type: 'string' },
      'log-format': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(WORKER_HELP);
    return 0;
  }
  const logFormat = parseLogFormat(values['log-format']);
  if (values.scheduler === undefined) throw new Error('--scheduler grpc://HOST:PORT is required');
  const scheduler = schedulerAddress(values.scheduler);
  const { address } = scheduler;
  const tlsFiles = { ca: values['tls-ca'], cert: values['tls-cert'], key: values['tls-key'] };
  const tls = scheduler.tls || Object.values(tlsFiles).some((file) => file !== undefined);
  const credentials = await channelCredentials(tls ? tlsFiles : undefined);
  const token = readBearerToken(values['token-file']);
  // grpc-js gives an IP address host to tls.connect as the server name, for
  // which Node warns (DEP0123) on every connection; certificates for IP
  // addresses verify all the same.
  if (tls) process.noDeprecation = true;
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
  const drainTimeoutMs = parseDuration(values['drain-timeout'] ?? '60s');
  if (drainTimeoutMs === undefined || drainTimeoutMs < 0) {
    throw new Error(`--drain-timeout "${values['drain-timeout']}" is not a duration like 60s`);
  }
  const actionUsers = values['action-users'] ?? 'auto';
  parseActionUsers(actionUsers);
  const traceEndpoint = values['trace-endpoint'];
  if (traceEndpoint !== undefined && !/^https?:\/\/[^/]/.test(traceEndpoint)) {
    throw new Error(
      `--trace-endpoint "${traceEndpoint}" must be an http:// or https:// URL, e.g. http://127.0.0.1:4318`,
    );
  }
  const log = createLogger({ level: values['log-level'], format: logFormat });
  // The worker serves no /metrics; its failures are in its logs and its exit status.
  installProcessFailureHandlers({ log, component: 'worker' });
  const tracing: Tracing | undefined =
    traceEndpoint === undefined
      ? undefined
      : await startTracing({
          endpoint: traceEndpoint,
          serviceName: values['trace-service-name'] ?? 'kiln-worker',
          sampleRatio: 1,
          log,
        });
  const worker = await startWorker({
    address,
    credentials,
    interceptors: [
      ...(token === undefined ? [] : [bearerTokenInterceptor(token)]),
      ...(tracing === undefined ? [] : [tracingClientInterceptor(tracing)]),
    ],
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
    spans: tracing && workerSpans(tracing, values.name ?? `${hostname()}-${process.pid}`),
  });
  process.stdout.write(
    `Kiln worker ${worker.name} is working for ${tls ? 'grpcs' : 'grpc'}://${address}\n`,
  );
  const signal = await new Promise<NodeJS.Signals>((done) => {
    process.once('SIGINT', done);
    process.once('SIGTERM', done);
  });
  if (signal === 'SIGTERM') await drain(worker, drainTimeoutMs, log);
  await worker.stop();
  await tracing?.shutdown();
  log.flush();
  return 0;
}

/**
 * Lets the running actions finish and their results go out, taking no new
 * ones, until `timeoutMs` passes or another SIGTERM (or a SIGINT) arrives;
 * the caller's `stop` then cancels whatever still runs.
 */
async function drain(worker: RunningWorker, timeoutMs: number, log: Logger): Promise<void> {
  log.info({ timeoutMs }, 'draining: finishing running actions, taking no new ones');
  let timer: NodeJS.Timeout | undefined;
  let stopNow: (() => void) | undefined;
  const cut = new Promise<string>((done) => {
    timer = setTimeout(() => done('drain deadline passed'), timeoutMs);
    stopNow = () => done('second signal');
    process.once('SIGINT', stopNow);
    process.once('SIGTERM', stopNow);
  });
  const ended = await Promise.race([worker.drain().then(() => undefined), cut]);
  clearTimeout(timer);
  if (stopNow !== undefined) {
    process.removeListener('SIGINT', stopNow);
    process.removeListener('SIGTERM', stopNow);
  }
  if (ended === undefined) log.info('drained: every result reported; leaving');
  else log.warn({ reason: ended }, 'shutting down at once, cancelling running actions');
}
