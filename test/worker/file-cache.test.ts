import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CasClient } from '../../src/client/cas-client.ts';
import { MissingBlobsError } from '../../src/client/missing-blobs-error.ts';
import { type Digest, digestOf } from '../../src/digest/digest.ts';
import { SHA256 } from '../../src/digest/digest-function.ts';
import { FileCache } from '../../src/worker/file-cache.ts';
import { randomBlob } from '../support/blobs.ts';
import { startTestServer, type TestServer } from '../support/test-server.ts';
import { CountingBlobStore } from './counting-blob-store.ts';

describe('FileCache', () => {
  let t: TestServer;
  let counting: CountingBlobStore;
  let cas: CasClient;
  let root: string;
  let n = 0;

  before(async () => {
    counting = new CountingBlobStore();
    t = await startTestServer({ casBackend: counting });
    cas = new CasClient({ address: t.server.address });
    root = await mkdtemp(join(tmpdir(), 'kiln-file-cache-'));
  });
  after(async () => {
    cas.close();
    await t.stop();
    await rm(root, { recursive: true, force: true });
  });

  /** A fresh cache and output directory per test. */
  async function setup(maxBytes: number, batchBlobBytes?: number) {
    const dir = join(root, `case-${n++}`);
    const out = join(dir, 'out');
    await mkdir(out, { recursive: true });
    const cache = await FileCache.open({
      directory: join(dir, 'cache'),
      maxBytes,
      cas,
      batchBlobBytes,
    });
    return { cache, out };
  }

  async function upload(size: number): Promise<{ digest: Digest; data: Buffer }> {
    const data = randomBlob(size);
    const digest = await digestOf(SHA256, data);
    await cas.uploadBlobs([{ digest, data }]);
    return { digest, data };
  }

  it('downloads a blob once however many concurrent requests ask for it', async () => {
    const { cache, out } = await setup(1024 * 1024);
    const small = await upload(1000);
    const large = await upload(200_000);
    await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        Promise.all([
          cache.link(small.digest, false, join(out, `small-${i}`)),
          cache.link(large.digest, false, join(out, `large-${i}`)),
        ]),
      ),
    );
    // Large blobs stream with ByteStream.Read; small ones ride in batch reads.
    assert.equal(counting.readsOf(small.digest), 1);
    assert.equal(counting.readsOf(large.digest), 1);
    for (let i = 0; i < 20; i++) {
      assert.ok((await readFile(join(out, `small-${i}`))).equals(small.data));
      assert.ok((await readFile(join(out, `large-${i}`))).equals(large.data));
    }
    assert.equal(cache.stats.fetches, 2);
    assert.equal(cache.stats.hits, 38);
  });

  it('hardlinks every path to one read-only cached inode', async () => {
    const { cache, out } = await setup(1024 * 1024);
    const blob = await upload(500);
    await cache.link(blob.digest, false, join(out, 'a'));
    await cache.link(blob.digest, false, join(out, 'b'));
    const [a, b] = await Promise.all([stat(join(out, 'a')), stat(join(out, 'b'))]);
    assert.equal(a.ino, b.ino);
    assert.equal(a.nlink, 3);
    assert.equal(a.mode & 0o777, 0o444);
  });

  it('keeps one copy per mode, the second made locally without another download', async () => {
    const { cache, out } = await setup(1024 * 1024);
    const blob = await upload(700);
    await cache.link(blob.digest, false, join(out, 'plain'));
    await cache.link(blob.digest, true, join(out, 'tool'));
    const [plain, tool] = await Promise.all([stat(join(out, 'plain')), stat(join(out, 'tool'))]);
    assert.equal(plain.mode & 0o777, 0o444);
    assert.equal(tool.mode & 0o777, 0o555);
    assert.notEqual(plain.ino, tool.ino);
    assert.equal(counting.readsOf(blob.digest), 1);
    assert.equal(cache.stats.files, 2);
  });

  it('evicts the least recently used entries to stay within its byte budget', async () => {
    const { cache, out } = await setup(250);
    const [a, b, c] = [await upload(100), await upload(100), await upload(100)];
    await cache.link(a.digest, false, join(out, 'a1'));
    await cache.link(b.digest, false, join(out, 'b1'));
    await cache.link(a.digest, false, join(out, 'a2')); // a is now more recent than b
    await cache.link(c.digest, false, join(out, 'c1')); // over budget: b goes
    assert.equal(cache.stats.bytes, 200);
    assert.equal(cache.stats.evictions, 1);
    await cache.link(a.digest, false, join(out, 'a3'));
    assert.equal(counting.readsOf(a.digest), 1, 'a stayed cached');
    await cache.link(b.digest, false, join(out, 'b2'));
    assert.equal(counting.readsOf(b.digest), 2, 'b was evicted and fetched again');
    assert.ok((await readFile(join(out, 'b2'))).equals(b.data));
    await cache.close();
  });

  it('never evicts entries that a link in progress needs, even over budget', async () => {
    const { cache, out } = await setup(100);
    const blobs = [await upload(100), await upload(100), await upload(100)];
    await cache.linkAll(
      blobs.map((b, i) => ({ digest: b.digest, executable: false, path: join(out, `f${i}`) })),
    );
    for (const [i, b] of blobs.entries()) {
      assert.ok((await readFile(join(out, `f${i}`))).equals(b.data));
    }
    assert.ok(cache.stats.bytes <= 100, 'back within budget once the links are done');
  });

  it('names every absent blob and still links the present ones', async () => {
    const { cache, out } = await setup(1024 * 1024, 1000);
    const present = await upload(10);
    const lateData = randomBlob(10);
    const absentSmall = await digestOf(SHA256, lateData);
    const absentLarge = await digestOf(SHA256, randomBlob(5000));
    await assert.rejects(
      cache.linkAll([
        { digest: present.digest, executable: false, path: join(out, 'p') },
        { digest: absentSmall, executable: false, path: join(out, 's') },
        { digest: absentLarge, executable: true, path: join(out, 'l') },
      ]),
      (err: unknown) => {
        assert.ok(err instanceof MissingBlobsError);
        assert.deepEqual(
          err.missing.map((d) => d.key).sort(),
          [absentSmall.key, absentLarge.key].sort(),
        );
        return true;
      },
    );
    assert.ok((await readFile(join(out, 'p'))).equals(present.data));
    assert.equal(cache.stats.files, 1);
    // A failed entry is forgotten, so a later request fetches it once it exists.
    await cas.uploadBlobs([{ digest: absentSmall, data: lateData }]);
    await cache.link(absentSmall, false, join(out, 's'));
    assert.ok((await readFile(join(out, 's'))).equals(lateData));
  });

  it('removes what an earlier process left in its directory, and only that', async () => {
    const dir = join(root, `case-${n++}`);
    await mkdir(join(dir, 'ab'), { recursive: true });
    await writeFile(join(dir, 'ab', 'stale'), 'x');
    await writeFile(join(dir, 'keep.txt'), 'mine');
    await FileCache.open({ directory: dir, maxBytes: 1000, cas });
    assert.deepEqual(await readdir(join(dir, 'ab')), []);
    assert.equal(await readFile(join(dir, 'keep.txt'), 'utf8'), 'mine');
  });

  it('adopts a file the worker holds, so linking it later needs no download', async () => {
    const { cache, out } = await setup(1024 * 1024);
    const data = randomBlob(700);
    const digest = await digestOf(SHA256, data);
    const output = join(out, 'produced');
    await writeFile(output, data);
    await cache.adopt(digest, false, output);
    await cache.link(digest, false, join(out, 'consumed'));
    assert.equal(counting.readsOf(digest), 0, 'nothing was read from the CAS');
    assert.ok((await readFile(join(out, 'consumed'))).equals(data));
    assert.equal((await stat(join(out, 'consumed'))).ino, (await stat(output)).ino);
    assert.equal((await stat(output)).mode & 0o777, 0o444, 'read-only, like every cached file');
  });

  for (const inputs of ['executable', 'plain'] as const) {
    it(`adopts outputs in the mode recent inputs were asked for (${inputs}): reading one back copies nothing`, async () => {
      const { cache, out } = await setup(1024 * 1024);
      // Bazel marks every input file executable; another client might mark none.
      const wanted = inputs === 'executable';
      for (let i = 0; i < 3; i++) {
        const input = await upload(100 + i);
        await cache.link(input.digest, wanted, join(out, `input-${i}`));
      }
      const data = randomBlob(600);
      const digest = await digestOf(SHA256, data);
      const output = join(out, 'produced');
      await writeFile(output, data);
      // The output's own mode is the other one.
      await cache.adopt(digest, !wanted, output);
      await cache.link(digest, wanted, join(out, 'consumed'));
      assert.equal(cache.stats.copies, 0, 'no copy into the other mode');
      assert.equal(counting.readsOf(digest), 0, 'nothing was read from the CAS');
      assert.equal((await stat(join(out, 'consumed'))).ino, (await stat(output)).ino);
      assert.equal((await stat(output)).mode & 0o777, wanted ? 0o555 : 0o444);
      // Asked for in its own mode, it is copied once from the adopted file.
      await cache.link(digest, !wanted, join(out, 'other-mode'));
      assert.equal(cache.stats.copies, 1);
      assert.ok((await readFile(join(out, 'other-mode'))).equals(data));
    });
  }

  it('fetches an adopted blob from the CAS when the file cannot be linked', async () => {
    const { cache, out } = await setup(1024 * 1024);
    const blob = await upload(300);
    await cache.adopt(blob.digest, false, join(out, 'never-written'));
    await cache.link(blob.digest, false, join(out, 'linked'));
    assert.ok((await readFile(join(out, 'linked'))).equals(blob.data));
    assert.equal(counting.readsOf(blob.digest), 1);
  });
});
