/**
 * Latency kept as plain numbers, and a Prometheus histogram read from them at
 * each scrape. prom-client's own histograms hash their labels on every
 * update, which costs more than a memory store's whole read; a
 * {@link Latency} bound once per series costs a few additions.
 */
import type { Metric } from 'prom-client';

/** One series' latency; counts are per bucket, not cumulative, the last one +Inf. */
export class Latency {
  /** Upper bounds in seconds, ascending. */
  readonly buckets: readonly number[];
  readonly counts: number[];
  sum = 0;
  count = 0;

  constructor(buckets: readonly number[]) {
    this.buckets = buckets;
    this.counts = new Array<number>(buckets.length + 1).fill(0);
  }

  observe(seconds: number): void {
    const buckets = this.buckets;
    let i = 0;
    while (i < buckets.length && seconds > (buckets[i] as number)) i++;
    this.counts[i] = (this.counts[i] as number) + 1;
    this.sum += seconds;
    this.count++;
  }
}

/** A series of a {@link latencyHistogram}: its labels and its counts. */
export interface LatencySeries {
  readonly labels: Record<string, string>;
  readonly latency: Latency;
}

/**
 * A histogram metric for `registry.registerMetric`, read from `series()` at
 * each scrape.
 */
export function latencyHistogram(
  name: string,
  help: string,
  series: () => Iterable<LatencySeries>,
): Metric {
  const get = async () => {
    const values: { metricName: string; labels: Record<string, string | number>; value: number }[] =
      [];
    for (const { labels, latency } of series()) {
      let cumulative = 0;
      for (const [i, count] of latency.counts.entries()) {
        cumulative += count;
        const le = i < latency.buckets.length ? (latency.buckets[i] as number) : '+Inf';
        values.push({ metricName: `${name}_bucket`, labels: { ...labels, le }, value: cumulative });
      }
      values.push({ metricName: `${name}_sum`, labels, value: latency.sum });
      values.push({ metricName: `${name}_count`, labels, value: latency.count });
    }
    return { name, help, type: 'histogram', values, aggregator: 'sum' };
  };
  const metric = { name, help, type: 'histogram', aggregator: 'sum', get, reset() {} };
  return metric as unknown as Metric;
}
