/**
 * The worker (often root) collects an untrusted action's outputs: nothing
 * outside the input root is ever read on the action's behalf, and no FIFO
 * or device makes collection block or read.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { status } from '@grpc/grpc-js';
import type { Digest } from '../../src/digest/digest.ts';
import { SHA256 } from '../../src/digest/digest-function.ts';
import {
  type ActionResult,
  type Command,
  Tree,
} from '../../src/gen/build/bazel/remote/execution/v2/remote_execution.js';
import { type OutputSink, OutputUploader } from '../../src/worker/output-uploader.ts';
import { randomBlob } from '../support/blobs.ts';
import { makeCommand } from './input-tree-builder.ts';

/** A CAS that holds nothing and records every byte sent to it, by hash. */
function recordingSink(options: { onFindMissing?: () => Promise<void> } = {}) {
  const stored = new Map<string, Buffer>();
  const files: string[] = [];
  const sink: OutputSink = {
    findMissing: async (digests) => {
      await options.onFindMissing?.();
      return [...digests];
    },
    uploadBlobs: async (blobs) => {
      for (const b of blobs) stored.set(b.digest.hash, Buffer.from(b.data));
    },
    uploadFile: async (digest: Digest, path: string) => {
      files.push(path);
      stored.set(digest.hash, await readFile(path));
    },
  };
  const sent = (secret: Buffer) => [...stored.values()].some((b) => b.includes(secret));
  return { sink, stored, files, sent };
}

/** Rejects if `promise` has not settled within `ms`, so that a hang fails instead of stalling. */
function within<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`still running after ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * A FIFO whose reader, should anything open it for reading and block (a
 * synchronous open blocks the whole process, timers and all), is let go
 * after `ms` by a writer in another process: a blocking collection then ends,
 * reads nothing, and the test fails instead of hanging the suite.
 */
function fifo(path: string, ms: number): ChildProcess {
  execFileSync('mkfifo', [path]);
  const child = spawn('sh', ['-c', `sleep ${ms / 1000}; exec 3<>"$0"`, path], { stdio: 'ignore' });
  child.unref();
  return child;
}

describe('output collection on behalf of an untrusted action', () => {
  let root: string;
  let n = 0;
  const children: ChildProcess[] = [];

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'kiln-output-safety-'));
  });
  after(async () => {
    for (const child of children) if (child.exitCode === null) child.kill();
    await rm(root, { recursive: true, force: true });
  });

  /** A build directory, and beside it (outside the input root) a directory holding a secret. */
  async function buildDir() {
    const dir = join(root, `b${n++}`);
    const inputRoot = join(dir, 'root');
    const outside = join(dir, 'outside');
    await mkdir(inputRoot, { recursive: true });
    await mkdir(outside);
    const secret = Buffer.from(`SECRET-${randomUUID()}`);
    await writeFile(join(outside, 'secret.txt'), secret);
    await writeFile(join(dir, 'stdout'), '');
    await writeFile(join(dir, 'stderr'), '');
    return {
      inputRoot,
      outside,
      secret,
      stdoutPath: join(dir, 'stdout'),
      stderrPath: join(dir, 'stderr'),
    };
  }

  function upload(
    b: Awaited<ReturnType<typeof buildDir>>,
    command: Partial<Command>,
    cas: OutputSink,
    directUploadBytes?: number,
  ): Promise<ActionResult> {
    const uploader = new OutputUploader({
      cas,
      digestFunction: SHA256,
      smallFileBytes: 4096,
      directUploadBytes,
    });
    const { inputRoot, stdoutPath, stderrPath } = b;
    return uploader.upload({
      inputRoot,
      stdoutPath,
      stderrPath,
      command: makeCommand(command),
      exitCode: 0,
    });
  }

  const failedPrecondition = (message: RegExp) => ({ code: status.FAILED_PRECONDITION, message });

  it('fails promptly on a FIFO declared as an output file, without opening it to read', async () => {
    const b = await buildDir();
    children.push(fifo(join(b.inputRoot, 'p'), 5000));
    const { sink } = recordingSink();
    const started = Date.now();
    for (const command of [{ outputPaths: ['p'] }, { outputFiles: ['p'] }]) {
      await assert.rejects(
        within(upload(b, command, sink), 4000),
        failedPrecondition(
          /output "p" is a FIFO; outputs must be regular files, directories or symlinks/,
        ),
      );
    }
    assert.ok(Date.now() - started < 4000, 'no wait for a writer');
  });

  it('fails promptly on a FIFO inside a declared output directory', async () => {
    const b = await buildDir();
    await mkdir(join(b.inputRoot, 'gen/sub'), { recursive: true });
    await writeFile(join(b.inputRoot, 'gen/a.txt'), 'a');
    children.push(fifo(join(b.inputRoot, 'gen/sub/p'), 5000));
    const { sink } = recordingSink();
    const started = Date.now();
    await assert.rejects(
      within(upload(b, { outputPaths: ['gen'] }, sink), 4000),
      failedPrecondition(/output "gen\/sub\/p" is a FIFO/),
    );
    assert.ok(Date.now() - started < 4000, 'no wait for a writer');
  });

  it('fails on a character device output, top level or in a directory, without reading it', async (t) => {
    if (process.getuid?.() !== 0) {
      t.skip('creating a device node (mknod) needs root; this test runs as root in CI');
      return;
    }
    const b = await buildDir();
    await mkdir(join(b.inputRoot, 'gen'));
    // /dev/zero's numbers: a collection that read it would never finish.
    execFileSync('mknod', [join(b.inputRoot, 'zero'), 'c', '1', '5']);
    execFileSync('mknod', [join(b.inputRoot, 'gen/zero'), 'c', '1', '5']);
    const { sink } = recordingSink();
    await assert.rejects(
      within(upload(b, { outputPaths: ['zero'] }, sink), 4000),
      failedPrecondition(/output "zero" is a character device/),
    );
    await assert.rejects(
      within(upload(b, { outputPaths: ['gen'] }, sink), 4000),
      failedPrecondition(/output "gen\/zero" is a character device/),
    );
  });

  it('reports an output file that is a symlink to a file outside as a symlink, uploading none of it', async () => {
    const b = await buildDir();
    const target = join(b.outside, 'secret.txt');
    await symlink(target, join(b.inputRoot, 'leak'));
    await symlink('/etc/passwd', join(b.inputRoot, 'passwd'));
    const { sink, stored, sent } = recordingSink();
    const result = await upload(b, { outputPaths: ['leak', 'passwd'] }, sink);
    assert.deepEqual(
      result.outputSymlinks.map((s) => [s.path, s.target]),
      [
        ['leak', target],
        ['passwd', '/etc/passwd'],
      ],
    );
    assert.deepEqual(result.outputFiles, []);
    assert.equal(sent(b.secret), false, 'the outside file was never uploaded');
    assert.equal(stored.size, 0, 'nothing at all was uploaded');
  });

  it('records a symlink inside an output directory as a SymlinkNode, uploading none of its target', async () => {
    const b = await buildDir();
    await mkdir(join(b.inputRoot, 'gen'));
    await writeFile(join(b.inputRoot, 'gen/own.txt'), 'own');
    await symlink(join(b.outside, 'secret.txt'), join(b.inputRoot, 'gen/leak'));
    await symlink(b.outside, join(b.inputRoot, 'gen/leakdir'));
    const { sink, stored, sent } = recordingSink();
    const result = await upload(b, { outputPaths: ['gen'] }, sink);
    const digest = result.outputDirectories[0]?.treeDigest;
    assert.ok(digest);
    const tree = Tree.decode(stored.get(digest.hash) as Buffer);
    assert.deepEqual(
      tree.root?.symlinks.map((s) => [s.name, s.target]),
      [
        ['leak', join(b.outside, 'secret.txt')],
        ['leakdir', b.outside],
      ],
    );
    assert.deepEqual(
      tree.root?.files.map((f) => f.name),
      ['own.txt'],
    );
    assert.deepEqual(tree.root?.directories, []);
    assert.equal(sent(b.secret), false, 'the outside file was never uploaded');
  });

  it('refuses an output file whose parent directory is a symlink leading outside', async () => {
    const b = await buildDir();
    await symlink(b.outside, join(b.inputRoot, 'out'));
    const { sink, sent } = recordingSink();
    await assert.rejects(
      upload(b, { outputPaths: ['out/secret.txt'] }, sink),
      failedPrecondition(/outside the input root/),
    );
    assert.equal(sent(b.secret), false);
  });

  it('reads nothing outside when a parent is swapped for a symlink between hashing and upload', async () => {
    const b = await buildDir();
    await mkdir(join(b.inputRoot, 'gen'));
    await writeFile(join(b.inputRoot, 'gen/secret.txt'), 'harmless contents');
    // What a process the action left behind does once the outputs are hashed.
    const swap = async () => {
      await rename(join(b.inputRoot, 'gen'), join(b.inputRoot, 'gen.old'));
      await symlink(b.outside, join(b.inputRoot, 'gen'));
    };
    const { sink, sent } = recordingSink({ onFindMissing: swap });
    await assert.rejects(
      upload(b, { outputPaths: ['gen'] }, sink, 0),
      failedPrecondition(/output "gen\/secret.txt" resolves outside the input root/),
    );
    assert.equal(sent(b.secret), false, 'the outside file was never uploaded');
  });

  it('uploads nothing of an output replaced by another file between hashing and upload', async () => {
    const b = await buildDir();
    await writeFile(join(b.inputRoot, 'big'), randomBlob(100_000));
    await writeFile(join(b.inputRoot, 'other'), b.secret);
    const swap = () => rename(join(b.inputRoot, 'other'), join(b.inputRoot, 'big'));
    const { sink, sent } = recordingSink({ onFindMissing: swap });
    await assert.rejects(
      upload(b, { outputPaths: ['big'] }, sink, 0),
      failedPrecondition(/output "big" changed while it was being uploaded/),
    );
    assert.equal(sent(b.secret), false);
  });

  it('streams a large output from the descriptor it checked, not from its path', async () => {
    const b = await buildDir();
    const big = randomBlob(100_000);
    await mkdir(join(b.inputRoot, 'gen'));
    await writeFile(join(b.inputRoot, 'big'), big);
    await writeFile(join(b.inputRoot, 'gen/big'), Buffer.concat([big, big]));
    const { sink, files, stored } = recordingSink();
    const result = await upload(b, { outputPaths: ['big', 'gen'] }, sink);
    assert.equal(files.length, 2);
    for (const path of files) assert.match(path, /^\/proc\/self\/fd\/\d+$/);
    const digest = result.outputFiles[0]?.digest;
    assert.ok(stored.get(digest?.hash ?? '')?.equals(big));
  });
});
