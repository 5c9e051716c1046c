import assert from 'node:assert/strict';
import { chmod, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { status } from '@grpc/grpc-js';
import { CasClient } from '../../src/client/cas-client.ts';
import { type Digest, digestOf } from '../../src/digest/digest.ts';
import { SHA256 } from '../../src/digest/digest-function.ts';
import {
  type Command,
  Command_OutputDirectoryFormat,
  Directory,
  Tree,
} from '../../src/gen/build/bazel/remote/execution/v2/remote_execution.js';
import { OutputUploader } from '../../src/worker/output-uploader.ts';
import { randomBlob } from '../support/blobs.ts';
import { startTestServer, type TestServer } from '../support/test-server.ts';
import { CountingBlobStore } from './counting-blob-store.ts';
import { makeCommand } from './input-tree-builder.ts';

describe('OutputUploader', () => {
  let t: TestServer;
  let counting: CountingBlobStore;
  let cas: CasClient;
  let uploader: OutputUploader;
  let root: string;
  let n = 0;

  before(async () => {
    counting = new CountingBlobStore();
    t = await startTestServer({ casBackend: counting });
    cas = new CasClient({ address: t.server.address });
    uploader = new OutputUploader({ cas, digestFunction: SHA256, smallFileBytes: 4096 });
    root = await mkdtemp(join(tmpdir(), 'kiln-uploader-'));
  });
  after(async () => {
    cas.close();
    await t.stop();
    await rm(root, { recursive: true, force: true });
  });

  /** A build directory with stdout/stderr files next to the input root. */
  async function buildDir(stdout = 'out\n', stderr = '') {
    const dir = join(root, `b${n++}`);
    const inputRoot = join(dir, 'root');
    await mkdir(inputRoot, { recursive: true });
    await writeFile(join(dir, 'stdout'), stdout);
    await writeFile(join(dir, 'stderr'), stderr);
    return { inputRoot, stdoutPath: join(dir, 'stdout'), stderrPath: join(dir, 'stderr') };
  }

  const upload = (b: Awaited<ReturnType<typeof buildDir>>, command: Partial<Command>) =>
    uploader.upload({ ...b, command: makeCommand(command), exitCode: 0 });

  const toDigest = (m: { hash: string; sizeBytes: number } | undefined): Digest => {
    assert.ok(m);
    return cas.digest(m.hash, m.sizeBytes);
  };

  it('uploads output files with their executable bit, small and large, and stdout', async () => {
    const b = await buildDir('hello stdout\n', 'a warning\n');
    const big = randomBlob(50_000);
    await mkdir(join(b.inputRoot, 'out'));
    await writeFile(join(b.inputRoot, 'out/lib.a'), 'archive');
    await writeFile(join(b.inputRoot, 'out/tool'), big);
    await chmod(join(b.inputRoot, 'out/tool'), 0o755);
    const result = await upload(b, { outputPaths: ['out/lib.a', 'out/tool'] });
    assert.deepEqual(
      result.outputFiles.map((f) => [f.path, f.isExecutable]),
      [
        ['out/lib.a', false],
        ['out/tool', true],
      ],
    );
    const tool = result.outputFiles[1];
    assert.ok((await cas.readBlob(toDigest(tool?.digest))).equals(big));
    assert.equal((await cas.readBlob(toDigest(result.stdoutDigest))).toString(), 'hello stdout\n');
    assert.equal((await cas.readBlob(toDigest(result.stderrDigest))).toString(), 'a warning\n');
  });

  it('uploads nothing the CAS already holds', async () => {
    const asking = new OutputUploader({ cas, digestFunction: SHA256, directUploadBytes: 0 });
    const b = await buildDir('same\n');
    await writeFile(join(b.inputRoot, 'x'), 'same content every time');
    await upload(b, { outputPaths: ['x'] });
    const before = counting.puts;
    const result = await asking.upload({
      ...b,
      command: makeCommand({ outputPaths: ['x'] }),
      exitCode: 0,
    });
    assert.equal(result.outputFiles.length, 1);
    assert.equal(counting.puts, before);
  });

  it('sends a few KiB of outputs without asking which the CAS holds', async () => {
    const b = await buildDir('small\n');
    await writeFile(join(b.inputRoot, 'y'), 'small output');
    await upload(b, { outputPaths: ['y'] });
    const before = counting.puts;
    const result = await upload(b, { outputPaths: ['y'] });
    // Sent again (output and stdout): nobody asked whether the CAS had them.
    assert.equal(counting.puts, before + 2);
    const stored = await cas.readBlob(toDigest(result.outputFiles[0]?.digest));
    assert.equal(stored.toString(), 'small output');
    assert.equal((await cas.readBlob(toDigest(result.stdoutDigest))).toString(), 'small\n');
  });

  it('sends nothing for empty stdout, stderr and outputs, and still reports their digests', async () => {
    const calls: string[] = [];
    const recording = new OutputUploader({
      digestFunction: SHA256,
      cas: {
        findMissing: async (digests) => {
          calls.push(`findMissing ${digests.length}`);
          return [...digests];
        },
        uploadBlobs: async (blobs) => {
          calls.push(`uploadBlobs ${blobs.map((b) => b.digest.size).join(',')}`);
        },
        uploadFile: async (digest) => {
          calls.push(`uploadFile ${digest.size}`);
        },
      },
    });
    const b = await buildDir('', '');
    await writeFile(join(b.inputRoot, 'empty'), '');
    const result = await recording.upload({
      ...b,
      command: makeCommand({ outputPaths: ['empty'] }),
      exitCode: 0,
    });
    assert.deepEqual(calls, [], 'the empty blob is always present: nothing to ask or send');
    const empty = await digestOf(SHA256, Buffer.alloc(0));
    for (const digest of [
      result.stdoutDigest,
      result.stderrDigest,
      result.outputFiles[0]?.digest,
    ]) {
      assert.deepEqual(digest, { hash: empty.hash, sizeBytes: 0 });
    }

    await writeFile(b.stdoutPath, 'some output\n');
    await recording.upload({ ...b, command: makeCommand({ outputPaths: ['empty'] }), exitCode: 0 });
    assert.deepEqual(calls, ['uploadBlobs 12'], 'only the non-empty stdout is sent');
  });

  it('reports a directory as a topologically sorted Tree whose blobs are all in the CAS', async () => {
    const b = await buildDir();
    const d = join(b.inputRoot, 'gen');
    for (const sub of ['a', 'b']) {
      await mkdir(join(d, sub, 'inner'), { recursive: true });
      await writeFile(join(d, sub, 'inner', 'same.txt'), 'identical subtrees');
    }
    await mkdir(join(d, 'empty'));
    await writeFile(join(d, 'run.sh'), '#!/bin/sh\n');
    await chmod(join(d, 'run.sh'), 0o755);
    await symlink('a/inner/same.txt', join(d, 'alias'));
    const result = await upload(b, { outputPaths: ['gen'] });
    const [dir] = result.outputDirectories;
    assert.equal(dir?.path, 'gen');
    assert.equal(dir?.isTopologicallySorted, true);
    assert.equal(dir?.rootDirectoryDigest, undefined);
    const treeBytes = await cas.readBlob(toDigest(dir?.treeDigest));
    const tree = Tree.decode(treeBytes);
    assert.ok(Buffer.from(Tree.encode(tree).finish()).equals(treeBytes), 'a canonical Tree');
    const rootDir = tree.root as Directory;
    assert.deepEqual(
      rootDir.directories.map((x) => x.name),
      ['a', 'b', 'empty'],
    );
    assert.deepEqual(
      rootDir.files.map((f) => [f.name, f.isExecutable]),
      [['run.sh', true]],
    );
    assert.deepEqual(rootDir.symlinks, [
      { name: 'alias', target: 'a/inner/same.txt', nodeProperties: undefined },
    ]);
    // a and b are identical: their Directory (and inner/) appear once each, plus the empty one.
    assert.equal(tree.children.length, 3);
    // Every child is referenced by a directory stored before it, and stored once.
    const referenced = new Set(rootDir.directories.map((x) => toDigest(x.digest).key));
    const stored = new Set<string>();
    for (const child of tree.children) {
      const key = (await digestOf(SHA256, Directory.encode(child).finish())).key;
      assert.ok(referenced.has(key), 'a parent comes before its child');
      assert.ok(!stored.has(key), 'each directory once');
      stored.add(key);
      for (const x of child.directories) referenced.add(toDigest(x.digest).key);
    }
    const fileDigests = [rootDir, ...tree.children].flatMap((x) =>
      x.files.map((f) => toDigest(f.digest)),
    );
    assert.deepEqual(await cas.findMissing(fileDigests), []);
  });

  it('also stores every Directory when the command asks for the directory format', async () => {
    const b = await buildDir();
    await mkdir(join(b.inputRoot, 'gen/sub'), { recursive: true });
    await writeFile(join(b.inputRoot, 'gen/sub/f'), 'f');
    const result = await upload(b, {
      outputPaths: ['gen'],
      outputDirectoryFormat: Command_OutputDirectoryFormat.TREE_AND_DIRECTORY,
    });
    const rootDigest = toDigest(result.outputDirectories[0]?.rootDirectoryDigest);
    const rootDir = Directory.decode(await cas.readBlob(rootDigest));
    const sub = Directory.decode(await cas.readBlob(toDigest(rootDir.directories[0]?.digest)));
    assert.equal(sub.files[0]?.name, 'f');
  });

  it('reports symlink outputs as symlinks, never following them', async () => {
    const b = await buildDir();
    await writeFile(join(b.inputRoot, 'real'), 'target contents');
    await symlink('real', join(b.inputRoot, 'link'));
    await symlink('/etc', join(b.inputRoot, 'abs'));
    const modern = await upload(b, { outputPaths: ['link', 'abs'] });
    assert.deepEqual(
      modern.outputSymlinks.map((s) => [s.path, s.target]),
      [
        ['abs', '/etc'],
        ['link', 'real'],
      ],
    );
    assert.deepEqual(modern.outputFiles, []);
    const legacy = await upload(b, { outputFiles: ['link'], outputDirectories: ['abs'] });
    assert.deepEqual(
      legacy.outputFileSymlinks.map((s) => s.path),
      ['link'],
    );
    assert.deepEqual(
      legacy.outputDirectorySymlinks.map((s) => s.path),
      ['abs'],
    );
    assert.deepEqual(legacy.outputSymlinks, []);
  });

  it('omits outputs that were not produced', async () => {
    const b = await buildDir();
    await writeFile(join(b.inputRoot, 'made'), 'yes');
    const result = await upload(b, { outputPaths: ['made', 'not-made', 'no/such/dir/file'] });
    assert.deepEqual(
      result.outputFiles.map((f) => f.path),
      ['made'],
    );
    assert.deepEqual(result.outputDirectories, []);
  });

  it('uses output_paths when set and ignores the legacy fields then', async () => {
    const b = await buildDir();
    await writeFile(join(b.inputRoot, 'modern'), 'm');
    await writeFile(join(b.inputRoot, 'legacy'), 'l');
    const result = await upload(b, { outputPaths: ['modern'], outputFiles: ['legacy'] });
    assert.deepEqual(
      result.outputFiles.map((f) => f.path),
      ['modern'],
    );
  });

  it('reports output paths relative to the working directory', async () => {
    const b = await buildDir();
    await mkdir(join(b.inputRoot, 'wd/out'), { recursive: true });
    await writeFile(join(b.inputRoot, 'wd/out/o'), 'o');
    const result = await upload(b, { workingDirectory: 'wd', outputFiles: ['out/o'] });
    assert.equal(result.outputFiles[0]?.path, 'out/o');
  });

  it('fails with FAILED_PRECONDITION when a legacy output has the wrong type', async () => {
    const b = await buildDir();
    await mkdir(join(b.inputRoot, 'adir'));
    await writeFile(join(b.inputRoot, 'afile'), 'x');
    await assert.rejects(upload(b, { outputFiles: ['adir'] }), {
      code: status.FAILED_PRECONDITION,
    });
    await assert.rejects(upload(b, { outputDirectories: ['afile'] }), {
      code: status.FAILED_PRECONDITION,
    });
  });

  it('refuses outputs reached through a symlink that leaves the input root', async () => {
    const b = await buildDir();
    const outside = join(root, `outside-${n++}`);
    await mkdir(outside);
    await writeFile(join(outside, 'secret'), 'not yours');
    await symlink(outside, join(b.inputRoot, 'escape'));
    await assert.rejects(upload(b, { outputPaths: ['escape/secret'] }), {
      code: status.FAILED_PRECONDITION,
    });
  });
});
