/** The Prometheus scrape endpoint. */
import type { KilnMetrics } from '../observe/metrics.ts';
import type { RouteRegistrar } from './http-server.ts';

/** Mounts `GET /metrics`: every metric of `metrics`, in Prometheus text format 0.0.4. */
export function metricsRoute(metrics: KilnMetrics): RouteRegistrar {
  return (app) => {
    app.get('/metrics', async (_request, reply) => {
      const text = await metrics.text();
      return reply.type(metrics.contentType).send(text);
    });
  };
}
