/**
 * Every action cache entry records who wrote it; entries of older Kiln
 * versions still read; a purge removes exactly the entries its writer
 * filter selects, verified against what is stored, and survives a restart
 * through the writer journal.
 */
import assert from 'node:assert/strict';
import { appendFile, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ActionCache } from '../../src/cache/action-cache.ts';
import { msOf, Provenance_Source } from '../../src/cache/provenance.ts';
import { WriterIndex } from '../../src/cache/writer-index.ts';
import { type Digest, digestOf } from '../../src/digest/digest.ts';
import { SHA256 } from '../../src/digest/digest-function.ts';
import { ActionResult } from '../../src/gen/build/bazel/remote/execution/v2/remote_execution.js';
import { type BlobStore, putBuffer, readAll } from '../../src/storage/blob-store.ts';
import { DiskBlobStore } from '../../src/storage/disk-blob-store.ts';
import { MemoryBlobStore } from '../../src/storage/memory-blob-store.ts';

const result = (exitCode = 0) => ActionResult.fromPartial({ exitCode });
const action = (n: number): Promise<Digest> => digestOf(SHA256, Buffer.from(`action ${n}`));

function memoryCache(now = () => Date.now()): ActionCache {
  return new ActionCache({
    store: new MemoryBlobStore({ maxBytes: 64 << 20 }),
    cas: new MemoryBlobStore({ maxBytes: 1 << 20 }),
    now,
  });
}

describe('action cache provenance', () => {
  it('an uploaded entry records principal, invocation, client address and time', async () => {
    const cache = memoryCache(() => 1_765_000_000_123);
    const a = await action(1);
    await cache.put('', a, result(), {
      source: 'upload',
      principal: 'alice',
      toolInvocationId: 'inv-1',
      clientAddress: '127.0.0.1:5000',
    });
    const entry = await cache.lookup('', a);
    assert.ok(entry);
    assert.equal(entry.complete, true);
    assert.equal(entry.provenance?.source, Provenance_Source.UPLOAD);
    assert.equal(entry.provenance?.principal, 'alice');
    assert.equal(entry.provenance?.toolInvocationId, 'inv-1');
    assert.equal(entry.provenance?.clientAddress, '127.0.0.1:5000');
    assert.equal(msOf(entry.provenance?.writtenAt), 1_765_000_000_123);
    // What GetActionResult returns is the ActionResult alone, as before.
    assert.deepEqual(await cache.get('', a), result());
  });

  it('an entry stored as a bare ActionResult (older Kiln) still reads, without provenance', async () => {
    const store = new MemoryBlobStore({ maxBytes: 1 << 20 });
    const cache = new ActionCache({ store, cas: new MemoryBlobStore({ maxBytes: 1 << 20 }) });
    const a = await action(2);
    const old = ActionResult.fromPartial({ exitCode: 0, stdoutRaw: Buffer.from('old') });
    await putBuffer(store, ActionCache.keyOf('', a), ActionResult.encode(old).finish());
    assert.deepEqual(await cache.get('', a), old);
    const entry = await cache.lookup('', a);
    assert.equal(entry?.provenance, undefined);
    assert.deepEqual(entry?.result, old);
    // An empty ActionResult encodes to no bytes at all; it reads as one too.
    const b = await action(3);
    await putBuffer(store, ActionCache.keyOf('', b), new Uint8Array(0));
    assert.deepEqual(await cache.get('', b), ActionResult.create());
  });
});

describe('purge by writer', () => {
  it("removes principal A's entries, keeps B's, and reports the count", async () => {
    const cache = memoryCache();
    const fromA = await Promise.all([10, 11, 12].map(action));
    const fromB = await Promise.all([20, 21].map(action));
    for (const a of fromA) await cache.put('', a, result(), { source: 'upload', principal: 'a' });
    for (const b of fromB) await cache.put('', b, result(), { source: 'upload', principal: 'b' });
    const outcome = await cache.purge({
      filter: { principal: 'a' },
      instancePrefix: '',
      by: 'root',
    });
    assert.equal(outcome.removed, 3);
    assert.deepEqual(
      outcome.entries.map((e) => e.action.key).sort(),
      fromA.map((a) => a.key).sort(),
    );
    for (const a of fromA) assert.equal(await cache.get('', a), undefined);
    for (const a of fromA) assert.equal(await cache.lookup('', a), undefined);
    for (const b of fromB) assert.ok(await cache.get('', b));
    // Nothing of A's is left: a second purge removes nothing.
    assert.equal(
      (await cache.purge({ filter: { principal: 'a' }, instancePrefix: '', by: 'root' })).removed,
      0,
    );
    // A purged key can be written again.
    await cache.put('', fromA[0] as Digest, result(), { source: 'upload', principal: 'b' });
    assert.ok(await cache.get('', fromA[0] as Digest));
  });

  it('a dry run counts without removing', async () => {
    const cache = memoryCache();
    const a = await action(30);
    await cache.put('', a, result(), { source: 'upload', principal: 'a' });
    const outcome = await cache.purge({
      filter: { principal: 'a' },
      instancePrefix: '',
      by: 'root',
      dryRun: true,
    });
    assert.equal(outcome.removed, 1);
    assert.ok(await cache.get('', a));
  });

  it('matches the worker, the worker principal, the time and the instance prefix', async () => {
    let now = 1_000_000;
    const cache = memoryCache(() => now);
    const [early, late, other, elsewhere] = await Promise.all([40, 41, 42, 43].map(action));
    const byBot = {
      source: 'execution',
      principal: 'ci',
      worker: 'bot-7',
      workerPrincipal: 'fleet',
    } as const;
    await cache.put('team/x', early as Digest, result(), byBot);
    now = 2_000_000;
    await cache.put('team/x', late as Digest, result(), byBot);
    await cache.put('team/x', other as Digest, result(), { ...byBot, worker: 'bot-8' });
    await cache.put('teamwork', elsewhere as Digest, result(), byBot);
    const purge = (filter: object, instancePrefix = '', dryRun = true) =>
      cache.purge({ filter, instancePrefix, by: 'root', dryRun });
    assert.equal((await purge({ worker: 'bot-7' })).removed, 3);
    assert.equal((await purge({ worker: 'bot-7', sinceMs: 1_500_000 })).removed, 2);
    assert.equal((await purge({ worker: 'bot-7' }, 'team')).removed, 2); // not "teamwork"
    assert.equal((await purge({ principal: 'fleet' })).removed, 4); // the workers' principal
    assert.equal((await purge({ principal: 'ci', worker: 'bot-8' })).removed, 1);
    assert.equal((await purge({ principal: 'nobody' })).removed, 0);
  });

  it('an entry another principal overwrote is not removed (the stored provenance decides)', async () => {
    const store = new MemoryBlobStore({ maxBytes: 1 << 20 });
    const cas = new MemoryBlobStore({ maxBytes: 1 << 20 });
    const writers = WriterIndex.inMemory();
    const cache = new ActionCache({ store, cas, writers });
    const a = await action(50);
    await cache.put('', a, result(), { source: 'upload', principal: 'a' });
    // B's write lands in the store without passing through this index (another frontend).
    const other = new ActionCache({ store, cas });
    await other.put('', a, result(1), { source: 'upload', principal: 'b' });
    const outcome = await cache.purge({
      filter: { principal: 'a' },
      instancePrefix: '',
      by: 'root',
    });
    assert.equal(outcome.examined, 1);
    assert.equal(outcome.removed, 0);
    assert.equal((await cache.get('', a))?.exitCode, 1);
  });
});

describe('purge racing a write', () => {
  it('a result stored while the purge reads the old one is kept', async () => {
    const backend = new MemoryBlobStore({ maxBytes: 1 << 20 });
    let release: () => void = () => {};
    let reading: () => void = () => {};
    const readStarted = new Promise<void>((resolve) => {
      reading = resolve;
    });
    // A store whose reads wait for the test, so that a write can land in between.
    const store: BlobStore = {
      get: async (digest, range) => {
        // The bytes are read now and handed over later, when the test says.
        const bytes = await readAll(backend, digest);
        reading();
        await new Promise<void>((resolve) => {
          release = resolve;
        });
        return (async function* () {
          yield bytes.subarray(range?.offset ?? 0);
        })();
      },
      put: (digest) => backend.put(digest),
      findMissing: (digests) => backend.findMissing(digests),
      close: () => backend.close(),
    };
    const cas = new MemoryBlobStore({ maxBytes: 1 << 20 });
    const cache = new ActionCache({ store, cas });
    const a = await action(90);
    await cache.put('', a, result(), { source: 'upload', principal: 'a' });
    const purge = cache.purge({ filter: { principal: 'a' }, instancePrefix: '', by: 'root' });
    await readStarted;
    // A rebuild by someone else stores a fresh result while the purge looks at A's.
    await cache.put('', a, result(7), { source: 'upload', principal: 'b' });
    release();
    assert.equal((await purge).removed, 0);
    const reader = new ActionCache({ store: backend, cas });
    assert.equal((await reader.get('', a))?.exitCode, 7);
  });
});

describe('the writer journal', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kiln-ac-writers-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('lets a purge after a restart find entries written before it, past a torn last line', async () => {
    const storePath = join(dir, 'ac');
    const journal = join(dir, 'writers.jsonl');
    const cas = new MemoryBlobStore({ maxBytes: 1 << 20 });
    const open = async () => {
      const store = await DiskBlobStore.open({
        path: storePath,
        maxBytes: 16 << 20,
        contentAddressed: false,
      });
      const writers = WriterIndex.open({ path: journal });
      return { store, writers, cache: new ActionCache({ store, cas, writers }) };
    };
    const first = await open();
    const [a1, a2, b1] = await Promise.all([60, 61, 62].map(action));
    await first.cache.put('', a1 as Digest, result(), { source: 'upload', principal: 'a' });
    await first.cache.put('', a2 as Digest, result(), { source: 'upload', principal: 'a' });
    await first.cache.put('', b1 as Digest, result(), { source: 'upload', principal: 'b' });
    first.writers.close();
    await first.store.close();
    // A crash mid-append leaves half a line.
    await appendFile(journal, '{"i":"","a":"sha256/ab');

    const second = await open();
    assert.equal(second.writers.size, 3);
    const outcome = await second.cache.purge({
      filter: { principal: 'a' },
      instancePrefix: '',
      by: 'root',
    });
    assert.equal(outcome.removed, 2);
    assert.equal(await second.cache.get('', a1 as Digest), undefined);
    assert.ok(await second.cache.get('', b1 as Digest));
    second.writers.close();
    await second.store.close();

    // The purge is in the journal too: the index forgets the removed entries.
    const third = await open();
    assert.equal(third.writers.size, 1);
    assert.match(await readFile(journal, 'utf8'), /"x":1/);
    third.writers.close();
    await third.store.close();
  });

  it('is compacted so that rewriting one entry does not grow it without bound', async () => {
    const journal = join(dir, 'compact.jsonl');
    const writers = WriterIndex.open({ path: journal });
    const a = await action(70);
    const write = {
      instanceName: '',
      action: a,
      principal: 'a',
      worker: '',
      workerPrincipal: '',
      writtenAtMs: 1,
    };
    for (let i = 0; i < 25_000; i++) writers.record(write);
    writers.close();
    const lines = (await readFile(journal, 'utf8')).split('\n').filter((l) => l !== '').length;
    assert.ok(lines <= 10_002, `${lines} lines for one live entry`);
    assert.equal(WriterIndex.open({ path: journal }).size, 1);
  });

  it('forgets the least recently written entries beyond its bound', async () => {
    const writers = WriterIndex.inMemory({ maxEntries: 2 });
    const [x, y, z] = await Promise.all([80, 81, 82].map(action));
    for (const d of [x, y, z]) {
      writers.record({
        instanceName: '',
        action: d as Digest,
        principal: 'a',
        worker: '',
        workerPrincipal: '',
        writtenAtMs: 1,
      });
    }
    assert.deepEqual(
      writers.select({ principal: 'a' }, '').map((w) => w.action.key),
      [(y as Digest).key, (z as Digest).key],
    );
  });
});
