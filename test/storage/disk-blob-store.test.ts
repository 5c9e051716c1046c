import assert from 'node:assert/strict';
import {
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  rm,
  stat,
  truncate,
  unlink,
  utimes,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { beforeEach, describe, it } from 'node:test';
import { status } from '@grpc/grpc-js';
import { putBuffer, readAll } from '../../src/storage/blob-store.ts';
import { DiskBlobStore, SMALL_BLOB_BYTES } from '../../src/storage/disk-blob-store.ts';
import { randomBlob, runBlobStoreContract, withCode } from './blob-store-contract.ts';
import { fileOf, LARGE, listFiles, storeFixture } from './disk-store-fixture.ts';

runBlobStoreContract('DiskBlobStore', async () => {
  const path = await mkdtemp(join(tmpdir(), 'kiln-disk-contract-'));
  return {
    store: await DiskBlobStore.open({ path, maxBytes: 64 * 1024 * 1024 }),
    cleanup: () => rm(path, { recursive: true, force: true }),
  };
});

runBlobStoreContract('DiskBlobStore with a pack per record', async () => {
  const path = await mkdtemp(join(tmpdir(), 'kiln-disk-contract-'));
  return {
    store: await DiskBlobStore.open({ path, maxBytes: 64 * 1024 * 1024, packBytes: 1 }),
    cleanup: () => rm(path, { recursive: true, force: true }),
  };
});

describe('DiskBlobStore', () => {
  const fixture = storeFixture();
  const { open, stores } = fixture;
  let path = '';
  beforeEach(() => {
    path = fixture.path;
  });

  it('stores large blobs at <path>/blobs/<fn>/<shard>/<hash>_<size>, small ones in a pack', async () => {
    const store = await open();
    const large = await randomBlob(LARGE);
    const small = await randomBlob(123);
    await putBuffer(store, large.digest, large.data);
    await putBuffer(store, small.digest, small.data);
    assert.equal((await stat(fileOf(path, large.digest))).size, LARGE);
    assert.deepEqual(await listFiles(join(path, 'blobs')), [fileOf(path, large.digest)]);
    const packs = await listFiles(join(path, 'packs'));
    assert.equal(packs.length, 1);
    const pack = await readFile(packs[0] as string);
    assert.ok(pack.includes(small.data) && pack.includes(small.digest.key));
    assert.deepEqual(await readdir(join(path, 'tmp')), []);
  });

  it('evicts the least recently used blob, sparing one that was just read', async () => {
    const store = await open({ maxBytes: 300 });
    const [a, b, c, d] = await Promise.all([100, 100, 100, 100].map(randomBlob));
    assert.ok(a && b && c && d);
    await putBuffer(store, a.digest, a.data);
    await putBuffer(store, b.digest, b.data);
    await putBuffer(store, c.digest, c.data);
    await readAll(store, a.digest);
    await putBuffer(store, d.digest, d.data);
    const missing = await store.findMissing([a.digest, b.digest, c.digest, d.digest]);
    assert.deepEqual(
      missing.map((m) => m.key),
      [b.digest.key],
    );
    assert.equal((await store.stats()).evictions, 1);
  });

  it('deletes the file of an evicted large blob', async () => {
    const store = await open({ maxBytes: 2 * LARGE });
    const blobs = await Promise.all([LARGE, LARGE, LARGE].map(randomBlob));
    for (const { data, digest } of blobs) await putBuffer(store, digest, data);
    const [first] = blobs;
    assert.ok(first);
    await assert.rejects(stat(fileOf(path, first.digest)), { code: 'ENOENT' });
    assert.equal((await listFiles(join(path, 'blobs'))).length, 2);
  });

  it('a blob reported present by findMissing is spared from the next eviction', async () => {
    const store = await open({ maxBytes: 300 });
    const [a, b, c, d] = await Promise.all([100, 100, 100, 100].map(randomBlob));
    assert.ok(a && b && c && d);
    for (const blob of [a, b, c]) await putBuffer(store, blob.digest, blob.data);
    assert.deepEqual(await store.findMissing([a.digest]), []);
    await putBuffer(store, d.digest, d.data);
    assert.deepEqual(await store.findMissing([a.digest, b.digest]), [b.digest]);
  });

  it('a reader started before an eviction still reads the whole blob', async () => {
    const store = await open({ maxBytes: 3 * 1024 * 1024 });
    const first = await randomBlob(2 * 1024 * 1024);
    await putBuffer(store, first.digest, first.data);
    const stream = await store.get(first.digest);
    const second = await randomBlob(2 * 1024 * 1024);
    await putBuffer(store, second.digest, second.data);
    assert.deepEqual(await store.findMissing([first.digest]), [first.digest]);
    const chunks: Buffer[] = [];
    for await (const chunk of stream) chunks.push(Buffer.from(chunk));
    assert.deepEqual(Buffer.concat(chunks), first.data);
  });

  it('keeps the bytes on disk within the budget', async () => {
    const store = await open({ maxBytes: 4 * LARGE });
    for (let i = 0; i < 60; i++) {
      const { data, digest } = await randomBlob(i % 10 === 0 ? LARGE : 500 + ((i * 373) % 1500));
      await putBuffer(store, digest, data);
      assert.ok(
        (await store.stats()).bytes <= 4 * LARGE,
        `${(await store.stats()).bytes} bytes indexed`,
      );
    }
    await store.close();
    const files = [
      ...(await listFiles(join(path, 'blobs'))),
      ...(await listFiles(join(path, 'packs'))),
    ];
    const onDisk = (await Promise.all(files.map((f) => stat(f)))).reduce((n, s) => n + s.size, 0);
    // Pack records carry a header and their key (about 90 bytes here) besides the data.
    const overhead = 60 * 100;
    assert.ok(onDisk <= 4 * LARGE + overhead, `${onDisk} bytes on disk`);
    assert.ok((await store.stats()).evictions > 0);
  });

  it('rejects a blob larger than the budget with RESOURCE_EXHAUSTED and keeps no trace', async () => {
    const store = await open({ maxBytes: 1000 });
    const big = await randomBlob(1001);
    await assert.rejects(
      putBuffer(store, big.digest, big.data),
      withCode(status.RESOURCE_EXHAUSTED),
    );
    assert.deepEqual(await store.findMissing([big.digest]), [big.digest]);
    assert.deepEqual(await readdir(join(path, 'tmp')), []);
    assert.deepEqual(await listFiles(join(path, 'blobs')), []);
  });

  it('rejects a commit whose length differs from the digest size', async () => {
    const store = await open();
    const blob = await randomBlob(100);
    await assert.rejects(
      putBuffer(store, blob.digest, blob.data.subarray(0, 99)),
      withCode(status.INVALID_ARGUMENT),
    );
    assert.deepEqual(await store.findMissing([blob.digest]), [blob.digest]);
    assert.deepEqual(await readdir(join(path, 'tmp')), []);
  });

  it('rejects malformed keys with INVALID_ARGUMENT', async () => {
    const store = await open();
    const blob = await randomBlob(1);
    for (const key of ['../../etc/passwd_1', 'sha256/abc_1', `nope/${blob.digest.hash}_1`]) {
      const digest = { ...blob.digest, key };
      await assert.rejects(store.put(digest), withCode(status.INVALID_ARGUMENT));
      await assert.rejects(store.get(digest), withCode(status.INVALID_ARGUMENT));
    }
  });

  it('finds existing blobs with their sizes after a reopen', async () => {
    const first = await open();
    const blobs = await Promise.all([0, 10, 1000, 200_000].map(randomBlob));
    for (const { data, digest } of blobs) await putBuffer(first, digest, data);
    await first.close();
    const second = await open();
    assert.deepEqual((await second.stats()).blobs, 4);
    assert.deepEqual((await second.stats()).bytes, 201_010);
    for (const { data, digest } of blobs) assert.deepEqual(await readAll(second, digest), data);
  });

  it('orders blob files found at open by mtime, oldest evicted first', async () => {
    const first = await open({ maxBytes: 3 * LARGE });
    const [a, b, c, d] = await Promise.all([LARGE, LARGE, LARGE, LARGE].map(randomBlob));
    assert.ok(a && b && c && d);
    for (const blob of [a, b, c]) await putBuffer(first, blob.digest, blob.data);
    await first.close();
    const base = Date.now() / 1000;
    await utimes(fileOf(path, a.digest), base - 100, base - 100);
    await utimes(fileOf(path, b.digest), base - 300, base - 300);
    await utimes(fileOf(path, c.digest), base - 200, base - 200);
    const second = await open({ maxBytes: 3 * LARGE });
    assert.equal(
      Math.round(((await second.stats()).oldestAccessMs ?? 0) / 1000),
      Math.round(base - 300),
    );
    await putBuffer(second, d.digest, d.data);
    assert.deepEqual(
      (await second.findMissing([a.digest, b.digest, c.digest, d.digest])).map((m) => m.key),
      [b.digest.key],
    );
  });

  it('records reads in the file mtime at most once an hour', async () => {
    let now = Date.now();
    const store = await open({ now: () => now });
    const blob = await randomBlob(LARGE);
    await putBuffer(store, blob.digest, blob.data);
    const mtime = async () => (await stat(fileOf(path, blob.digest))).mtimeMs;
    const committed = await mtime();
    now += 30 * 60 * 1000;
    await readAll(store, blob.digest);
    await store.close();
    assert.equal(await mtime(), committed);
    now += 31 * 60 * 1000;
    await readAll(store, blob.digest);
    await store.close();
    assert.equal(Math.round(await mtime()), now);
    assert.equal((await store.stats()).oldestAccessMs, now);
  });

  it('shrinks to a smaller budget at open', async () => {
    const first = await open({ maxBytes: 1000 + 2 * LARGE });
    const blobs = await Promise.all([100, 100, 100, LARGE, LARGE].map(randomBlob));
    for (const { data, digest } of blobs) await putBuffer(first, digest, data);
    await first.close();
    const [, , , older, newer] = blobs;
    assert.ok(older && newer);
    // The pack was last written before either file.
    const base = Date.now() / 1000;
    await utimes(fileOf(path, older.digest), base + 10, base + 10);
    await utimes(fileOf(path, newer.digest), base + 20, base + 20);
    // Packed and file blobs together, oldest first: the three small ones, then the older large one.
    const second = await open({ maxBytes: LARGE + 150 });
    assert.equal((await second.stats()).blobs, 1);
    assert.equal((await listFiles(join(path, 'blobs'))).length, 1);
    const missing = await second.findMissing(blobs.map((b) => b.digest));
    assert.deepEqual(
      missing,
      blobs.slice(0, 4).map((b) => b.digest),
    );
  });

  it('removes leftover uploads from tmp/ at open', async () => {
    await mkdir(join(path, 'tmp', 'sub'), { recursive: true });
    await writeFile(join(path, 'tmp', 'abandoned'), 'partial');
    await writeFile(join(path, 'tmp', 'sub', 'x'), 'partial');
    await open();
    assert.deepEqual(await readdir(join(path, 'tmp')), []);
  });

  it('removes malformed files and directories under blobs/ at open', async () => {
    const first = await open();
    const good = await randomBlob(LARGE);
    await putBuffer(first, good.digest, good.data);
    await first.close();
    const shard = dirname(fileOf(path, good.digest));
    const h = good.digest.hash;
    const strays = [
      join(shard, 'not-a-blob'),
      join(shard, `${h}_${LARGE}.tmp`),
      join(shard, `${h.slice(0, 60)}_${LARGE}`),
      join(shard, `${h}_0${LARGE}`),
      join(path, 'blobs', 'sha256', h[0] === 'f' ? '0a' : 'fa', `${h}_${LARGE}`),
      join(path, 'blobs', 'sha256', 'zz', `${h}_${LARGE}`),
      join(path, 'blobs', 'unknownfn', 'ab', 'x'),
      join(path, 'blobs', 'stray-file'),
    ];
    for (const file of strays) {
      await mkdir(dirname(file), { recursive: true });
      await writeFile(file, good.data);
    }
    const second = await open();
    assert.deepEqual(await listFiles(join(path, 'blobs')), [fileOf(path, good.digest)]);
    assert.equal((await second.stats()).blobs, 1);
    assert.deepEqual(await readAll(second, good.digest), good.data);
  });

  it('removes a blob file whose length differs from the size in its name at open', async () => {
    const first = await open();
    const whole = await randomBlob(LARGE);
    const cut = await randomBlob(LARGE);
    await putBuffer(first, whole.digest, whole.data);
    await putBuffer(first, cut.digest, cut.data);
    await first.close();
    await truncate(fileOf(path, cut.digest), 400);
    const second = await open();
    assert.deepEqual(await second.findMissing([whole.digest, cut.digest]), [cut.digest]);
    await assert.rejects(stat(fileOf(path, cut.digest)), { code: 'ENOENT' });
    assert.equal((await second.stats()).bytes, LARGE);
  });

  it('keeps values of any length when not content-addressed', async () => {
    const first = await open({ contentAddressed: false });
    const key = await randomBlob(10);
    const value = Buffer.from('an action result much longer than ten bytes');
    await putBuffer(first, key.digest, value);
    await first.close();
    const second = await open({ contentAddressed: false });
    assert.deepEqual(await readAll(second, key.digest), value);
    assert.equal((await second.stats()).bytes, value.length);
  });

  it('reports NOT_FOUND and forgets a blob file deleted behind its back', async () => {
    const store = await open();
    const blob = await randomBlob(LARGE);
    await putBuffer(store, blob.digest, blob.data);
    await unlink(fileOf(path, blob.digest));
    await assert.rejects(store.get(blob.digest), withCode(status.NOT_FOUND));
    assert.deepEqual(await store.findMissing([blob.digest]), [blob.digest]);
    assert.deepEqual((await store.stats()).bytes, 0);
  });

  it('counts concurrent uploads of one key once', async () => {
    const store = await open();
    const blob = await randomBlob(1000);
    await Promise.all(Array.from({ length: 5 }, () => putBuffer(store, blob.digest, blob.data)));
    assert.equal((await store.stats()).bytes, 1000);
    assert.equal((await store.stats()).blobs, 1);
  });

  it('commits with fsync enabled', async () => {
    const store = await open({ fsync: true });
    const blob = await randomBlob(1000);
    await putBuffer(store, blob.digest, blob.data);
    assert.deepEqual(await readAll(store, blob.digest), blob.data);
  });

  it('stores many small blobs written at once, each whole, and finds them after a reopen', async () => {
    const store = await open();
    const blobs = await Promise.all(Array.from({ length: 200 }, (_, i) => randomBlob(i * 37)));
    await Promise.all(blobs.map(({ data, digest }) => putBuffer(store, digest, data)));
    for (const { data, digest } of blobs) assert.deepEqual(await readAll(store, digest), data);
    await store.close();
    stores.length = 0;
    const again = await open();
    assert.equal((await again.stats()).blobs, 200);
    for (const { data, digest } of blobs) assert.deepEqual(await readAll(again, digest), data);
    assert.deepEqual(await readdir(join(path, 'tmp')), []);
  });

  it('keeps an upload invisible until commit, and nothing of an aborted one', async () => {
    const store = await open();
    const blob = await randomBlob(1000);
    const writer = await store.put(blob.digest);
    await writer.write(blob.data.subarray(0, 500));
    assert.deepEqual(await store.findMissing([blob.digest]), [blob.digest]);
    await writer.abort();
    await assert.rejects(writer.commit(), withCode(status.FAILED_PRECONDITION));
    assert.deepEqual(await store.findMissing([blob.digest]), [blob.digest]);
    assert.deepEqual(await readdir(join(path, 'tmp')), []);
  });

  it('rejects more bytes than the digest declares as soon as they arrive', async () => {
    const store = await open();
    const blob = await randomBlob(100);
    const writer = await store.put(blob.digest);
    await assert.rejects(
      writer.write(Buffer.concat([blob.data, Buffer.from('x')])),
      withCode(status.INVALID_ARGUMENT),
    );
    assert.deepEqual(await store.findMissing([blob.digest]), [blob.digest]);
  });

  it('keeps a value of unknown length larger than a small blob in a pack', async () => {
    const store = await open({ contentAddressed: false, maxBytes: 4 * SMALL_BLOB_BYTES });
    const key = await randomBlob(10);
    const value = (await randomBlob(SMALL_BLOB_BYTES + 4096)).data;
    const writer = await store.put(key.digest);
    for (let at = 0; at < value.length; at += 10_000) {
      await writer.write(value.subarray(at, at + 10_000));
    }
    assert.equal(writer.written, value.length);
    await writer.commit();
    assert.deepEqual(await readAll(store, key.digest), value);
    assert.deepEqual(await listFiles(join(path, 'blobs')), []);
    await store.close();
    const again = await open({ contentAddressed: false, maxBytes: 4 * SMALL_BLOB_BYTES });
    assert.deepEqual(await readAll(again, key.digest), value);
  });

  it('fails a commit it cannot write with the file system error, and loses nothing else', async () => {
    const store = await open({ packBytes: 1 });
    const kept = await randomBlob(10);
    await putBuffer(store, kept.digest, kept.data);
    // With a pack per record, the packs directory vanishing makes creating the next pack fail.
    await rm(join(path, 'packs'), { recursive: true });
    const lost = await randomBlob(20);
    await assert.rejects(putBuffer(store, lost.digest, lost.data), /disk store: writing blob/);
    assert.deepEqual(await store.findMissing([lost.digest, kept.digest]), [lost.digest]);
    assert.deepEqual(await readAll(store, kept.digest), kept.data);
  });
});
