/**
 * `/healthz` and `/readyz`: liveness and readiness for container probes and
 * load balancers. Both answer anyone, without credentials (a kubelet has
 * none), say nothing but the phase of the process, and cost no store or
 * scheduler call. Readiness is the gRPC health status's (one source of truth):
 * not ready while starting (disk stores loading their index) nor once
 * shutdown has begun.
 */
import type { ServingPhase } from '../services/health-service.ts';
import type { RouteRegistrar } from './http-server.ts';

/** The probe paths, which the access layer lets through unchecked. */
export const PROBE_PATHS: ReadonlySet<string> = new Set(['/healthz', '/readyz']);

const NOT_READY: Readonly<Record<Exclude<ServingPhase, 'serving'>, string>> = {
  starting: 'not ready: starting (disk stores are loading their index)\n',
  draining: 'not ready: shutting down\n',
};

/**
 * Mounts the probes. `phase` is read on every `/readyz`; `/healthz` answers
 * 200 whenever the process can answer at all, draining included, so that a
 * liveness probe never kills a process that is finishing its work.
 */
export function probeRoutes(phase: () => ServingPhase): RouteRegistrar {
  return (app) => {
    app.get('/healthz', async (_request, reply) =>
      reply.header('cache-control', 'no-store').type('text/plain; charset=utf-8').send('ok\n'),
    );
    app.get('/readyz', async (_request, reply) => {
      const now = phase();
      return reply
        .code(now === 'serving' ? 200 : 503)
        .header('cache-control', 'no-store')
        .type('text/plain; charset=utf-8')
        .send(now === 'serving' ? 'ready\n' : NOT_READY[now]);
    });
  };
}
