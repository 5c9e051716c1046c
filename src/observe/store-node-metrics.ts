/**
 * Metrics for every node of the store graph, so that an operator sees each
 * tier on its own (the fast tier's hit rate, the slow tier's latency). The
 * store factory hands each node it builds to {@link StoreNodeMetrics.wrap},
 * which puts a {@link MeteredStoreNode} around it labelled with the node's
 * kind and name: the named store's name, or the config path of an anonymous
 * node. Labels come from the configuration, so their number is bounded.
 *
 * Per call the cost is a clock read or two and a few counter increments on
 * label children bound once per node; nothing is done per digest.
 */
import { status } from '@grpc/grpc-js';
import { Counter, type Registry } from 'prom-client';
import type { Digest } from '../digest/digest.ts';
import { KilnError } from '../errors.ts';
import {
  type BlobStore,
  type BlobWriter,
  type MissingBlobListener,
  type ReadRange,
  type StoreStats,
  statsOf,
} from '../storage/blob-store.ts';
import { countedChunks } from '../storage/metering-blob-store.ts';
import { ReadCachingBlobStore } from '../storage/read-caching-blob-store.ts';
import {
  type NamedS3Meter,
  registerS3RequestMetrics,
  s3RequestMeterOf,
} from '../storage/s3-request-metrics.ts';
import { Latency, type LatencySeries, latencyHistogram } from '../util/latency-histogram.ts';

/** What identifies a node in the metrics. */
export interface StoreNodeLabels {
  /** The named store's name, or the config path of an anonymous node (`storage.cas.readCaching.fast`). */
  readonly store: string;
  /** The node's kind in the configuration (`memory`, `disk`, `readCaching`, ...). */
  readonly kind: string;
}

type Operation = 'get' | 'put' | 'findMissing';
const OPERATIONS: readonly Operation[] = ['get', 'put', 'findMissing'];

/** Seconds: from in-memory lookups (tens of microseconds) to slow remote tiers. */
const BUCKETS = [0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5];

/** One node's counts, updated in place by its {@link MeteredStoreNode}. */
class NodeMeter {
  readonly labels: StoreNodeLabels;
  getHit = 0;
  getMiss = 0;
  findHit = 0;
  findMiss = 0;
  readBytes = 0;
  writtenBytes = 0;
  readonly errors: Record<Operation, number> = { get: 0, put: 0, findMissing: 0 };
  readonly seconds: Record<Operation, Latency> = {
    get: new Latency(BUCKETS),
    put: new Latency(BUCKETS),
    findMissing: new Latency(BUCKETS),
  };

  constructor(labels: StoreNodeLabels) {
    this.labels = labels;
  }
}

/** The per-node metrics of a server; create one, wrap the nodes, then {@link register}. */
export class StoreNodeMetrics {
  readonly #nodes = new Map<string, NodeMeter>();
  /** The s3 nodes' own request counts (kiln_s3_*). */
  readonly #s3: NamedS3Meter[] = [];
  /** The readCaching nodes' write-backs of blobs their slow store lost. */
  readonly #writeBacks: Array<{ store: string; node: ReadCachingBlobStore }> = [];

  /** Wraps one node; the same labels given twice share their series. */
  wrap(store: BlobStore, labels: StoreNodeLabels): BlobStore {
    const key = `${labels.kind}\0${labels.store}`;
    let meter = this.#nodes.get(key);
    if (meter === undefined) {
      meter = new NodeMeter({ store: labels.store, kind: labels.kind });
      this.#nodes.set(key, meter);
    }
    const s3 = s3RequestMeterOf(store);
    if (s3 !== undefined) this.#s3.push({ store: labels.store, meter: s3 });
    if (store instanceof ReadCachingBlobStore) {
      this.#writeBacks.push({ store: labels.store, node: store });
    }
    return new MeteredStoreNode(store, meter);
  }

  /** Adds the metrics to `registry` (once); they are read from the nodes at each scrape. */
  register(registry: Registry): void {
    const nodes = () => this.#nodes.values();
    const registers = [registry];
    new Counter({
      name: 'kiln_store_blobs_total',
      help: 'Blobs asked of each store node, by operation (get, findMissing) and result (hit, miss)',
      labelNames: ['store', 'kind', 'operation', 'result'],
      registers,
      collect() {
        this.reset();
        for (const n of nodes()) {
          const at = (operation: string, result: string) => ({ ...n.labels, operation, result });
          this.inc(at('get', 'hit'), n.getHit);
          this.inc(at('get', 'miss'), n.getMiss);
          this.inc(at('findMissing', 'hit'), n.findHit);
          this.inc(at('findMissing', 'miss'), n.findMiss);
        }
      },
    });
    new Counter({
      name: 'kiln_store_read_bytes_total',
      help: 'Bytes read from each store node',
      labelNames: ['store', 'kind'],
      registers,
      collect() {
        this.reset();
        for (const n of nodes()) this.inc({ ...n.labels }, n.readBytes);
      },
    });
    new Counter({
      name: 'kiln_store_written_bytes_total',
      help: 'Bytes committed to each store node',
      labelNames: ['store', 'kind'],
      registers,
      collect() {
        this.reset();
        for (const n of nodes()) this.inc({ ...n.labels }, n.writtenBytes);
      },
    });
    new Counter({
      name: 'kiln_store_errors_total',
      help: 'Failed operations of each store node (a get of an absent blob is a miss, not an error)',
      labelNames: ['store', 'kind', 'operation'],
      registers,
      collect() {
        this.reset();
        for (const n of nodes()) {
          for (const operation of OPERATIONS) {
            this.inc({ ...n.labels, operation }, n.errors[operation]);
          }
        }
      },
    });
    registry.registerMetric(
      latencyHistogram(LATENCY_NAME, LATENCY_HELP, () => latencySeries(nodes())),
    );
    registerS3RequestMetrics(registry, () => this.#s3);
    const writeBacks = () => this.#writeBacks;
    new Counter({
      name: 'kiln_store_write_backs_total',
      help: 'Blobs a readCaching node copied from its fast tier back into its slow store, which had lost them while the fast tier served them, by outcome (written, failed, dropped)',
      labelNames: ['store', 'outcome'],
      registers,
      collect() {
        this.reset();
        for (const { store, node } of writeBacks()) {
          for (const [outcome, value] of Object.entries(node.writeBack.counters)) {
            this.inc({ store, outcome }, value);
          }
        }
      },
    });
  }
}

const LATENCY_NAME = 'kiln_store_operation_seconds';
const LATENCY_HELP =
  'Latency of each store node: get until the blob is open, put from commit to committed, findMissing whole';

function* latencySeries(nodes: Iterable<NodeMeter>): Iterable<LatencySeries> {
  for (const n of nodes) {
    for (const operation of OPERATIONS) {
      yield { labels: { ...n.labels, operation }, latency: n.seconds[operation] };
    }
  }
}

const since = (start: number): number => (performance.now() - start) / 1000;

/** A store node with its traffic counted; otherwise the node, unchanged. */
export class MeteredStoreNode implements BlobStore {
  readonly #backend: BlobStore;
  readonly #meter: NodeMeter;
  readonly stats: (() => Promise<StoreStats>) | undefined;

  constructor(backend: BlobStore, meter: NodeMeter) {
    this.#backend = backend;
    this.#meter = meter;
    this.stats = statsOf(backend);
  }

  async get(digest: Digest, range?: ReadRange): Promise<AsyncIterable<Uint8Array>> {
    const m = this.#meter;
    const start = performance.now();
    let source: AsyncIterable<Uint8Array>;
    try {
      source = await this.#backend.get(digest, range);
    } catch (err) {
      if (err instanceof KilnError && err.code === status.NOT_FOUND) m.getMiss++;
      else m.errors.get++;
      throw err;
    }
    m.seconds.get.observe(since(start));
    m.getHit++;
    return countedChunks(source, (bytes) => {
      m.readBytes += bytes;
    });
  }

  async put(digest: Digest): Promise<BlobWriter> {
    const m = this.#meter;
    let writer: BlobWriter;
    try {
      writer = await this.#backend.put(digest);
    } catch (err) {
      m.errors.put++;
      throw err;
    }
    return new MeteredWriter(writer, m);
  }

  noteUsed(digests: readonly Digest[], onMissing?: MissingBlobListener): void {
    this.#backend.noteUsed?.(digests, onMissing);
  }

  async findMissing(digests: readonly Digest[]): Promise<Digest[]> {
    const m = this.#meter;
    const start = performance.now();
    let missing: Digest[];
    try {
      missing = await this.#backend.findMissing(digests);
    } catch (err) {
      m.errors.findMissing++;
      throw err;
    }
    m.seconds.findMissing.observe(since(start));
    // Asked digests less the missing ones: a digest asked twice counts twice.
    m.findHit += Math.max(0, digests.length - missing.length);
    m.findMiss += missing.length;
    return missing;
  }

  close(): Promise<void> {
    return this.#backend.close();
  }
}

/** A node's writer, its commits timed and counted. */
class MeteredWriter implements BlobWriter {
  readonly #writer: BlobWriter;
  readonly #meter: NodeMeter;

  constructor(writer: BlobWriter, meter: NodeMeter) {
    this.#writer = writer;
    this.#meter = meter;
  }

  get written(): number {
    return this.#writer.written;
  }

  write(chunk: Uint8Array): Promise<void> {
    return this.#writer.write(chunk);
  }

  async commit(): Promise<void> {
    const m = this.#meter;
    const start = performance.now();
    try {
      await this.#writer.commit();
    } catch (err) {
      m.errors.put++;
      throw err;
    }
    m.seconds.put.observe(since(start));
    m.writtenBytes += this.#writer.written;
  }

  abort(): Promise<void> {
    return this.#writer.abort();
  }
}
