import assert from 'node:assert/strict';
import { mkdir, readdir, readFile, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { beforeEach, describe, it } from 'node:test';
import { putBuffer, readAll } from '../../src/storage/blob-store.ts';
import { randomBlob } from './blob-store-contract.ts';
import { fileOf, listFiles, storeFixture } from './disk-store-fixture.ts';

describe('DiskBlobStore packs', () => {
  const fixture = storeFixture();
  const { open, stores } = fixture;
  let path = '';
  beforeEach(() => {
    path = fixture.path;
  });
  const packFiles = async () => (await listFiles(join(path, 'packs'))).sort();
  /** Three small blobs written to a store that is then closed, and the one pack holding them. */
  const threeInAPack = async () => {
    const store = await open();
    const [a, b, c] = await Promise.all([100, 200, 300].map(randomBlob));
    assert.ok(a && b && c);
    for (const blob of [a, b, c]) await putBuffer(store, blob.digest, blob.data);
    await store.close();
    const [pack] = await packFiles();
    assert.ok(pack);
    return { a, b, c, pack };
  };

  it('drops a record torn at the end of a pack at open, cuts it off, and keeps writing', async () => {
    const { a, b, c, pack } = await threeInAPack();
    const whole = (await stat(pack)).size;
    await truncate(pack, whole - 10);
    const second = await open();
    assert.deepEqual(await second.findMissing([a.digest, b.digest, c.digest]), [c.digest]);
    assert.deepEqual(await readAll(second, b.digest), b.data);
    assert.equal((await stat(pack)).size, whole - 10 - (300 + 16 + c.digest.key.length - 10));
    await putBuffer(second, c.digest, c.data);
    await second.close();
    const third = await open();
    for (const blob of [a, b, c]) assert.deepEqual(await readAll(third, blob.digest), blob.data);
  });

  it('drops a damaged record at open and keeps the intact ones after it', async () => {
    const { a, b, c, pack } = await threeInAPack();
    const bytes = await readFile(pack);
    const at = bytes.indexOf(b.data);
    bytes[at + 50] = (bytes[at + 50] as number) ^ 0xff;
    await writeFile(pack, bytes);
    const second = await open();
    assert.deepEqual(await second.findMissing([a.digest, b.digest, c.digest]), [b.digest]);
    assert.deepEqual(await readAll(second, a.digest), a.data);
    assert.deepEqual(await readAll(second, c.digest), c.data);
  });

  it('gives back the space of evicted blobs: deletes dead packs, compacts partly dead ones', async () => {
    const store = await open({ maxBytes: 12_000, packBytes: 2048 });
    const blobs = await Promise.all(Array.from({ length: 50 }, () => randomBlob(200)));
    for (const { data, digest } of blobs.slice(0, 40)) await putBuffer(store, digest, data);
    const firstPack = (await packFiles())[0];
    // Every fourth of the first 40 is used again; the others age out.
    const kept = blobs.slice(0, 40).filter((_, i) => i % 4 === 0);
    for (const { digest } of kept) await readAll(store, digest);
    for (const { data, digest } of blobs.slice(40)) await putBuffer(store, digest, data);
    const more = await Promise.all(Array.from({ length: 40 }, () => randomBlob(200)));
    for (const { data, digest } of more) {
      await putBuffer(store, digest, data);
      for (const { digest: k } of kept) await store.findMissing([k]);
    }
    await store.close();
    assert.ok(!(await packFiles()).includes(firstPack as string), 'the oldest pack is gone');
    const live = (await store.stats()).blobs;
    const onDisk = (await Promise.all((await packFiles()).map((f) => stat(f)))).reduce(
      (n, s) => n + s.size,
      0,
    );
    // Records of 200 bytes take about 300 with their header and key.
    assert.ok(onDisk <= 12_000 * 1.5 + 2048, `${onDisk} bytes in packs for ${live} blobs`);
    const again = await open({ maxBytes: 12_000, packBytes: 2048 });
    assert.deepEqual(await again.findMissing(kept.map((b) => b.digest)), []);
    for (const { data, digest } of kept) assert.deepEqual(await readAll(again, digest), data);
    // Evicted records in packs not compacted yet come back (they are whole), within the budget.
    assert.ok((await again.stats()).blobs >= live);
    assert.ok((await again.stats()).bytes <= 12_000);
  });

  it('prefers a packed value over a file an older version wrote for the same key', async () => {
    const key = await randomBlob(10);
    const old = Buffer.from('an older action result');
    const fresh = Buffer.from('a newer action result');
    const legacy = fileOf(path, key.digest);
    await mkdir(dirname(legacy), { recursive: true });
    await writeFile(legacy, old);
    const first = await open({ contentAddressed: false });
    assert.deepEqual(await readAll(first, key.digest), old);
    await putBuffer(first, key.digest, fresh);
    assert.deepEqual(await readAll(first, key.digest), fresh);
    await first.close();
    await assert.rejects(stat(legacy), { code: 'ENOENT' });
    // As if the process had died between the append and the unlink.
    await writeFile(legacy, old);
    const second = await open({ contentAddressed: false });
    assert.deepEqual(await readAll(second, key.digest), fresh);
    assert.equal((await second.stats()).bytes, fresh.length);
    await second.close();
    await assert.rejects(stat(legacy), { code: 'ENOENT' });
  });

  it('copies a packed blob read an hour after its write forward, so a restart sees it as recent', async () => {
    const [a, b] = await Promise.all([100, 100].map(randomBlob));
    assert.ok(a && b);
    /** Writes a then b, reads a `minutes` later, and reopens with room for one blob. */
    const missingAfterReadingA = async (minutes: number) => {
      stores.length = 0;
      await rm(path, { recursive: true, force: true });
      let now = Date.now();
      const writer = await open({ now: () => now });
      await putBuffer(writer, a.digest, a.data);
      await putBuffer(writer, b.digest, b.data);
      now += minutes * 60 * 1000;
      await readAll(writer, a.digest);
      await writer.close();
      const reopened = await open({ maxBytes: 150 });
      return { reopened, missing: await reopened.findMissing([a.digest, b.digest]) };
    };
    // Read within the hour: not persisted, so a, written first, is the oldest after a restart.
    const early = await missingAfterReadingA(30);
    assert.deepEqual(early.missing, [a.digest]);
    await early.reopened.close();
    // Read after an hour: copied forward, so b is now the oldest, and a is intact.
    const late = await missingAfterReadingA(61);
    assert.deepEqual(late.missing, [b.digest]);
    assert.deepEqual(await readAll(late.reopened, a.digest), a.data);
  });

  it('removes files in packs/ that are not packs at open', async () => {
    const first = await open();
    const blob = await randomBlob(100);
    await putBuffer(first, blob.digest, blob.data);
    await first.close();
    await writeFile(join(path, 'packs', 'junk'), 'x');
    await mkdir(join(path, 'packs', '0000000001.pack.d'));
    const second = await open();
    assert.equal((await readdir(join(path, 'packs'))).length, 1);
    assert.deepEqual(await readAll(second, blob.digest), blob.data);
  });
});
