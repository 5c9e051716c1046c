/**
 * What per-node store metrics cost: FindMissingBlobs of 1000 digests (half
 * present) and whole-blob reads of 4 KiB blobs, on a memory store alone and
 * wrapped as the store factory wraps each node. Alternates the two in rounds
 * and reports the median time per call of each (and, for reads, of the
 * CAS-wide byte counter of metering-blob-store.ts).
 *
 *   node_modules/.bin/node bench/store-metering-cost.ts
 */
import { randomBytes } from 'node:crypto';
import { Registry } from 'prom-client';
import { type Digest, digestOf } from '../src/digest/digest.ts';
import { resolveDigestFunction } from '../src/digest/digest-function.ts';
import { StoreNodeMetrics } from '../src/observe/store-node-metrics.ts';
import { type BlobStore, putBuffer, readAll } from '../src/storage/blob-store.ts';
import { MemoryBlobStore } from '../src/storage/memory-blob-store.ts';
import { MeteringBlobStore } from '../src/storage/metering-blob-store.ts';

const fn = resolveDigestFunction(0);
const plain = new MemoryBlobStore({ maxBytes: 64 * 1024 * 1024 });
const meters = new StoreNodeMetrics();
meters.register(new Registry());
const wrapped = meters.wrap(plain, { store: 'bench', kind: 'memory' });
// For comparison: the CAS-wide byte counter that was there before (an async generator).
const casMeter = new MeteringBlobStore({ backend: plain, onRead: () => {}, onWrite: () => {} });

const digests: Digest[] = [];
for (let i = 0; i < 1000; i++) {
  const data = randomBytes(4096);
  const digest = await digestOf(fn, data);
  digests.push(digest);
  if (i % 2 === 0) await putBuffer(plain, digest, data);
}
const present = digests.filter((_, i) => i % 2 === 0);

async function timeFind(store: BlobStore, calls: number): Promise<number> {
  const start = process.hrtime.bigint();
  for (let i = 0; i < calls; i++) await store.findMissing(digests);
  return Number(process.hrtime.bigint() - start) / calls / 1000;
}

async function timeRead(store: BlobStore, calls: number): Promise<number> {
  const start = process.hrtime.bigint();
  for (let i = 0; i < calls; i++) await readAll(store, present[i % present.length] as Digest);
  return Number(process.hrtime.bigint() - start) / calls / 1000;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;
const results = { findPlain: [] as number[], findWrapped: [] as number[] };
const reads = { plain: [] as number[], wrapped: [] as number[], cas: [] as number[] };
for (let round = 0; round < 21; round++) {
  results.findPlain.push(await timeFind(plain, 200));
  results.findWrapped.push(await timeFind(wrapped, 200));
  reads.plain.push(await timeRead(plain, 2000));
  reads.wrapped.push(await timeRead(wrapped, 2000));
  reads.cas.push(await timeRead(casMeter, 2000));
}
const report = (what: string, a: number[], b: number[]) => {
  const [p, w] = [median(a), median(b)];
  console.log(
    `${what}: plain ${p.toFixed(2)} µs, wrapped ${w.toFixed(2)} µs (${(w - p).toFixed(2)} µs, ${(((w - p) / p) * 100).toFixed(1)}%)`,
  );
};
report('findMissing x1000 digests', results.findPlain, results.findWrapped);
report('get+read 4 KiB blob', reads.plain, reads.wrapped);
report('get+read 4 KiB blob, CAS byte counter', reads.plain, reads.cas);
