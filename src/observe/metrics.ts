/**
 * Kiln's Prometheus metrics. Each Kiln instance owns its own registry (never
 * prom-client's global one), so several servers in one process, as in the
 * tests, keep separate counts. docs/operations.md lists every metric.
 */
import { type CollectFunction, Counter, collectDefaultMetrics, Gauge, Registry } from 'prom-client';
import type { Scheduler } from '../scheduler/scheduler.ts';
import type { BlobStore, StoreStats } from '../storage/blob-store.ts';
import { Latency, type LatencySeries, latencyHistogram } from '../util/latency-histogram.ts';

/** Where an action cache lookup happened. */
export type LookupSource = 'GetActionResult' | 'Execute';

/** The stages of an execution that `kiln_execution_stage_duration_seconds` measures. */
export type ExecutionStage = 'queued' | 'input_fetch' | 'execution' | 'output_upload' | 'total';

/** How an execution ended, the `result` label of `kiln_executions_total`. */
export type ExecutionResult = 'success' | 'exit_nonzero' | 'timeout' | 'cancelled' | 'error';

/** Options for {@link KilnMetrics}. */
export interface KilnMetricsOptions {
  /** Read at scrape time for queue, execution and worker gauges; absent without execution. */
  readonly scheduler?: Pick<Scheduler, 'stats'>;
  /** The stores whose sizes and evictions are exported, by the `store` label's value. */
  readonly stores?: { readonly cas?: BlobStore; readonly action_cache?: BlobStore };
  /** Also export Node.js process metrics (CPU, memory, event loop, GC). Default true. */
  readonly processMetrics?: boolean;
  /** Clock in ms since the epoch, for the eviction age; default `Date.now`. */
  readonly now?: () => number;
}

/** Latency buckets for RPCs, in seconds: from sub-millisecond lookups to long Execute streams. */
const RPC_BUCKETS = [
  0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300,
];

/** Buckets for execution stages, in seconds: actions run from milliseconds to hours. */
const STAGE_BUCKETS = [
  0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600,
];

/** One RPC series (service, method, code): its count is its latency's. */
interface RpcSeries {
  readonly labels: { readonly service: string; readonly method: string; readonly code: string };
  readonly latency: Latency;
}

/** The metrics of one Kiln instance, and the numbers the web UI's overview reads. */
export class KilnMetrics {
  /** The registry holding every Kiln metric; `/metrics` serves it. */
  readonly registry = new Registry();
  readonly #stores: NonNullable<KilnMetricsOptions['stores']>;
  /**
   * RPC counts and latencies as plain numbers, read at each scrape: prom-client
   * hashes and validates the labels of every update, and every RPC made two.
   */
  readonly #rpcSeries = new Map<string, RpcSeries>();
  /** The per-action counts below too: each is read into its metric at scrape time. */
  #bytesRead = 0;
  #bytesWritten = 0;
  readonly #lookups = new Map<string, { labels: { source: string; result: string }; n: number }>();
  readonly #executions = new Map<string, number>();
  readonly #stageSeconds = new Map<string, Latency>();
  #hits = 0;
  #misses = 0;

  constructor(options: KilnMetricsOptions = {}) {
    const registers = [this.registry];
    const now = options.now ?? Date.now;
    this.#stores = options.stores ?? {};
    if (options.processMetrics ?? true) collectDefaultMetrics({ register: this.registry });

    const rpcSeries = this.#rpcSeries;
    new Counter({
      name: 'kiln_rpc_requests_total',
      help: 'RPCs handled, by service, method and gRPC status code.',
      labelNames: ['service', 'method', 'code'],
      registers,
      collect() {
        this.reset();
        for (const { labels, latency } of rpcSeries.values()) this.inc(labels, latency.count);
      },
    });
    this.registry.registerMetric(
      latencyHistogram(
        'kiln_rpc_duration_seconds',
        'Time from an RPC arriving to its status being sent, by service, method and code.',
        () => rpcSeries.values() as Iterable<LatencySeries>,
      ),
    );
    const read = () => this.#bytesRead;
    new Counter({
      name: 'kiln_cas_read_bytes_total',
      help: 'Bytes read from the CAS (ByteStream reads, batch reads, and reads by the server itself).',
      registers,
      collect() {
        this.reset();
        this.inc(read());
      },
    });
    const written = () => this.#bytesWritten;
    new Counter({
      name: 'kiln_cas_written_bytes_total',
      help: 'Bytes of blobs committed to the CAS.',
      registers,
      collect() {
        this.reset();
        this.inc(written());
      },
    });
    const lookups = this.#lookups;
    new Counter({
      name: 'kiln_action_cache_lookups_total',
      help: 'Action cache lookups by where they happened (GetActionResult, Execute) and result (hit, miss).',
      labelNames: ['source', 'result'],
      registers,
      collect() {
        this.reset();
        for (const { labels, n } of lookups.values()) this.inc(labels, n);
      },
    });
    const executions = this.#executions;
    new Counter({
      name: 'kiln_executions_total',
      help: 'Executions that workers completed, by result.',
      labelNames: ['result'],
      registers,
      collect() {
        this.reset();
        for (const [result, n] of executions) this.inc({ result }, n);
      },
    });
    const stages = this.#stageSeconds;
    this.registry.registerMetric(
      latencyHistogram(
        'kiln_execution_stage_duration_seconds',
        'Duration of execution stages (queued, input_fetch, execution, output_upload, total).',
        function* () {
          for (const [stage, latency] of stages) yield { labels: { stage }, latency };
        },
      ),
    );
    if (options.scheduler !== undefined) registerSchedulerGauges(options.scheduler, registers);
    registerStoreGauges(this.#stores, now, registers);
  }

  /** The `Content-Type` of {@link text}: Prometheus text format 0.0.4. */
  get contentType(): string {
    return this.registry.contentType;
  }

  /** Every metric in Prometheus text format, collecting the scrape-time gauges first. */
  text(): Promise<string> {
    return this.registry.metrics();
  }

  /** One RPC finished; `code` is the gRPC status code's name, e.g. `NOT_FOUND`. */
  rpcFinished(service: string, method: string, code: string, seconds: number): void {
    const key = `${service}.${method}\0${code}`;
    let series = this.#rpcSeries.get(key);
    if (series === undefined) {
      series = { labels: { service, method, code }, latency: new Latency(RPC_BUCKETS) };
      this.#rpcSeries.set(key, series);
    }
    series.latency.observe(seconds);
  }

  /** Bytes served from the CAS. */
  bytesRead(bytes: number): void {
    this.#bytesRead += bytes;
  }

  /** Bytes of a blob committed to the CAS. */
  bytesWritten(bytes: number): void {
    this.#bytesWritten += bytes;
  }

  /** An action cache lookup; callers leave out the repeats they do not want counted twice. */
  cacheLookup(source: LookupSource, hit: boolean): void {
    const result = hit ? 'hit' : 'miss';
    const key = `${source}\0${result}`;
    const counted = this.#lookups.get(key);
    if (counted === undefined) this.#lookups.set(key, { labels: { source, result }, n: 1 });
    else counted.n++;
    if (hit) this.#hits++;
    else this.#misses++;
  }

  /** A completed execution and the durations of the stages that are known. */
  executionCompleted(
    result: ExecutionResult,
    stages: Partial<Record<ExecutionStage, number>>,
  ): void {
    this.#executions.set(result, (this.#executions.get(result) ?? 0) + 1);
    for (const stage in stages) {
      const ms = stages[stage as ExecutionStage];
      if (ms !== undefined && Number.isFinite(ms) && ms >= 0) {
        let latency = this.#stageSeconds.get(stage);
        if (latency === undefined) {
          latency = new Latency(STAGE_BUCKETS);
          this.#stageSeconds.set(stage, latency);
        }
        latency.observe(ms / 1000);
      }
    }
  }

  /** Action cache hits and misses since start, over both sources (for the UI overview). */
  cacheHitRate(): { hits: number; misses: number } {
    return { hits: this.#hits, misses: this.#misses };
  }

  /** The CAS's size and eviction counters, or undefined when its stores cannot tell. */
  async casStats(): Promise<StoreStats | undefined> {
    return this.#stores.cas?.stats?.();
  }
}

function registerSchedulerGauges(scheduler: Pick<Scheduler, 'stats'>, registers: Registry[]): void {
  const stats = oncePerScrape(async () => {
    try {
      return await scheduler.stats();
    } catch {
      return undefined; // Closed: the gauges keep their last values.
    }
  });
  const gauge = (name: string, help: string, read: (s: SchedulerStatsValue) => number): void => {
    const collect: CollectFunction<Gauge> = async function () {
      const s = await stats();
      if (s !== undefined) this.set(read(s));
    };
    new Gauge({ name, help, registers, collect });
  };
  gauge('kiln_scheduler_queued_actions', 'Actions waiting for a worker.', (s) => s.queued);
  gauge(
    'kiln_scheduler_executing_actions',
    'Actions a worker holds a live lease for.',
    (s) => s.executing,
  );
  gauge(
    'kiln_scheduler_active_operations',
    'Operations not yet done (deduplicated Execute calls share one action).',
    (s) => s.activeOperations,
  );
  gauge(
    'kiln_scheduler_completed_operations',
    'Done operations still kept for late readers.',
    (s) => s.completedOperations,
  );
  gauge('kiln_scheduler_workers', 'Connected workers.', (s) => s.workers);
  gauge(
    'kiln_scheduler_worker_capacity',
    'Actions the connected workers can run at once.',
    (s) => s.workerCapacity,
  );
  const byPlatform = (name: string, help: string, pick: 'queued' | 'executing'): void => {
    new Gauge({
      name,
      help,
      labelNames: ['platform'],
      registers,
      async collect() {
        const s = await stats();
        if (s === undefined) return;
        this.reset();
        for (const entry of s.queuedByPlatform) {
          this.set({ platform: platformLabel(entry.platform) }, entry[pick]);
        }
      },
    });
  };
  byPlatform(
    'kiln_scheduler_queued_actions_by_platform',
    'Actions waiting for a worker, by required platform (name=value pairs, comma-separated).',
    'queued',
  );
  byPlatform(
    'kiln_scheduler_executing_actions_by_platform',
    'Actions a worker holds a live lease for, by required platform (name=value pairs, comma-separated).',
    'executing',
  );
  const byPrincipal = (name: string, help: string, pick: 'queued' | 'executing'): void => {
    new Gauge({
      name,
      help,
      labelNames: ['principal'],
      registers,
      async collect() {
        const s = await stats();
        if (s === undefined) return;
        this.reset();
        for (const [principal, value] of principalSamples(s.byPrincipal, pick)) {
          this.set({ principal }, value);
        }
      },
    });
  };
  byPrincipal(
    'kiln_scheduler_queued_actions_by_principal',
    `Actions waiting for a worker, by the principal that submitted them (the busiest ${MAX_PRINCIPAL_LABELS}; the rest summed as "${OTHER_PRINCIPALS}").`,
    'queued',
  );
  byPrincipal(
    'kiln_scheduler_executing_actions_by_principal',
    `Actions a worker holds a live lease for, by the principal that submitted them (the busiest ${MAX_PRINCIPAL_LABELS}; the rest summed as "${OTHER_PRINCIPALS}").`,
    'executing',
  );
}

/** Principals labelled individually; JWT claims could otherwise make label values unbounded. */
const MAX_PRINCIPAL_LABELS = 50;
const OTHER_PRINCIPALS = '(others)';

/** One gauge's samples from the busiest-first per-principal stats, the tail summed. */
function principalSamples(
  entries: SchedulerStatsValue['byPrincipal'],
  pick: 'queued' | 'executing',
): Array<[string, number]> {
  const samples: Array<[string, number]> = entries
    .slice(0, MAX_PRINCIPAL_LABELS)
    .map((e) => [e.principal, e[pick]]);
  if (entries.length > MAX_PRINCIPAL_LABELS) {
    let rest = 0;
    for (const e of entries.slice(MAX_PRINCIPAL_LABELS)) rest += e[pick];
    samples.push([OTHER_PRINCIPALS, rest]);
  }
  return samples;
}

function platformLabel(platform: readonly { name: string; value: string }[]): string {
  return platform.map((p) => `${p.name}=${p.value}`).join(',');
}

type SchedulerStatsValue = Awaited<ReturnType<Scheduler['stats']>>;

function registerStoreGauges(
  stores: NonNullable<KilnMetricsOptions['stores']>,
  now: () => number,
  registers: Registry[],
): void {
  const all = oncePerScrape(async (): Promise<Array<[string, StoreStats]>> => {
    const out: Array<[string, StoreStats]> = [];
    for (const [name, store] of Object.entries(stores)) {
      const stats = await store?.stats?.().catch(() => undefined);
      if (stats !== undefined) out.push([name, stats]);
    }
    return out;
  });
  const collectInto = async (
    metric: Gauge<'store'> | Counter<'store'>,
    read: (s: StoreStats) => number | undefined,
  ): Promise<void> => {
    const collected = await all();
    metric.reset();
    for (const [store, stats] of collected) {
      const value = read(stats);
      if (value === undefined) continue;
      if (metric instanceof Gauge) metric.set({ store }, value);
      else metric.inc({ store }, value);
    }
  };
  const perStore = (
    name: string,
    help: string,
    read: (s: StoreStats) => number | undefined,
    kind: 'gauge' | 'counter' = 'gauge',
  ): void => {
    const labelNames = ['store'] as const;
    if (kind === 'gauge') {
      new Gauge({
        name,
        help,
        labelNames,
        registers,
        collect() {
          return collectInto(this, read);
        },
      });
    } else {
      // A counter mirroring the store's own running total: reset, then set by one increment.
      new Counter({
        name,
        help,
        labelNames,
        registers,
        collect() {
          return collectInto(this, read);
        },
      });
    }
  };
  perStore('kiln_store_bytes', 'Bytes held by the store.', (s) => s.bytes);
  perStore('kiln_store_blobs', 'Blobs held by the store.', (s) => s.blobs);
  perStore('kiln_store_max_bytes', "The store's byte budget.", (s) => s.maxBytes);
  perStore(
    'kiln_store_evictions_total',
    'Blobs evicted to stay within the budget since start.',
    (s) => s.evictions,
    'counter',
  );
  perStore(
    'kiln_store_evicted_bytes_total',
    'Bytes of blobs evicted since start.',
    (s) => s.evictedBytes,
    'counter',
  );
  perStore(
    'kiln_store_oldest_access_age_seconds',
    'Time since the least recently used blob was last used: how far back the store reaches.',
    (s) => (s.oldestAccessMs === undefined ? undefined : (now() - s.oldestAccessMs) / 1000),
  );
}

/**
 * Shares one call of `read` between the gauges of one scrape, so they show
 * one consistent snapshot. prom-client starts every metric's `collect` in the
 * same tick, so the first starts `read` and the others join it; the promise
 * is dropped once settled, and the next scrape reads afresh.
 */
function oncePerScrape<T>(read: () => Promise<T>): () => Promise<T> {
  let pending: Promise<T> | undefined;
  return () => {
    if (pending === undefined) {
      const started = read();
      pending = started;
      const settled = (): void => {
        if (pending === started) pending = undefined;
      };
      started.then(settled, settled);
    }
    return pending;
  };
}
