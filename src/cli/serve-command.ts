/**
 * `kiln serve`: runs the Kiln services in this process until SIGINT/SIGTERM.
 */
import { parseArgs } from 'node:util';
import { describeAuthMode } from '../auth/authenticator.ts';
import { loadConfig } from '../config/load-config.ts';
import { createServer } from '../server/create-server.ts';
import { parseListenAddress } from '../server/grpc-server.ts';
import { ignoreBrokenPipe } from '../util/ignore-broken-pipe.ts';
import { createLogger } from '../util/logger.ts';
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
  -h, --help           show this help

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
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(SERVE_HELP);
    return 0;
  }
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
  const log = createLogger({ level: values['log-level'] });
  const failures = installProcessFailureHandlers({ log, component: 'serve' });
  const server = await createServer({ config, log, processFailures: failures.counts });
  // Freed memory back to the system after bursts (see malloc-trim.ts).
  const trimmer = await startMallocTrimmer({ log });
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
  await new Promise<void>((resolve) => {
    const stop = (signal: string): void => {
      log.info({ signal }, 'shutting down');
      resolve();
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  trimmer?.stop();
  await server.close();
  log.flush();
  return 0;
}
