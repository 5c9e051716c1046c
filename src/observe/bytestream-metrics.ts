/**
 * The ByteStream service's resource gauges and counters, read at scrape time
 * from the running gRPC server: uploads kept for resumption and those
 * abandoned, Read streams in progress and those refused at the bound.
 */
import { Counter, Gauge, type Registry } from 'prom-client';

/** What the ByteStream service holds and has shed; see `RunningGrpcServer.byteStreamStats`. */
export interface ByteStreamStats {
  /** Uploads in progress or kept for resumption. */
  readonly pendingUploads: number;
  /** Uploads no stream resumed within the idle timeout, discarded since start. */
  readonly abandonedUploads: number;
  /** Read streams in progress. */
  readonly readStreams: number;
  /** Read streams refused with RESOURCE_EXHAUSTED at the bound, since start. */
  readonly refusedReadStreams: number;
}

/** Registers the ByteStream metrics in `registry`, read from `read` at each scrape. */
export function registerByteStreamMetrics(registry: Registry, read: () => ByteStreamStats): void {
  const registers = [registry];
  const gauge = (name: string, help: string, pick: (s: ByteStreamStats) => number): void => {
    new Gauge({
      name,
      help,
      registers,
      collect() {
        this.set(pick(read()));
      },
    });
  };
  const counter = (name: string, help: string, pick: (s: ByteStreamStats) => number): void => {
    new Counter({
      name,
      help,
      registers,
      collect() {
        // Mirrors the server's own running total: reset, then set by one increment.
        this.reset();
        this.inc(pick(read()));
      },
    });
  };
  gauge(
    'kiln_bytestream_uploads_pending',
    'ByteStream uploads in progress or kept for resumption after their stream broke.',
    (s) => s.pendingUploads,
  );
  counter(
    'kiln_bytestream_uploads_abandoned_total',
    'ByteStream uploads no stream resumed within the idle timeout, discarded with their partial data.',
    (s) => s.abandonedUploads,
  );
  gauge(
    'kiln_bytestream_read_streams',
    'ByteStream.Read streams in progress.',
    (s) => s.readStreams,
  );
  counter(
    'kiln_bytestream_read_streams_refused_total',
    'ByteStream.Read streams refused with RESOURCE_EXHAUSTED because the server had as many as it takes.',
    (s) => s.refusedReadStreams,
  );
}
