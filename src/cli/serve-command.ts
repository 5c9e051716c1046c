/**
 * `kiln serve`: runs the Kiln services in this process until SIGTERM (a
 * graceful drain, see `KilnServer.drain`) or SIGINT (at once).
 */
import { flushCompileCache } from 'node:module';
import { parseArgs } from 'node:util';
import { describeAuthMode } from '../auth/authenticator.ts';
import { loadConfig } from '../config/load-config.ts';
import { createServer, type DrainOutcome } from '../server/create-server.ts';
import { parseListenAddress } from '../server/grpc-server.ts';
import { ignoreBrokenPipe } from '../util/ignore-broken-pipe.ts';
import { createLogger, type Logger, parseLogFormat } from '../util/logger.ts';
import { startMallocTrimmer } from '../util/malloc-trim.ts';
import { installProcessFailureHandlers } from '../util/process-failures.ts';

export const SERVE_HELP = `Usage: kiln serve [options]

Runs Kiln: the REAPI storage services (CAS, ByteStream, ActionCache,
Capabilities), remote execution (Execution, Operations, the Remote Worker
API) and an in-process worker. With no options it needs no configuration: it
listens on 127.0.0.1:8980 (gRPC) and 127.0.0.1:8981 (web UI and Prometheus
/metrics) and keeps its data in ./kiln-data.

Options:
  --listen HOST:PORT   gRPC address (default 127.0.0.1:8980; port 0 picks a free port)
  --http-listen HOST:PORT
                       web UI and /metrics address (default: the gRPC host and
                       port + 1; "off" serves no HTTP)
  --data-dir DIR       base directory for stored data (default ./kiln-data)
  --config FILE        YAML or JSON configuration file (see docs/configuration.md)
  --tls-cert FILE      serve gRPC and HTTP over TLS with this PEM certificate
                       (with --tls-key); re-read when the file changes
  --tls-key FILE       the certificate's PEM private key
  --tls-client-ca FILE mutual TLS: refuse clients without a certificate signed
                       by a CA in this PEM file
  --log-level LEVEL    trace, debug, info, warn, error (default info, or KILN_LOG_LEVEL)
  --log-format FORMAT  json or pretty (default: pretty when stderr is a terminal,
                       JSON otherwise)
  -h, --help           show this help

SIGTERM drains: health checks and /readyz turn NOT_SERVING, new Execute calls
get UNAVAILABLE (clients retry elsewhere), workers take no new actions, and
running actions finish (up to server.drainTimeout, 60s by default) while the
storage services keep serving; then Kiln exits. A second SIGTERM, or SIGINT
(Ctrl-C), stops at once, cancelling running actions.

Examples:
  kiln serve
  kiln serve --listen 0.0.0.0:8980 --data-dir /var/lib/kiln
  kiln serve --config /etc/kiln/kiln.yaml
  kiln serve --listen 0.0.0.0:8980 --tls-cert server.crt --tls-key server.key

Point Bazel at it with:
  bazel build --remote_executor=grpc://127.0.0.1:8980 //...   (remote execution)
  bazel build --remote_cache=grpc://127.0.0.1:8980 //...      (remote cache only)
`;

/** Runs `kiln serve` with the arguments after `serve`. Resolves when the server has stopped. */
export async function serveCommand(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      listen: { type: 'string' },
      'http-listen': { type: 'string' },
      'data-dir': { type: 'string' },
      config: { type: 'string' },
      'tls-cert': { type: 'string' },
      'tls-key': { type: 'string' },
      'tls-client-ca': { type: 'string' },
      'log-level': { type: 'string' },
      'log-format': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(SERVE_HELP);
    return 0;
  }
  const logFormat = parseLogFormat(values['log-format']);
  const config = await loadConfig({
    file: values.config,
    overrides: {
      listen: values.listen,
      httpListen: values['http-listen'],
      dataDir: values['data-dir'],
      tlsCert: values['tls-cert'],
      tlsKey: values['tls-key'],
      tlsClientCa: values['tls-client-ca'],
    },
  });
  ignoreBrokenPipe(process.stdout);
  ignoreBrokenPipe(process.stderr);
  const log = createLogger({ level: values['log-level'], format: logFormat });
  const failures = installProcessFailureHandlers({ log, component: 'serve' });
  const server = await createServer({ config, log, processFailures: failures.counts });
  // Listened for before the "serving" line: whoever reads it may stop Kiln at
  // once, and an unhandled SIGTERM would end it without draining or logging.
  const stopSignal = new Promise<NodeJS.Signals>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  const [grpc, http] = server.tls ? ['grpcs', 'https'] : ['grpc', 'http'];
  const mutual = config.server.tls.clientCa === undefined ? '' : ', client certificates required';
  // One write, so that whoever reads the "serving" line has the HTTP address too.
  process.stdout.write(
    `Kiln is serving on ${grpc}://${server.grpcAddress} (data in ${config.server.dataDir}${mutual})\n` +
      (server.httpAddress === undefined
        ? ''
        : `Web UI and metrics on ${http}://${server.httpAddress}/\n`) +
      `${describeAuthMode(config.auth, parseListenAddress(config.server.listen).host)}\n`,
  );
  // Node writes the compile cache (see bin/kiln.mjs) only at a clean exit; a
  // server that is killed, or crashes, would leave the next start compiling
  // every module again (0.4 s more CPU before it listens, measured on 2 cores).
  flushCompileCache();
  // After the line, which it need not delay: freed memory back to the system after bursts.
  const trimmer = await startMallocTrimmer({ log });
  const signal = await stopSignal;
  if (signal === 'SIGTERM') {
    const timeoutMs = config.server.drainTimeoutMs;
    log.info({ signal, timeoutMs }, 'draining: finishing running actions, taking no new ones');
    // Another SIGTERM (or a SIGINT) during the drain stops at once.
    const again = new AbortController();
    const stopNow = (): void => again.abort();
    process.once('SIGINT', stopNow);
    process.once('SIGTERM', stopNow);
    const outcome = await server.drain({ timeoutMs, signal: again.signal });
    logDrainOutcome(log, outcome, timeoutMs);
  } else {
    log.info({ signal }, 'shutting down');
  }
  trimmer?.stop();
  await server.close();
  log.flush();
  return 0;
}

/** Says how the drain ended. */
function logDrainOutcome(log: Logger, outcome: DrainOutcome, timeoutMs: number): void {
  if (outcome === 'drained') log.info('drained: no action runs; shutting down');
  else if (outcome === 'deadline') {
    log.warn({ timeoutMs }, 'drain deadline passed; cancelling the actions still running');
  } else log.warn('second signal: shutting down at once, cancelling running actions');
}
