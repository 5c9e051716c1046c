/**
 * `kiln health`: asks a server whether it is serving (gRPC health checking,
 * grpc.health.v1.Health/Check) and exits 0 only when it is, for container
 * probes (Docker HEALTHCHECK, Kubernetes exec probes) and scripts.
 */
import { credentials, status } from '@grpc/grpc-js';
import { parseDuration } from '../config/values.ts';
import {
  type HealthCheckResponse,
  HealthClient,
  healthCheckResponse_ServingStatusToJSON,
  HealthCheckResponse_ServingStatus as ServingStatus,
} from '../gen/grpc/health/v1/health.js';
import { UsageError } from './cli-errors.ts';
import { runCommand } from './cli-runner.ts';

const HEALTH_HELP = `Usage: kiln health [SERVICE] [options]

Asks the server whether it is serving (the gRPC health checking protocol)
and prints SERVING or NOT_SERVING. Exits 0 only when SERVING: 1 when the
server is not serving (still loading its disk index, or shutting down),
does not serve SERVICE, or cannot be reached. No token is needed.

SERVICE is a fully qualified gRPC service name such as
build.bazel.remote.execution.v2.Execution; without it, the whole server.

Options:
  --timeout DURATION   give up after this long: seconds (5) or with a unit
                       (500ms, 2m); default 5 s

Examples:
  kiln health
  kiln health --server grpcs://kiln.example.com:443
  kiln health build.bazel.remote.execution.v2.Execution
  HEALTHCHECK CMD ["kiln", "health", "--server", "127.0.0.1:8980"]   (Dockerfile)`;

const DEFAULT_TIMEOUT_MS = 5000;

/** Runs `kiln health` with the arguments after `health`. */
export function healthCommand(args: string[]): Promise<number> {
  return runCommand(
    args,
    {
      name: 'health',
      help: HEALTH_HELP,
      options: { timeout: { type: 'string' } },
      positionals: ['SERVICE?'],
    },
    async (ctx) => {
      const timeoutMs = timeoutOf(ctx.args.string('timeout'));
      const service = ctx.args.positional(0);
      const conn = await ctx.connect();
      // On the connection's channel, TLS and all (the credentials given here
      // go unused); health checks need no headers.
      const health = new HealthClient(ctx.settings.address, credentials.createInsecure(), {
        channelOverride: conn.capabilities.getChannel(),
      });
      const response = await conn.unary<HealthCheckResponse>(
        'Check',
        (md, opts, cb) => health.check({ service }, md, opts, cb),
        timeoutMs,
      );
      const name = healthCheckResponse_ServingStatusToJSON(response.status);
      ctx.out.result({ service, status: name }, () => name);
      return response.status === ServingStatus.SERVING ? status.OK : 1;
    },
  );
}

function timeoutOf(text: string | undefined): number {
  if (text === undefined) return DEFAULT_TIMEOUT_MS;
  const ms = parseDuration(/^\s*[\d.]+\s*$/.test(text) ? `${text}s` : text);
  if (ms === undefined || ms <= 0) {
    throw new UsageError(`--timeout "${text}" is not a duration like 5, 5s or 500ms`);
  }
  return ms;
}
