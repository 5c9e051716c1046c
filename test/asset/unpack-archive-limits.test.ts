import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import { unpackArchive } from '../../src/asset/unpack-archive.ts';
import type { Digest } from '../../src/digest/digest.ts';
import type { BlobStore } from '../../src/storage/blob-store.ts';
import {
  CountingCas,
  deflatedZeros,
  gzip,
  newCas,
  store,
  TAR_XZ_FIXTURE,
  tarOf,
  ustarHeader,
  zipOf,
} from './archive-builders.ts';

const CANCELLED = 1;
const INVALID_ARGUMENT = 3;
const DEADLINE_EXCEEDED = 4;
const RESOURCE_EXHAUSTED = 8;
const MiB = 1024 * 1024;

/** 512 MiB of zeros as 512 concatenated gzip members: half a megabyte to store, cheap to make. */
function zerosGzipMembers(count: number): Buffer[] {
  const member = gzipSync(Buffer.alloc(MiB));
  return Array.from({ length: count }, () => member);
}

describe('unpackArchive limits', () => {
  it('refuses more than maxFiles entries, counting directories and links too', async () => {
    const cas = newCas();
    const entries = [
      { name: 'd/', type: 'directory' as const },
      { name: 'd/a', data: 'a' },
      { name: 'd/l', type: 'symlink' as const, linkname: 'a' },
    ];
    const archive = await store(cas, await tarOf(entries));
    const ok = await unpackArchive({ cas, archive, limits: { maxFiles: 3, maxTotalBytes: 10 } });
    assert.equal(ok.files, 1);
    await assert.rejects(
      unpackArchive({ cas, archive, limits: { maxFiles: 2, maxTotalBytes: 10 } }),
      { code: RESOURCE_EXHAUSTED, message: /more than 2 entries.*"d\/l"/ },
    );
  });

  it('refuses a zip whose central directory lists too many entries before reading any', async () => {
    const inner = newCas();
    const entries = Array.from({ length: 50 }, (_, i) => ({ name: `f${i}`, data: 'x' }));
    const archive = await store(inner, zipOf(entries));
    const cas = new CountingCas(inner);
    let stored = 0;
    const watching: BlobStore = {
      ...bind(cas),
      put: (d) => {
        stored++;
        return cas.put(d);
      },
    };
    await assert.rejects(
      unpackArchive({ cas: watching, archive, limits: { maxFiles: 10, maxTotalBytes: MiB } }),
      { code: RESOURCE_EXHAUSTED, message: /50 entries, more than the limit of 10/ },
    );
    assert.equal(stored, 0);
  });

  it('refuses more than maxTotalBytes of content, and accepts exactly that much', async () => {
    const cas = newCas();
    const tar = await tarOf([
      { name: 'a', data: Buffer.alloc(600) },
      { name: 'b', data: Buffer.alloc(400) },
    ]);
    const archive = await store(cas, tar);
    const ok = await unpackArchive({ cas, archive, limits: { maxFiles: 9, maxTotalBytes: 1000 } });
    assert.equal(ok.bytes, 1000);
    await assert.rejects(
      unpackArchive({ cas, archive, limits: { maxFiles: 9, maxTotalBytes: 999 } }),
      { code: RESOURCE_EXHAUSTED, message: /more than 999 bytes.*"b"/ },
    );
  });

  it('counts hard-linked copies against maxTotalBytes', async () => {
    const cas = newCas();
    const links = Array.from({ length: 20 }, (_, i) => ({
      name: `copy${i}`,
      type: 'link' as const,
      linkname: 'orig',
    }));
    const tar = await tarOf([{ name: 'orig', data: Buffer.alloc(1024) }, ...links]);
    await assert.rejects(
      unpackArchive({
        cas,
        archive: await store(cas, tar),
        limits: { maxFiles: 100, maxTotalBytes: 10 * 1024 },
      }),
      { code: RESOURCE_EXHAUSTED },
    );
  });

  it('stops a gzip bomb after its first header, having read a sliver of it', async () => {
    const inner = newCas();
    const bomb = Buffer.concat([
      gzipSync(ustarHeader('zeros.bin', 512 * MiB)),
      ...zerosGzipMembers(512),
    ]);
    const archive = await store(inner, bomb);
    const cas = new CountingCas(inner);
    await assert.rejects(
      unpackArchive({ cas, archive, limits: { maxFiles: 10, maxTotalBytes: MiB } }),
      { code: RESOURCE_EXHAUSTED, message: /"zeros\.bin"/ },
    );
    assert.ok(cas.served < bomb.length / 4, `read ${cas.served} of ${bomb.length} bytes`);
  });

  it('stops a gzip of nothing but zero blocks, which has no entry to count', async () => {
    const inner = newCas();
    const bomb = Buffer.concat(zerosGzipMembers(512));
    const archive = await store(inner, bomb);
    const cas = new CountingCas(inner);
    await assert.rejects(
      unpackArchive({ cas, archive, limits: { maxFiles: 10, maxTotalBytes: MiB } }),
      { code: RESOURCE_EXHAUSTED, message: /likely decompression bomb/ },
    );
    assert.ok(cas.served < bomb.length / 4, `read ${cas.served} of ${bomb.length} bytes`);
  });

  it('refuses a zip bomb from its declared size without inflating it', async () => {
    const inner = newCas();
    const zip = zipOf([
      { name: 'zeros.bin', deflated: deflatedZeros(1024), declaredSize: 1024 * MiB },
    ]);
    const archive = await store(inner, zip);
    const cas = new CountingCas(inner);
    await assert.rejects(
      unpackArchive({ cas, archive, limits: { maxFiles: 10, maxTotalBytes: MiB } }),
      { code: RESOURCE_EXHAUSTED, message: /"zeros\.bin"/ },
    );
    assert.ok(cas.served < zip.length / 4, `read ${cas.served} of ${zip.length} bytes`);
  });

  it('stops a zip bomb that lies about its size as soon as it inflates past the lie', async () => {
    const inner = newCas();
    // 3 GiB in 3 MB: large enough that the streams' read-ahead (a few hundred KB of
    // compressed data in yauzl's pipes) is small beside it.
    const zip = zipOf([{ name: 'zeros.bin', deflated: deflatedZeros(3072), declaredSize: 100 }]);
    const archive = await store(inner, zip);
    const cas = new CountingCas(inner);
    await assert.rejects(
      unpackArchive({ cas, archive, limits: { maxFiles: 10, maxTotalBytes: MiB } }),
      { code: INVALID_ARGUMENT, message: /too many bytes/ },
    );
    assert.ok(cas.served < zip.length / 4, `read ${cas.served} of ${zip.length} bytes`);
  });

  it('refuses limits that are not non-negative integers', async () => {
    const cas = newCas();
    const archive = await store(cas, await tarOf([]));
    await assert.rejects(
      unpackArchive({ cas, archive, limits: { maxFiles: -1, maxTotalBytes: 1 } }),
      { code: INVALID_ARGUMENT, message: /maxFiles -1/ },
    );
  });
});

describe('unpackArchive with malformed archives', () => {
  const limits = { maxFiles: 100, maxTotalBytes: MiB };
  const refuse = async (bytes: Buffer, format: 'tar' | 'tar.gz' | 'tar.xz' | 'zip', re: RegExp) => {
    const cas = newCas();
    await assert.rejects(unpackArchive({ cas, archive: await store(cas, bytes), format, limits }), {
      code: INVALID_ARGUMENT,
      message: re,
    });
  };

  it('refuses a truncated tar', async () => {
    const tar = await tarOf([{ name: 'a', data: Buffer.alloc(2000, 1) }]);
    await refuse(tar.subarray(0, 1000), 'tar', /tar archive is malformed or truncated/);
  });

  it('refuses a tar with a corrupt header', async () => {
    const tar = await tarOf([{ name: 'a', data: 'x' }]);
    tar[10] = 0x41;
    await refuse(tar, 'tar', /tar archive is malformed or truncated: Invalid tar header/);
  });

  it('refuses a truncated or corrupt tar.gz', async () => {
    const gz = gzip(await tarOf([{ name: 'a', data: randomBytes(5000) }]));
    await refuse(gz.subarray(0, gz.length - 100), 'tar.gz', /tar\.gz archive is malformed/);
    const corrupt = Buffer.from(gz);
    corrupt.fill(0xff, 20, 60);
    await refuse(corrupt, 'tar.gz', /tar\.gz archive is malformed/);
  });

  it('refuses a truncated tar.xz and one that is not xz at all', async () => {
    await refuse(TAR_XZ_FIXTURE.subarray(0, 100), 'tar.xz', /tar\.xz archive: .*truncated/);
    await refuse(Buffer.from('not xz data at all'), 'tar.xz', /not an xz stream/);
    await refuse(Buffer.alloc(0), 'tar.xz', /tar\.xz archive: .*truncated/);
  });

  it('refuses a truncated zip, and one with corrupt entry data', async () => {
    const zip = zipOf([{ name: 'a', data: randomBytes(5000) }]);
    await refuse(zip.subarray(0, zip.length - 30), 'zip', /zip archive is malformed/);
    // Deflate keeps random data in stored blocks: overwriting it leaves a valid stream
    // with the wrong bytes, which only the CRC catches.
    const corrupt = Buffer.from(zip);
    corrupt.fill(0xff, 40, 200);
    await refuse(corrupt, 'zip', /"a" fails its CRC-32 check/);
    const stored = zipOf([{ name: 'b', data: 'hello', method: 0 }]);
    stored[31] = 0x48;
    await refuse(stored, 'zip', /"b" fails its CRC-32 check/);
  });
});

describe('unpackArchive cancellation', () => {
  const limits = { maxFiles: 100, maxTotalBytes: MiB };

  /** A CAS whose archive reads call `onRead` after the first chunk, and then go on slowly. */
  function slowCas(inner: BlobStore, onRead: () => void): BlobStore {
    return {
      ...bind(inner),
      get: async (d: Digest, r) => {
        const source = await inner.get(d, r);
        return (async function* () {
          for await (const chunk of source) {
            for (let i = 0; i < chunk.byteLength; i += 512) {
              yield chunk.subarray(i, i + 512);
              onRead();
              await new Promise((resolve) => setImmediate(resolve));
            }
          }
        })();
      },
    };
  }

  it('stops with CANCELLED when aborted mid-archive, and DEADLINE_EXCEEDED for a timeout', async () => {
    const inner = newCas();
    const files = Array.from({ length: 50 }, (_, i) => ({
      name: `f${i}`,
      data: randomBytes(2000),
    }));
    for (const [bytes, format] of [
      [await tarOf(files), 'tar'],
      [zipOf(files), 'zip'],
    ] as const) {
      const archive = await store(inner, bytes);
      for (const [reason, code] of [
        [undefined, CANCELLED],
        [new DOMException('too slow', 'TimeoutError'), DEADLINE_EXCEEDED],
      ] as const) {
        const controller = new AbortController();
        let reads = 0;
        const cas = slowCas(inner, () => {
          if (++reads === 20) controller.abort(reason);
        });
        await assert.rejects(
          unpackArchive({ cas, archive, limits, signal: controller.signal }),
          { code },
          `${format} aborted with ${String(reason)}`,
        );
      }
    }
  });

  it('releases the xz decoder when an unpacking stops, so that the next one runs', async () => {
    const cas = newCas();
    const archive = await store(cas, TAR_XZ_FIXTURE);
    await assert.rejects(
      unpackArchive({ cas, archive, limits: { maxFiles: 1, maxTotalBytes: MiB } }),
      { code: RESOURCE_EXHAUSTED },
    );
    const trees = await Promise.all(
      [1, 2, 3].map(() =>
        unpackArchive({ cas, archive, limits: { maxFiles: 10, maxTotalBytes: MiB } }),
      ),
    );
    assert.deepEqual(
      trees.map((t) => t.files),
      [2, 2, 2],
    );
  });
});

/** The BlobStore methods of `store`, bound, for wrappers that replace one of them. */
function bind(store: BlobStore): BlobStore {
  return {
    get: (d, r) => store.get(d, r),
    put: (d) => store.put(d),
    findMissing: (d) => store.findMissing(d),
    close: () => store.close(),
  };
}
