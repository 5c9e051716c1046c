/**
 * The health service's gauges and counter, read at scrape time from the
 * running gRPC server: whether it answers SERVING, the health Watch streams
 * open and those refused at their bounds.
 */
import { Counter, Gauge, type Registry } from 'prom-client';

/** What the health service reports; see `RunningGrpcServer.healthStats`. */
export interface HealthStats {
  /** Whether health checks answer SERVING (false once shutdown began). */
  readonly serving: boolean;
  /** Health Watch streams open. */
  readonly watchStreams: number;
  /** Health Watch streams refused with RESOURCE_EXHAUSTED at a bound, since start. */
  readonly refusedWatchStreams: number;
}

/** Registers the health metrics in `registry`, read from `read` at each scrape. */
export function registerHealthMetrics(registry: Registry, read: () => HealthStats): void {
  const registers = [registry];
  new Gauge({
    name: 'kiln_health_serving',
    help: '1 while gRPC health checks answer SERVING, 0 once shutdown began.',
    registers,
    collect() {
      this.set(read().serving ? 1 : 0);
    },
  });
  new Gauge({
    name: 'kiln_health_watch_streams',
    help: 'gRPC health Watch streams open.',
    registers,
    collect() {
      this.set(read().watchStreams);
    },
  });
  new Counter({
    name: 'kiln_health_watch_streams_refused_total',
    help: 'gRPC health Watch streams refused with RESOURCE_EXHAUSTED at the per-connection or total bound.',
    registers,
    collect() {
      // Mirrors the server's own running total: reset, then set by one increment.
      this.reset();
      this.inc(read().refusedWatchStreams);
    },
  });
}
