import assert from 'node:assert/strict';
import { lstat, mkdir, mkdtemp, readdir, readFile, readlink, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { status } from '@grpc/grpc-js';
import { CasClient } from '../../src/client/cas-client.ts';
import { MissingBlobsError } from '../../src/client/missing-blobs-error.ts';
import { digestOf } from '../../src/digest/digest.ts';
import { SHA256 } from '../../src/digest/digest-function.ts';
import type { Command } from '../../src/gen/build/bazel/remote/execution/v2/remote_execution.js';
import { FileCache } from '../../src/worker/file-cache.ts';
import { InputStager } from '../../src/worker/input-stager.ts';
import { LocalCas } from '../../src/worker/local-cas.ts';
import { listing } from '../support/fs-listing.ts';
import { startTestServer, type TestServer } from '../support/test-server.ts';
import { CountingBlobStore } from './counting-blob-store.ts';
import {
  buildTree,
  type DirSpec,
  file,
  makeCommand,
  symlink,
  uploadTree,
} from './input-tree-builder.ts';

describe('InputStager', () => {
  let t: TestServer;
  let counting: CountingBlobStore;
  let cas: CasClient;
  let root: string;
  let cache: FileCache;
  let stager: InputStager;
  let n = 0;

  before(async () => {
    counting = new CountingBlobStore();
    t = await startTestServer({ casBackend: counting });
    cas = new CasClient({ address: t.server.address });
    root = await mkdtemp(join(tmpdir(), 'kiln-stager-'));
    cache = await FileCache.open({ directory: join(root, 'cache'), maxBytes: 1 << 30, cas });
    stager = new InputStager({ cas, fileCache: cache });
  });
  after(async () => {
    cas.close();
    await t.stop();
    await rm(root, { recursive: true, force: true });
  });

  async function stage(spec: DirSpec, command: Partial<Command> = {}) {
    const { root: digest } = await uploadTree(cas, spec);
    const inputRoot = join(root, `build-${n++}`);
    await mkdir(inputRoot);
    const staged = await stager.stage({
      inputRootDigest: digest,
      inputRoot,
      command: makeCommand(command),
    });
    return { inputRoot, staged };
  }

  it('stages nested directories, empty directories, files and their executable bits', async () => {
    const { inputRoot, staged } = await stage({
      src: { lib: { 'a.c': file('int a;') }, 'main.c': file('int main;') },
      empty: {},
      tools: { run: file('#!/bin/sh\necho hi\n', true) },
    });
    assert.equal(await readFile(join(inputRoot, 'src/lib/a.c'), 'utf8'), 'int a;');
    assert.equal(await readFile(join(inputRoot, 'src/main.c'), 'utf8'), 'int main;');
    assert.deepEqual(await readdir(join(inputRoot, 'empty')), []);
    assert.equal((await stat(join(inputRoot, 'tools/run'))).mode & 0o111, 0o111);
    assert.equal((await stat(join(inputRoot, 'src/main.c'))).mode & 0o111, 0);
    assert.deepEqual(staged, { files: 3, directories: 5, symlinks: 0, bytes: 33 });
  });

  it('creates symlinks with relative and absolute targets as given', async () => {
    const { inputRoot } = await stage({
      data: { 'real.txt': file('content') },
      'link.txt': symlink('data/real.txt'),
      abs: symlink('/usr/bin'),
      dangling: symlink('nowhere'),
    });
    assert.equal(await readlink(join(inputRoot, 'link.txt')), 'data/real.txt');
    assert.equal(await readFile(join(inputRoot, 'link.txt'), 'utf8'), 'content');
    assert.equal(await readlink(join(inputRoot, 'abs')), '/usr/bin');
    assert.ok((await lstat(join(inputRoot, 'dangling'))).isSymbolicLink());
  });

  it('downloads content shared by many paths once', async () => {
    const shared = file('the same bytes at every path');
    const spec: Record<string, DirSpec> = {};
    for (let d = 0; d < 10; d++) {
      spec[`d${d}`] = Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`f${i}`, shared]));
    }
    const before = counting.totalReads;
    const { inputRoot, staged } = await stage(spec);
    const digest = await digestOf(SHA256, shared.data);
    assert.equal(staged.files, 200);
    assert.equal(counting.readsOf(digest), 1);
    assert.equal(await readFile(join(inputRoot, 'd9/f19'), 'utf8'), 'the same bytes at every path');
    // One GetTree read of each directory, plus one read of the shared blob.
    assert.ok(counting.totalReads - before <= 12, `${counting.totalReads - before} reads`);
  });

  it('counts shared directories at every path against maxEntries, staging up to it', async () => {
    const shared = { f: file('same'), g: file('also the same') };
    // a, b, a/f, a/g, b/f, b/g: six entries over one shared Directory.
    const { root: digest } = await uploadTree(cas, { a: shared, b: shared });
    const stageWith = async (maxEntries: number) => {
      const inputRoot = join(root, `limit-${n++}`);
      await mkdir(inputRoot);
      const limited = new InputStager({ cas, fileCache: cache, maxEntries });
      return limited.stage({ inputRootDigest: digest, inputRoot, command: makeCommand({}) });
    };
    assert.deepEqual(await stageWith(6), { files: 4, directories: 3, symlinks: 0, bytes: 34 });
    await assert.rejects(stageWith(5), {
      code: status.INVALID_ARGUMENT,
      message: 'the input tree expands to more than 5 entries',
    });
  });

  it('stages 5,000 small inputs quickly', async (ctx) => {
    const spec: Record<string, DirSpec> = {};
    for (let d = 0; d < 50; d++) {
      spec[`pkg${d}`] = Object.fromEntries(
        Array.from({ length: 100 }, (_, i) => [`file${i}.txt`, file(`pkg ${d} file ${i}\n`)]),
      );
    }
    const { root: digest } = await uploadTree(cas, spec);
    const timed = async (label: string) => {
      const inputRoot = join(root, `big-${label}`);
      await mkdir(inputRoot);
      const start = performance.now();
      const staged = await stager.stage({
        inputRootDigest: digest,
        inputRoot,
        command: makeCommand({}),
      });
      const ms = performance.now() - start;
      ctx.diagnostic(`5,000 inputs, ${label} cache: ${ms.toFixed(0)} ms`);
      assert.equal(staged.files, 5000);
      assert.equal(await readFile(join(inputRoot, 'pkg49/file99.txt'), 'utf8'), 'pkg 49 file 99\n');
      return ms;
    };
    const cold = await timed('cold');
    const warm = await timed('warm');
    assert.ok(cold < 15_000, `cold staging took ${cold} ms`);
    assert.ok(warm < 10_000, `warm staging took ${warm} ms`);
  });

  it('creates the parents of declared outputs under the working directory, not the outputs', async () => {
    const { inputRoot } = await stage(
      { sub: { 'in.txt': file('x') } },
      { workingDirectory: 'sub', outputPaths: ['out/deep/result.o', 'gen'] },
    );
    assert.ok((await stat(join(inputRoot, 'sub/out/deep'))).isDirectory());
    await assert.rejects(stat(join(inputRoot, 'sub/out/deep/result.o')), { code: 'ENOENT' });
    await assert.rejects(stat(join(inputRoot, 'sub/gen')), { code: 'ENOENT' });

    const legacy = await stage(
      { 'in.txt': file('y') },
      { workingDirectory: 'wd', outputFiles: ['a/b.txt'], outputDirectories: ['c/d'] },
    );
    assert.ok((await stat(join(legacy.inputRoot, 'wd/a'))).isDirectory());
    assert.ok((await stat(join(legacy.inputRoot, 'wd/c'))).isDirectory());
    await assert.rejects(stat(join(legacy.inputRoot, 'wd/c/d')), { code: 'ENOENT' });
  });

  it('keeps the existing directories the tree needs and removes the others', async () => {
    const { root: digest } = await uploadTree(cas, {
      'bazel-out': { k8: { bin: { 'in.txt': file('in') } } },
      keep: { empty: {} },
      becomes: file('now a file'),
    });
    const inputRoot = join(root, `build-${n++}`);
    const existing = [
      'bazel-out',
      'bazel-out/k8',
      'bazel-out/k8/bin',
      'bazel-out/old',
      'bazel-out/old/deeper',
      'keep',
      'becomes',
      'stale',
      'wd',
      'wd/gen',
    ];
    for (const d of existing) await mkdir(join(inputRoot, d), { recursive: true });
    const staged = await stager.stage({
      inputRootDigest: digest,
      inputRoot,
      existingDirectories: existing,
      command: makeCommand({ workingDirectory: 'wd', outputPaths: ['gen/out.txt'] }),
    });
    assert.deepEqual(await listing(inputRoot), [
      'bazel-out/',
      'bazel-out/k8/',
      'bazel-out/k8/bin/',
      'bazel-out/k8/bin/in.txt',
      'becomes',
      'keep/',
      'keep/empty/',
      'wd/',
      'wd/gen/',
    ]);
    assert.equal(await readFile(join(inputRoot, 'becomes'), 'utf8'), 'now a file');
    assert.equal(staged.directories, 6);
  });

  for (const name of ['a/b', '..', '.', '']) {
    it(`rejects the input name "${name}" with INVALID_ARGUMENT`, async () => {
      await assert.rejects(stage({ [name]: file('x') }), { code: status.INVALID_ARGUMENT });
    });
  }

  it('rejects output paths that leave the input root with INVALID_ARGUMENT', async () => {
    await assert.rejects(stage({}, { outputPaths: ['../escape'] }), {
      code: status.INVALID_ARGUMENT,
    });
    await assert.rejects(stage({}, { outputPaths: ['/abs'] }), { code: status.INVALID_ARGUMENT });
  });

  it('refuses to create output parents through an input symlink', async () => {
    await assert.rejects(stage({ out: symlink(tmpdir()) }, { outputPaths: ['out/x/file'] }), {
      code: status.INVALID_ARGUMENT,
      message: /symlink/,
    });
  });

  it('names every missing file and directory blob', async () => {
    const built = await buildTree({
      present: { 'ok.txt': file('here') },
      gone: { 'unseen.txt': file('under a missing directory') },
      'absent.txt': file('never uploaded'),
    });
    const absentFile = await digestOf(SHA256, Buffer.from('never uploaded'));
    const goneDir = [...built.blobs.values()].find(
      (b) => b.data.includes('unseen.txt') && !b.data.includes('absent.txt'),
    );
    assert.ok(goneDir);
    await cas.uploadBlobs(
      [...built.blobs.values()].filter(
        (b) => b.digest.key !== absentFile.key && b.digest.key !== goneDir.digest.key,
      ),
    );
    const inputRoot = join(root, `build-${n++}`);
    await mkdir(inputRoot);
    await assert.rejects(
      stager.stage({ inputRootDigest: built.root, inputRoot, command: makeCommand({}) }),
      (err: unknown) => {
        assert.ok(err instanceof MissingBlobsError);
        assert.deepEqual(
          err.missing.map((d) => d.key).sort(),
          [absentFile.key, goneDir.digest.key].sort(),
        );
        return true;
      },
    );
  });
});

describe('InputStager on the in-process CAS', () => {
  let counting: CountingBlobStore;
  let local: LocalCas;
  let root: string;
  let stager: InputStager;
  let n = 0;

  before(async () => {
    counting = new CountingBlobStore();
    local = new LocalCas({ store: counting, digestFunction: SHA256 });
    root = await mkdtemp(join(tmpdir(), 'kiln-stager-local-'));
    const cache = await FileCache.open({
      directory: join(root, 'cache'),
      maxBytes: 1 << 30,
      cas: local,
    });
    stager = new InputStager({ cas: local, fileCache: cache });
  });
  after(async () => {
    await rm(root, { recursive: true, force: true });
  });

  async function put(spec: DirSpec) {
    const built = await buildTree(spec);
    await local.uploadBlobs([...built.blobs.values()]);
    return built;
  }

  async function stageBuilt(digest: Awaited<ReturnType<typeof put>>['root']) {
    const inputRoot = join(root, `build-${n++}`);
    await mkdir(inputRoot);
    await stager.stage({ inputRootDigest: digest, inputRoot, command: makeCommand({}) });
    return inputRoot;
  }

  it('reads each directory of a tree once, and a subtree shared with an earlier tree not again', async () => {
    const tools = {
      bazel_tools: { tools: { genrule: { 'setup.sh': file('#!/bin/bash\n', true) } } },
    };
    const first = await put({ external: tools, pkg: { 'a.txt': file('first') } });
    const second = await put({ external: tools, pkg: { 'b.txt': file('second') } });
    const directoryReads = (built: typeof first) =>
      [...built.blobs.values()]
        .filter((b) => b.data.length > 0 && b.digest.key !== built.root.key)
        .map((b) => counting.readsOf(b.digest));

    const firstRoot = await stageBuilt(first.root);
    assert.equal(await readFile(join(firstRoot, 'pkg/a.txt'), 'utf8'), 'first');
    assert.equal(counting.readsOf(first.root), 1);
    const secondRoot = await stageBuilt(second.root);
    assert.equal(await readFile(join(secondRoot, 'pkg/b.txt'), 'utf8'), 'second');
    assert.equal(
      await readFile(join(secondRoot, 'external/bazel_tools/tools/genrule/setup.sh'), 'utf8'),
      '#!/bin/bash\n',
    );
    assert.equal(counting.readsOf(second.root), 1);
    // external/, bazel_tools/, tools/ and genrule/ were read for the first tree only.
    for (const reads of directoryReads(second)) assert.ok(reads <= 1, `${reads} reads`);
  });

  it('names a missing directory read level by level', async () => {
    const built = await buildTree({
      present: { 'ok.txt': file('here') },
      gone: { 'unseen.txt': file('under a directory never uploaded') },
    });
    const goneDir = [...built.blobs.values()].find((b) => b.data.includes('unseen.txt'));
    assert.ok(goneDir);
    await local.uploadBlobs(
      [...built.blobs.values()].filter((b) => b.digest.key !== goneDir.digest.key),
    );
    await assert.rejects(stageBuilt(built.root), (err: unknown) => {
      assert.ok(err instanceof MissingBlobsError);
      assert.deepEqual(
        err.missing.map((d) => d.key),
        [goneDir.digest.key],
      );
      return true;
    });
  });
});
