import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type Digest, digestOf, toDigestMessage } from '../../src/digest/digest.ts';
import { SHA256 } from '../../src/digest/digest-function.ts';
import {
  ActionResult,
  Directory,
  type DirectoryNode,
  type FileNode,
} from '../../src/gen/build/bazel/remote/execution/v2/remote_execution.js';
import { BuildTracker } from '../../src/observe/build-tracker.ts';
import { CriticalPaths } from '../../src/observe/critical-path.ts';
import { putBuffer } from '../../src/storage/blob-store.ts';
import { MemoryBlobStore } from '../../src/storage/memory-blob-store.ts';

const cas = new MemoryBlobStore({ maxBytes: 16 * 1024 * 1024 });

async function blob(data: Uint8Array): Promise<Digest> {
  const digest = await digestOf(SHA256, data);
  await putBuffer(cas, digest, data);
  return digest;
}

/** Stores `files` (name → content digest) under `sub/` and returns the root's digest. */
async function inputTree(files: Record<string, Digest>): Promise<Digest> {
  const fileNodes: FileNode[] = Object.entries(files).map(([name, d]) => ({
    name,
    digest: toDigestMessage(d),
    isExecutable: false,
    nodeProperties: undefined,
  }));
  const sub = await blob(Directory.encode(Directory.fromPartial({ files: fileNodes })).finish());
  const dirs: DirectoryNode[] = [{ name: 'sub', digest: toDigestMessage(sub) }];
  return blob(Directory.encode(Directory.fromPartial({ directories: dirs })).finish());
}

function producing(path: string, digest: Digest): ActionResult {
  return ActionResult.fromPartial({
    outputFiles: [{ path, digest: toDigestMessage(digest), isExecutable: false }],
  });
}

describe('CriticalPaths', () => {
  it('adds execution times along chains of outputs consumed as inputs, per build', async () => {
    const paths = new CriticalPaths({ cas });
    const source = await blob(Buffer.from('source'));
    const a = await blob(Buffer.from('output of a'));
    const b = await blob(Buffer.from('output of b'));
    const x = await blob(Buffer.from('output of x'));

    const record = (invocationId: string, files: Record<string, Digest>, out: Digest, ms: number) =>
      inputTree(files).then((inputRoot) =>
        paths.record({ invocationId, inputRoot, result: producing('out', out), executionMs: ms }),
      );
    assert.equal(await record('build', { src: source }, a, 10), 10);
    assert.equal(await record('build', { a }, b, 20), 30, 'b consumes a');
    assert.equal(await record('build', { src: source }, x, 50), 50, 'x is independent');
    assert.equal(
      await record('build', { b, x }, source, 30),
      80,
      'the longer of b (30) and x (50)',
    );
    // Another build never sees this build's producers.
    assert.equal(await record('other', { b }, a, 5), 5);
  });

  it('counts an input tree it cannot read as having no producers', async () => {
    const paths = new CriticalPaths({ cas });
    const absent = await digestOf(SHA256, Buffer.from('never stored'));
    const ms = await paths.record({
      invocationId: 'b',
      inputRoot: absent,
      result: undefined,
      executionMs: 7,
    });
    assert.equal(ms, 7);
  });

  it('raises a tracked build critical duration, never lowers it', () => {
    const builds = new BuildTracker();
    builds.recordExecution({ invocationId: 'inv' }, { failed: false, executionMs: 40 });
    builds.recordCriticalPath('inv', 90);
    assert.equal(builds.get('inv')?.criticalMs, 90);
    builds.recordCriticalPath('inv', 60);
    assert.equal(builds.get('inv')?.criticalMs, 90);
    builds.recordCriticalPath('unknown', 60);
    assert.equal(builds.get('unknown'), undefined);
  });
});
