/**
 * Run as a program by test/observe/tracing.test.ts: starts a Kiln from the
 * configuration text in argv[2], makes one call, stops it, and prints (as a
 * JSON array) the OpenTelemetry packages this process loaded, the API
 * package aside (prom-client loads it).
 */
import { registerHooks } from 'node:module';

const loaded = new Set<string>();
registerHooks({
  load(url, context, next) {
    const match = /node_modules\/(@opentelemetry\/[^/]+)\//.exec(url);
    if (match?.[1] !== undefined && match[1] !== '@opentelemetry/api') loaded.add(match[1]);
    return next(url, context);
  },
});

const { parseConfigText } = await import('../../src/config/load-config.ts');
const { createServer } = await import('../../src/server/create-server.ts');
const { silentLogger } = await import('../../src/util/logger.ts');
const { connectClients, call } = await import('./grpc-clients.ts');

const server = await createServer({
  config: parseConfigText(process.argv[2] ?? '', 'probe.yaml'),
  log: silentLogger(),
});
const clients = connectClients(server.grpcAddress);
await call(clients.capabilities, 'getCapabilities', { instanceName: '' });
clients.close();
await server.close();
process.stdout.write(JSON.stringify([...loaded].sort()));
