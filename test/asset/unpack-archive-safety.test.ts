import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { unpackArchive } from '../../src/asset/unpack-archive.ts';
import {
  newCas,
  readTree,
  store,
  type TarSpec,
  tarOf,
  ustarHeader,
  type ZipSpec,
  zipOf,
} from './archive-builders.ts';

const limits = { maxFiles: 1000, maxTotalBytes: 1024 * 1024 };
const INVALID_ARGUMENT = 3;

async function unpackTar(entries: TarSpec[]) {
  const cas = newCas();
  const tree = await unpackArchive({
    cas,
    archive: await store(cas, await tarOf(entries)),
    limits,
  });
  return readTree(cas, tree.root);
}

async function unpackZip(entries: ZipSpec[]) {
  const cas = newCas();
  const tree = await unpackArchive({ cas, archive: await store(cas, zipOf(entries)), limits });
  return readTree(cas, tree.root);
}

const rejected = (message: RegExp) => ({ code: INVALID_ARGUMENT, message });

describe('unpackArchive refuses unsafe tar entries', () => {
  it('refuses an absolute name', async () => {
    await assert.rejects(unpackTar([{ name: '/etc/passwd', data: 'x' }]), rejected(/is absolute/));
  });

  it('refuses names with .. that escape the root', async () => {
    await assert.rejects(unpackTar([{ name: '../x', data: 'x' }]), rejected(/contains '\.\.'/));
    await assert.rejects(
      unpackTar([{ name: 'a/../../x', data: 'x' }]),
      rejected(/contains '\.\.'/),
    );
  });

  it('refuses .. even where it would stay inside, as GNU tar does', async () => {
    await assert.rejects(unpackTar([{ name: 'a/../b', data: 'x' }]), rejected(/contains '\.\.'/));
  });

  it('refuses backslashes, which are separators on Windows', async () => {
    await assert.rejects(unpackTar([{ name: '..\\x', data: 'x' }]), rejected(/backslash/));
  });

  it('refuses a symlink with an absolute target', async () => {
    await assert.rejects(
      unpackTar([{ name: 'etc', type: 'symlink', linkname: '/etc' }]),
      rejected(/target is absolute/),
    );
  });

  it('refuses a symlink that resolves outside the tree', async () => {
    await assert.rejects(
      unpackTar([{ name: 'sub/link', type: 'symlink', linkname: '../../etc' }]),
      rejected(/points outside the archive's root/),
    );
    await assert.rejects(
      unpackTar([{ name: 'link', type: 'symlink', linkname: 'a/../../etc' }]),
      rejected(/points outside/),
    );
  });

  it('stores symlink targets in canonical form, so that a link through a link cannot climb out', async () => {
    // Followed on disk, d/x -> up/../../etc would climb from the root's parent (d/up is the
    // root); canonical, it is ../etc from d, which is etc inside the tree.
    const tree = await unpackTar([
      { name: 'd/up', type: 'symlink', linkname: '..' },
      { name: 'd/x', type: 'symlink', linkname: 'up/../../etc' },
      { name: 'd/self', type: 'symlink', linkname: './' },
    ]);
    assert.deepEqual(tree, {
      'd/': 'dir',
      'd/up': 'symlink:..',
      'd/x': 'symlink:../etc',
      'd/self': 'symlink:.',
    });
  });

  it('refuses a symlink with an empty target', async () => {
    await assert.rejects(
      unpackTar([{ name: 'link', type: 'symlink', linkname: '' }]),
      rejected(/empty target/),
    );
  });

  it('refuses a path that goes through a symlink', async () => {
    await assert.rejects(
      unpackTar([
        { name: 'real/', type: 'directory' },
        { name: 'link', type: 'symlink', linkname: 'real' },
        { name: 'link/file', data: 'x' },
      ]),
      rejected(/goes through symlink "link"/),
    );
    await assert.rejects(
      unpackTar([
        { name: 'link', type: 'symlink', linkname: '.' },
        { name: 'link/sub/', type: 'directory' },
      ]),
      rejected(/goes through symlink/),
    );
  });

  it('refuses a hard link to a path not earlier in the archive', async () => {
    await assert.rejects(
      unpackTar([
        { name: 'link', type: 'link', linkname: 'later' },
        { name: 'later', data: 'x' },
      ]),
      rejected(/which is no earlier entry/),
    );
  });

  it('refuses a hard link to a path outside the tree', async () => {
    await assert.rejects(
      unpackTar([{ name: 'link', type: 'link', linkname: '../etc/passwd' }]),
      rejected(/hard link target .* contains '\.\.'/),
    );
    await assert.rejects(
      unpackTar([{ name: 'link', type: 'link', linkname: '/etc/passwd' }]),
      rejected(/hard link target .* is absolute/),
    );
  });

  it('refuses a hard link to a directory', async () => {
    await assert.rejects(
      unpackTar([
        { name: 'dir/', type: 'directory' },
        { name: 'link', type: 'link', linkname: 'dir' },
      ]),
      rejected(/which is a directory/),
    );
  });

  it('refuses a file and a directory with the same path, in either order', async () => {
    await assert.rejects(
      unpackTar([
        { name: 'a', data: 'x' },
        { name: 'a/', type: 'directory' },
      ]),
      rejected(/"a" is a directory, but an earlier entry made it a file/),
    );
    await assert.rejects(
      unpackTar([
        { name: 'a/b', data: 'x' },
        { name: 'a', data: 'y' },
      ]),
      rejected(/"a" is a file or symlink, but an earlier entry made it a directory/),
    );
    await assert.rejects(
      unpackTar([
        { name: 'a', data: 'x' },
        { name: 'a/b', data: 'y' },
      ]),
      rejected(/needs "a" to be a directory, but it is a file/),
    );
  });

  it('refuses a file entry that names the root', async () => {
    await assert.rejects(
      unpackTar([{ name: './', data: 'x' }]),
      rejected(/names the archive root/),
    );
  });

  it('refuses tar entry types it cannot represent, such as GNU sparse files', async () => {
    const cas = newCas();
    const sparse = Buffer.concat([ustarHeader('sparse.img', 0, 'S'), Buffer.alloc(1024)]);
    await assert.rejects(
      unpackArchive({ cas, archive: await store(cas, sparse), limits }),
      rejected(/"sparse\.img" has an unsupported tar entry type/),
    );
  });
});

describe('unpackArchive refuses unsafe zip entries', () => {
  it('refuses Windows drive letters and backslashes', async () => {
    await assert.rejects(
      unpackZip([{ name: Buffer.from('C:\\x'), data: 'x' }]),
      rejected(/backslash|drive letter/),
    );
    await assert.rejects(
      unpackZip([{ name: Buffer.from('C:x'), data: 'x' }]),
      rejected(/Windows drive letter/),
    );
    await assert.rejects(
      unpackZip([{ name: Buffer.from('..\\x'), data: 'x' }]),
      rejected(/backslash/),
    );
  });

  it('refuses absolute names and .. in zip entries', async () => {
    await assert.rejects(unpackZip([{ name: '/etc/passwd', data: 'x' }]), rejected(/absolute/));
    await assert.rejects(unpackZip([{ name: '../x', data: 'x' }]), rejected(/contains '\.\.'/));
    await assert.rejects(
      unpackZip([{ name: 'a/../../x', data: 'x' }]),
      rejected(/contains '\.\.'/),
    );
  });

  it('keeps zip symlinks inside the tree and refuses those that escape', async () => {
    assert.deepEqual(
      await unpackZip([
        { name: 'a/f', data: 'x' },
        { name: 'b/l', data: '../a/f', mode: 0o120777 },
      ]),
      { 'a/': 'dir', 'a/f': 'file:x', 'b/': 'dir', 'b/l': 'symlink:../a/f' },
    );
    await assert.rejects(
      unpackZip([{ name: 'link', data: '../../etc', mode: 0o120777 }]),
      rejected(/points outside/),
    );
    await assert.rejects(
      unpackZip([{ name: 'link', data: '/etc', mode: 0o120777 }]),
      rejected(/target is absolute/),
    );
  });

  it('refuses a zip path that goes through a symlink', async () => {
    await assert.rejects(
      unpackZip([
        { name: 'link', data: '.', mode: 0o120777 },
        { name: 'link/file', data: 'x' },
      ]),
      rejected(/goes through symlink/),
    );
  });

  it('refuses encrypted entries and unsupported compression methods', async () => {
    await assert.rejects(
      unpackZip([{ name: 'secret', data: 'x', encrypted: true }]),
      rejected(/is encrypted/),
    );
    await assert.rejects(
      unpackZip([{ name: 'b.bz2', data: 'x', method: 12 }]),
      rejected(/compression method 12/),
    );
  });
});
