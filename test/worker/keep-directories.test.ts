import assert from 'node:assert/strict';
import { chmod, lstat, mkdir, mkdtemp, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { emptyKeepingDirectoriesSync } from '../../src/worker/keep-directories.mjs';
import { listing } from '../support/fs-listing.ts';

describe('emptyKeepingDirectoriesSync', () => {
  let dir: string;
  let n = 0;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kiln-keep-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  /** Permission bits of a fresh directory under the current umask. */
  let mode: number;
  async function tree(): Promise<string> {
    const root = join(dir, `root-${n++}`);
    await mkdir(root);
    mode = (await lstat(root)).mode & 0o7777;
    await mkdir(join(root, 'bazel-out/k8/bin'), { recursive: true });
    await mkdir(join(root, 'external/tools'), { recursive: true });
    await writeFile(join(root, 'bazel-out/k8/bin/out.txt'), 'output');
    await writeFile(join(root, 'external/tools/setup.sh'), 'input');
    await writeFile(join(root, 'top.txt'), 'x');
    return root;
  }

  it('deletes files and keeps the directories, parents first', async () => {
    const root = await tree();
    const kept = emptyKeepingDirectoriesSync(root, { mode, limit: 100 });
    assert.deepEqual(await listing(root), [
      'bazel-out/',
      'bazel-out/k8/',
      'bazel-out/k8/bin/',
      'external/',
      'external/tools/',
    ]);
    assert.deepEqual(
      new Set(kept),
      new Set(['bazel-out', 'bazel-out/k8', 'bazel-out/k8/bin', 'external', 'external/tools']),
    );
    for (const path of kept) {
      const parent = path.includes('/') ? path.slice(0, path.lastIndexOf('/')) : undefined;
      if (parent !== undefined)
        assert.ok(kept.indexOf(parent) < kept.indexOf(path), `${parent} before ${path}`);
    }
  });

  it('deletes symlinks without following them, even to directories', async () => {
    const root = await tree();
    const outside = join(dir, `outside-${n++}`);
    await mkdir(outside);
    await writeFile(join(outside, 'precious'), 'keep me');
    await symlink(outside, join(root, 'link-to-dir'));
    await symlink('missing', join(root, 'dangling'));
    emptyKeepingDirectoriesSync(root, { mode, limit: 100 });
    assert.deepEqual(await readdir(outside), ['precious']);
    assert.ok(!(await listing(root)).some((p) => p.startsWith('link-to-dir') || p === 'dangling'));
  });

  it('deletes directories whose mode the action changed, with what is in them', async () => {
    const root = await tree();
    await mkdir(join(root, 'private/inner'), { recursive: true });
    await writeFile(join(root, 'private/inner/f'), 'f');
    await chmod(join(root, 'private'), mode === 0o700 ? 0o750 : 0o700);
    const kept = emptyKeepingDirectoriesSync(root, { mode, limit: 100 });
    assert.ok(!kept.some((p) => p.startsWith('private')));
    assert.ok(!(await listing(root)).some((p) => p.startsWith('private')));
  });

  it('keeps no more directories than its limit and deletes the rest', async () => {
    const root = await tree();
    const kept = emptyKeepingDirectoriesSync(root, { mode, limit: 2 });
    assert.equal(kept.length, 2);
    assert.deepEqual(
      (await listing(root)).map((p) => p.replace(/\/$/, '')).sort(),
      [...kept].sort(),
    );
  });

  it('throws when the root is not a directory', async () => {
    const root = await tree();
    await assert.throws(() =>
      emptyKeepingDirectoriesSync(join(root, 'top.txt'), { mode, limit: 10 }),
    );
  });
});
