/**
 * The disk store's index built in the background (`indexInBackground`):
 * open returns before any pack is read, and every answer given while the
 * index is incomplete is the answer a store opened the slow way gives.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import {
  cp,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  rm,
  stat,
  truncate,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { type Digest, makeDigest } from '../../src/digest/digest.ts';
import { digestFunctionByName, SHA256 } from '../../src/digest/digest-function.ts';
import { putBuffer, readAll } from '../../src/storage/blob-store.ts';
import { DiskBlobStore } from '../../src/storage/disk-blob-store.ts';
import { packRecordKeys, recordHeader } from '../../src/storage/pack-format.ts';
import { randomBlob } from './blob-store-contract.ts';
import { LARGE, listFiles, storeFixture } from './disk-store-fixture.ts';

const WRITER = fileURLToPath(new URL('./fixtures/disk-writer.ts', import.meta.url));

/** A blob of `size` bytes numbered `n`, hashed synchronously (fast enough for many). */
function numbered(n: number, size: number): { data: Buffer; digest: Digest } {
  const data = Buffer.alloc(size, n % 251);
  data.writeUInt32LE(n, 0);
  return {
    data,
    digest: makeDigest(SHA256, createHash('sha256').update(data).digest('hex'), size),
  };
}

/** Writes `blobs` into `store`, up to 1000 at a time. */
async function putAll(
  store: DiskBlobStore,
  blobs: readonly { data: Buffer; digest: Digest }[],
): Promise<void> {
  for (let i = 0; i < blobs.length; i += 1000) {
    await Promise.all(
      blobs.slice(i, i + 1000).map(({ digest, data }) => putBuffer(store, digest, data)),
    );
  }
}

describe('DiskBlobStore indexing in the background', () => {
  const fixture = storeFixture();
  const { open } = fixture;

  it('opens before reading the packs, and answers lookups meanwhile as a full index would', async () => {
    const small = Array.from({ length: 2000 }, (_, n) => numbered(n, 100 + (n % 50)));
    const large = await Promise.all([LARGE, LARGE + 1, LARGE + 2].map(randomBlob));
    const first = await open({ maxBytes: 64 * 1024 * 1024 });
    await putAll(first, [...small, ...large]);
    const before = await first.stats();
    await first.close();

    const store = await open({ maxBytes: 64 * 1024 * 1024, indexInBackground: true });
    // Nothing found on disk is indexed yet when open returns.
    assert.equal(store.indexing, true);
    const absent = Array.from({ length: 5 }, (_, n) => numbered(10_000 + n, 100).digest);
    // What is indexed is answered without waiting for the rest.
    const early = numbered(30_000, 90);
    await putBuffer(store, early.digest, early.data);
    assert.deepEqual(await store.findMissing([early.digest]), []);
    assert.deepEqual(await readAll(store, early.digest), early.data);
    assert.equal(store.indexing, true, 'the answers waited for the index');
    const fresh = numbered(20_000, 120);
    const again = small[7] as { data: Buffer; digest: Digest };
    const [missing, read, readLarge] = await Promise.all([
      store.findMissing([...absent, ...small.map((b) => b.digest), ...large.map((b) => b.digest)]),
      readAll(store, (small[1234] as { digest: Digest }).digest),
      readAll(store, (large[1] as { digest: Digest }).digest),
      // Commits while indexing: a new blob, and one already on disk, which must count once.
      putBuffer(store, fresh.digest, fresh.data),
      putBuffer(store, again.digest, again.data),
    ]);
    assert.deepEqual(missing, absent, 'no blob lost, no phantom blob');
    assert.deepEqual(read, small[1234]?.data);
    assert.deepEqual(readLarge, large[1]?.data);
    assert.deepEqual(await readAll(store, fresh.digest), fresh.data);
    await store.whenIndexed();
    assert.equal(store.indexing, false);
    const after = await store.stats();
    assert.equal(after.blobs, before.blobs + 2);
    assert.equal(after.bytes, before.bytes + fresh.data.byteLength + early.data.byteLength);
    await store.close();

    // The copy committed while indexing replaced the one found: a slow open agrees.
    const third = await open({ maxBytes: 64 * 1024 * 1024 });
    assert.equal((await third.stats()).blobs, before.blobs + 2);
    assert.deepEqual(await third.findMissing([again.digest, fresh.digest]), []);
  });

  it('evicts only once indexed, the blobs found before those committed meanwhile', async () => {
    // 100 blobs of 1000 bytes, then a budget of 60,000 bytes at the next open.
    const old = Array.from({ length: 100 }, (_, n) => numbered(n, 1000));
    const first = await open({ maxBytes: 1024 * 1024 });
    await putAll(first, old);
    await first.close();

    const store = await open({ maxBytes: 60_000, indexInBackground: true, packBytes: 64 * 1024 });
    assert.equal(store.indexing, true);
    const fresh = Array.from({ length: 10 }, (_, n) => numbered(1000 + n, 1000));
    await putAll(store, fresh);
    await store.whenIndexed();
    const stats = await store.stats();
    assert.ok(stats.bytes <= 60_000, `${stats.bytes} bytes over the budget`);
    // Everything committed while indexing survives; the oldest found blobs went first.
    assert.deepEqual(await store.findMissing(fresh.map((b) => b.digest)), []);
    const missing = new Set(
      (await store.findMissing(old.map((b) => b.digest))).map((digest) => digest.key),
    );
    const kept = old.filter((b) => !missing.has(b.digest.key));
    assert.equal(stats.blobs, kept.length + fresh.length);
    assert.equal(stats.bytes, (kept.length + fresh.length) * 1000);
    assert.equal(stats.evictions, old.length - kept.length);
    assert.deepEqual(kept, old.slice(old.length - kept.length), 'the oldest were evicted');
  });

  it('drops a torn record found while indexing, and keeps a copy committed meanwhile', async () => {
    const [a, b, c] = [numbered(1, 100), numbered(2, 200), numbered(3, 300)];
    const first = await open();
    for (const blob of [a, b, c]) await putBuffer(first, blob.digest, blob.data);
    await first.close();
    const [pack] = await listFiles(join(fixture.path, 'packs'));
    assert.ok(pack);
    await truncate(pack, (await stat(pack)).size - 10);

    const store = await open({ indexInBackground: true });
    assert.equal(store.indexing, true);
    assert.deepEqual(await store.findMissing([a.digest, b.digest, c.digest]), [c.digest]);
    await putBuffer(store, c.digest, c.data);
    for (const blob of [a, b, c]) assert.deepEqual(await readAll(store, blob.digest), blob.data);
    assert.deepEqual(await store.stats().then((s) => [s.blobs, s.bytes]), [3, 600]);
    await store.close();
    const again = await open();
    assert.deepEqual(await again.findMissing([a.digest, b.digest, c.digest]), []);
  });

  it('fails the lookups it cannot answer when indexing fails, and evicts nothing', async () => {
    const [a, b, c] = [numbered(1, 100), numbered(2, 100), numbered(3, 100)];
    const first = await open();
    await putBuffer(first, a.digest, a.data);
    await first.close();
    // A directory where a pack should be: reading it fails.
    await mkdir(join(fixture.path, 'packs', '0000000000.pack'));
    const store = await open({ maxBytes: 150, indexInBackground: true });
    await putBuffer(store, b.digest, b.data);
    await assert.rejects(store.findMissing([a.digest]), /disk store: indexing .*EISDIR/);
    await assert.rejects(store.get(a.digest), /disk store: indexing/);
    assert.equal(store.indexing, true);
    // What was committed since open is still served, and over the budget nothing is evicted.
    await putBuffer(store, c.digest, c.data);
    assert.deepEqual(await store.findMissing([b.digest, c.digest]), []);
    assert.deepEqual(await readAll(store, b.digest), b.data);
    await store.close();
    await assert.rejects(DiskBlobStore.open({ path: fixture.path, maxBytes: 150 }), /EISDIR/);
  });

  it('opens a pack of 150,000 records', async () => {
    // More than a call's argument list can take: a spread of the records overflowed the stack.
    const blobs = Array.from({ length: 150_000 }, (_, n) => numbered(n, 40));
    // Written in the pack format directly, which is much faster than through a store.
    const parts: Uint8Array[] = [];
    for (const { digest, data } of blobs) {
      const key = Buffer.from(digest.key, 'latin1');
      parts.push(recordHeader(key, data), key, data);
    }
    await mkdir(join(fixture.path, 'packs'));
    await writeFile(join(fixture.path, 'packs', '0000000001.pack'), Buffer.concat(parts));
    const store = await open({ maxBytes: 1024 ** 3, indexInBackground: true });
    assert.equal(store.indexing, true);
    assert.deepEqual(await store.findMissing(blobs.slice(-1000).map((b) => b.digest)), []);
    assert.deepEqual(
      await readAll(store, (blobs[77_777] as { digest: Digest }).digest),
      blobs[77_777]?.data,
    );
    assert.equal((await store.stats()).blobs, blobs.length);
  });
});

/** Every blob on disk after a crash: files by name, pack records by key, intact or not. */
async function candidates(path: string): Promise<Digest[]> {
  const digests: Digest[] = [];
  const keys = (await listFiles(join(path, 'blobs'))).map(
    (file) => `${basename(dirname(dirname(file)))}/${basename(file)}`,
  );
  for (const pack of await readdir(join(path, 'packs'))) {
    keys.push(...packRecordKeys(await readFile(join(path, 'packs', pack))));
  }
  for (const key of keys) {
    const [fnName = '', rest = ''] = key.split('/');
    const [hash = '', size = ''] = rest.split('_');
    const fn = digestFunctionByName(fnName);
    assert.ok(fn !== undefined, key);
    digests.push(makeDigest(fn, hash, Number(size)));
  }
  return digests;
}

/** Runs the writer until it has committed a blob, then SIGKILLs it after `delayMs`. */
async function runAndKill(path: string, delayMs: number, mode: string): Promise<void> {
  const child = spawn(process.execPath, [WRITER, path, String(16 * 1024 * 1024), mode], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = once(child, 'exit');
  const [first] = (await Promise.race([once(child.stdout, 'data'), exited])) as [unknown];
  assert.equal(String(first), 'ready\n', 'writer exited before committing a blob');
  await sleep(delayMs);
  child.kill('SIGKILL');
  const [code, signal] = await exited;
  assert.equal(signal, 'SIGKILL', `writer exited on its own with code ${code}`);
}

it('after a kill -9, also of a store indexing in the background, answers as a full open', async () => {
  const path = await mkdtemp(join(tmpdir(), 'kiln-disk-index-'));
  const reference = `${path}-reference`;
  try {
    for (const [delayMs, mode] of [
      [150, 'foreground'],
      [0, 'background'],
      [60, 'background'],
      [200, 'background'],
    ] as const) {
      await runAndKill(path, delayMs, mode);
      // The same bytes opened the slow way are the reference.
      await rm(reference, { recursive: true, force: true });
      await cp(path, reference, { recursive: true, preserveTimestamps: true });
      const digests = await candidates(path);
      const absent = Array.from({ length: 3 }, (_, n) => numbered(1e9 + n, 10).digest);
      const slow = await DiskBlobStore.open({ path: reference, maxBytes: 16 * 1024 * 1024 });
      const expected = await slow.findMissing([...digests, ...absent]);
      const expectedStats = await slow.stats();
      await slow.close();

      const store = await DiskBlobStore.open({
        path,
        maxBytes: 16 * 1024 * 1024,
        indexInBackground: true,
      });
      try {
        assert.equal(store.indexing, true);
        const missing = await store.findMissing([...digests, ...absent]);
        assert.deepEqual(
          missing.map((d) => d.key).sort(),
          expected.map((d) => d.key).sort(),
          `answers after a kill at ${delayMs} ms (${mode})`,
        );
        const stats = await store.stats();
        assert.equal(stats.blobs, expectedStats.blobs);
        assert.equal(stats.bytes, expectedStats.bytes);
        const lost = new Set(missing.map((d) => d.key));
        for (const digest of digests.filter((d) => !lost.has(d.key)).slice(0, 50)) {
          const data = await readAll(store, digest);
          assert.equal(createHash('sha256').update(data).digest('hex'), digest.hash);
        }
      } finally {
        await store.close();
      }
    }
  } finally {
    await rm(path, { recursive: true, force: true });
    await rm(reference, { recursive: true, force: true });
  }
});
