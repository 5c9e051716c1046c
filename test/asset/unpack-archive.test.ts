import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { archiveFormatFromHint, unpackArchive } from '../../src/asset/unpack-archive.ts';
import { type Digest, makeDigest } from '../../src/digest/digest.ts';
import { BLAKE3, SHA1, SHA256 } from '../../src/digest/digest-function.ts';
import { Directory } from '../../src/gen/build/bazel/remote/execution/v2/remote_execution.js';
import type { BlobStore, BlobWriter } from '../../src/storage/blob-store.ts';
import { readAll } from '../../src/storage/blob-store.ts';
import {
  gzip,
  newCas,
  readTree,
  store,
  TAR_XZ_FIXTURE,
  type TarSpec,
  tarOf,
  zipOf,
} from './archive-builders.ts';

const limits = { maxFiles: 1000, maxTotalBytes: 64 * 1024 * 1024 };

/** The same small project as tar entries, zip entries and the tree it unpacks to. */
const PROJECT_TAR: TarSpec[] = [
  { name: 'src/', type: 'directory' },
  { name: 'src/main.c', data: 'int main() {}\n' },
  { name: 'src/lib/util.h', data: '#pragma once\n' },
  { name: 'bin/run.sh', data: '#!/bin/sh\n', mode: 0o755 },
  { name: 'empty/', type: 'directory' },
  { name: 'src/Zeta.txt', data: 'upper-case sorts first\n' },
  { name: 'bin/main', type: 'symlink', linkname: '../src/main.c' },
];
const PROJECT_ZIP = [
  { name: 'src/' },
  { name: 'src/main.c', data: 'int main() {}\n' },
  { name: 'src/lib/util.h', data: '#pragma once\n', method: 0 },
  { name: 'bin/run.sh', data: '#!/bin/sh\n', mode: 0o100755 },
  { name: 'empty/' },
  { name: 'src/Zeta.txt', data: 'upper-case sorts first\n' },
  { name: 'bin/main', data: '../src/main.c', mode: 0o120777 },
];
const PROJECT_TREE = {
  'bin/': 'dir',
  'bin/run.sh': 'exec:#!/bin/sh\n',
  'bin/main': 'symlink:../src/main.c',
  'empty/': 'dir',
  'src/': 'dir',
  'src/Zeta.txt': 'file:upper-case sorts first\n',
  'src/main.c': 'file:int main() {}\n',
  'src/lib/': 'dir',
  'src/lib/util.h': 'file:#pragma once\n',
};

describe('unpackArchive', () => {
  it('unpacks a tar into nested directories with contents, executable bits, empty directories and symlinks', async () => {
    const cas = newCas();
    const archive = await store(cas, await tarOf(PROJECT_TAR));
    const tree = await unpackArchive({ cas, archive, limits });
    assert.deepEqual(await readTree(cas, tree.root), PROJECT_TREE);
    assert.equal(tree.files, 4);
    assert.equal(tree.bytes, 14 + 13 + 10 + 23);
  });

  it('gives a tar, its tar.gz and the same files as a zip the same root digest', async () => {
    const cas = newCas();
    const tar = await tarOf(PROJECT_TAR);
    const fromTar = await unpackArchive({ cas, archive: await store(cas, tar), limits });
    const fromGz = await unpackArchive({ cas, archive: await store(cas, gzip(tar)), limits });
    const zip = await store(cas, zipOf(PROJECT_ZIP));
    const fromZip = await unpackArchive({ cas, archive: zip, limits });
    assert.equal(fromGz.root.key, fromTar.root.key);
    assert.equal(fromZip.root.key, fromTar.root.key);
  });

  it('unpacks a tar.xz', async () => {
    const cas = newCas();
    const archive = await store(cas, TAR_XZ_FIXTURE);
    const tree = await unpackArchive({ cas, archive, limits });
    assert.deepEqual(await readTree(cas, tree.root), {
      'bin/': 'dir',
      'bin/link': 'symlink:../src/a.txt',
      'bin/run': 'exec:#!/bin/sh\necho hi\n',
      'src/': 'dir',
      'src/a.txt': 'file:hello xz\n',
      'src/empty/': 'dir',
    });
  });

  it('honours an explicit format and refuses an archive that does not match it', async () => {
    const cas = newCas();
    const tar = await store(cas, await tarOf(PROJECT_TAR));
    const tree = await unpackArchive({ cas, archive: tar, format: 'tar', limits });
    assert.equal(tree.files, 4);
    await assert.rejects(unpackArchive({ cas, archive: tar, format: 'zip', limits }), {
      code: 3,
      message: /zip archive is malformed/,
    });
    await assert.rejects(unpackArchive({ cas, archive: tar, format: 'tar.gz', limits }), {
      code: 3,
      message: /tar\.gz archive is malformed/,
    });
  });

  it('refuses a blob that is no known archive, naming the formats it knows', async () => {
    const cas = newCas();
    const archive = await store(cas, Buffer.from('just some text, not an archive'));
    await assert.rejects(unpackArchive({ cas, archive, limits }), {
      code: 3,
      message: /not a recognised archive \(expected tar, tar\.gz, tar\.xz or zip\)/,
    });
  });

  it('reports NOT_FOUND when the archive is not in the CAS', async () => {
    const cas = newCas();
    const archive = await store(newCas(), await tarOf(PROJECT_TAR));
    await assert.rejects(unpackArchive({ cas, archive, limits }), { code: 5 });
  });

  it('hashes every blob with the digest function of the archive', async () => {
    for (const fn of [SHA1, BLAKE3]) {
      const cas = newCas();
      const archive = await store(cas, await tarOf(PROJECT_TAR), fn);
      const tree = await unpackArchive({ cas, archive, limits });
      assert.equal(tree.root.fn, fn);
      assert.deepEqual(await readTree(cas, tree.root), PROJECT_TREE);
    }
  });

  it('unpacks an empty zip and an empty tar to the empty directory', async () => {
    const cas = newCas();
    for (const bytes of [zipOf([]), await tarOf([])]) {
      const tree = await unpackArchive({ cas, archive: await store(cas, bytes), limits });
      assert.equal(tree.root.size, 0);
      assert.deepEqual(await readTree(cas, tree.root), {});
    }
  });

  it('normalises ./a//b and a ./ root entry', async () => {
    const cas = newCas();
    const archive = await store(
      cas,
      await tarOf([
        { name: './', type: 'directory' },
        { name: './a//b', data: 'x' },
        { name: 'a/./c/', type: 'directory' },
      ]),
    );
    const tree = await unpackArchive({ cas, archive, limits });
    assert.deepEqual(await readTree(cas, tree.root), {
      'a/': 'dir',
      'a/b': 'file:x',
      'a/c/': 'dir',
    });
  });

  it('lets a later file or symlink replace an earlier one of the same name (last wins)', async () => {
    const cas = newCas();
    const archive = await store(
      cas,
      await tarOf([
        { name: 'a', data: 'first' },
        { name: 'a', data: 'second', mode: 0o755 },
        { name: 'l', type: 'symlink', linkname: 'a' },
        { name: 'l', data: 'now a file' },
        { name: 'd/', type: 'directory' },
        { name: 'd/', type: 'directory' },
      ]),
    );
    const tree = await unpackArchive({ cas, archive, limits });
    assert.deepEqual(await readTree(cas, tree.root), {
      a: 'exec:second',
      l: 'file:now a file',
      'd/': 'dir',
    });
  });

  it('turns a hard link into a copy of the earlier file, executable bit included', async () => {
    const cas = newCas();
    const archive = await store(
      cas,
      await tarOf([
        { name: 'bin/tool', data: 'binary', mode: 0o755 },
        { name: 'alias/tool2', type: 'link', linkname: 'bin/tool' },
      ]),
    );
    const tree = await unpackArchive({ cas, archive, limits });
    assert.deepEqual(await readTree(cas, tree.root), {
      'bin/': 'dir',
      'bin/tool': 'exec:binary',
      'alias/': 'dir',
      'alias/tool2': 'exec:binary',
    });
    assert.deepEqual([tree.files, tree.bytes], [2, 12]);
  });

  it('skips devices and FIFOs in tar and zip', async () => {
    const cas = newCas();
    const tar = await tarOf([
      { name: 'dev/null', type: 'character-device' },
      { name: 'dev/sda', type: 'block-device' },
      { name: 'pipe', type: 'fifo' },
      { name: 'kept', data: 'k' },
    ]);
    const zip = zipOf([
      { name: 'pipe', mode: 0o010644 },
      { name: 'sock', mode: 0o140644 },
      { name: 'kept', data: 'k' },
    ]);
    for (const bytes of [tar, zip]) {
      const tree = await unpackArchive({ cas, archive: await store(cas, bytes), limits });
      assert.deepEqual(await readTree(cas, tree.root), { kept: 'file:k' });
    }
  });

  it('reads zip entries made on Windows, without Unix modes, as plain files and directories', async () => {
    const cas = newCas();
    const zip = zipOf([
      { name: 'docs/', dos: true },
      { name: 'docs/readme.txt', data: 'hi', dos: true },
    ]);
    const tree = await unpackArchive({ cas, archive: await store(cas, zip), limits });
    assert.deepEqual(await readTree(cas, tree.root), {
      'docs/': 'dir',
      'docs/readme.txt': 'file:hi',
    });
  });

  it('streams a 20 MiB entry through a temporary file, stores it under the right digest, and removes the file', async () => {
    const big = Buffer.alloc(20 * 1024 * 1024);
    for (let i = 0; i < big.length; i += 4) big.writeUInt32LE((i * 2654435761) >>> 0, i);
    const expected = createHash('sha256').update(big).digest('hex');
    const tmp = await mkdtemp(join(tmpdir(), 'kiln-unpack-test-'));
    const savedTmp = process.env.TMPDIR;
    process.env.TMPDIR = tmp;
    try {
      const inner = newCas();
      const spooled: number[] = [];
      // Looks at the temporary directory when the big blob's upload starts: the entry must
      // sit there in full, which it only does when it went through the spool file.
      const cas: BlobStore = {
        get: (d, r) => inner.get(d, r),
        findMissing: (d) => inner.findMissing(d),
        close: () => inner.close(),
        put: async (d: Digest): Promise<BlobWriter> => {
          if (d.size === big.length) {
            for (const dir of await readdir(tmp)) {
              for (const f of await readdir(join(tmp, dir))) {
                spooled.push((await stat(join(tmp, dir, f))).size);
              }
            }
          }
          return inner.put(d);
        },
      };
      const tar = await tarOf([{ name: 'big.bin', data: big }]);
      const archive = await store(inner, gzip(tar));
      const tree = await unpackArchive({ cas, archive, limits });
      assert.deepEqual(spooled, [big.length]);
      const root = Directory.decode(await readAll(inner, tree.root));
      assert.deepEqual(root.files[0]?.digest, { hash: expected, sizeBytes: big.length });
      const stored = await readAll(inner, makeDigest(SHA256, expected, big.length));
      assert.ok(stored.equals(big));
      assert.deepEqual([tree.files, tree.bytes], [1, big.length]);
      assert.deepEqual(await readdir(tmp), [], 'no temporary directory is left behind');
    } finally {
      process.env.TMPDIR = savedTmp;
      await rm(tmp, { recursive: true, force: true });
    }
  });

  it('cancels with CANCELLED when the signal fires', async () => {
    const cas = newCas();
    const archive = await store(cas, gzip(await tarOf(PROJECT_TAR)));
    await assert.rejects(unpackArchive({ cas, archive, limits, signal: AbortSignal.abort() }), {
      code: 1,
    });
  });
});

describe('archiveFormatFromHint', () => {
  it('maps MIME types, ignoring case and parameters', () => {
    assert.equal(archiveFormatFromHint({ resourceType: 'application/x-tar' }), 'tar');
    assert.equal(archiveFormatFromHint({ resourceType: 'application/gzip' }), 'tar.gz');
    assert.equal(archiveFormatFromHint({ resourceType: 'Application/X-GZIP' }), 'tar.gz');
    assert.equal(archiveFormatFromHint({ resourceType: 'application/x-compressed-tar' }), 'tar.gz');
    assert.equal(archiveFormatFromHint({ resourceType: 'application/x-xz' }), 'tar.xz');
    assert.equal(archiveFormatFromHint({ resourceType: 'application/zip; charset=binary' }), 'zip');
  });

  it('maps URI suffixes, ignoring query and fragment', () => {
    const uri = (u: string) => archiveFormatFromHint({ uri: u });
    assert.equal(uri('https://example.com/r/v1.0.tar'), 'tar');
    assert.equal(uri('https://example.com/r/v1.0.tar.gz?token=x'), 'tar.gz');
    assert.equal(uri('https://example.com/r/v1.0.TGZ'), 'tar.gz');
    assert.equal(uri('https://example.com/r/v1.0.tar.xz#frag'), 'tar.xz');
    assert.equal(uri('https://example.com/r/v1.0.txz'), 'tar.xz');
    assert.equal(uri('https://example.com/archive/main.zip'), 'zip');
    assert.equal(uri('not a url/file.zip'), 'zip');
  });

  it('prefers the MIME type and returns undefined when neither says', () => {
    assert.equal(
      archiveFormatFromHint({ resourceType: 'application/zip', uri: 'https://x/a.tar.gz' }),
      'zip',
    );
    assert.equal(
      archiveFormatFromHint({ resourceType: 'text/plain', uri: 'https://x/a.tgz' }),
      'tar.gz',
    );
    assert.equal(archiveFormatFromHint({ uri: 'https://example.com/download?id=3' }), undefined);
    assert.equal(archiveFormatFromHint({ uri: 'https://example.com/file.gz' }), undefined);
    assert.equal(archiveFormatFromHint({}), undefined);
  });
});
