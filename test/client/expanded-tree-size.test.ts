import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { expandedTreeSize } from '../../src/client/expanded-tree-size.ts';
import { type Digest, digestOf } from '../../src/digest/digest.ts';
import { SHA256 } from '../../src/digest/digest-function.ts';
import { Directory } from '../../src/gen/build/bazel/remote/execution/v2/remote_execution.js';

const fileDigest = { hash: 'a'.repeat(64), sizeBytes: 3 };

/** A Directory message, its digest, and the map a fetched tree keeps it in. */
async function add(
  tree: Map<string, Directory>,
  directory: Parameters<typeof Directory.fromPartial>[0],
): Promise<{ digest: Digest; node: { hash: string; sizeBytes: number } }> {
  const message = Directory.fromPartial(directory);
  const digest = await digestOf(SHA256, Directory.encode(message).finish());
  tree.set(digest.key, message);
  return { digest, node: { hash: digest.hash, sizeBytes: digest.size } };
}

describe('expandedTreeSize', () => {
  it('counts the files, directories and symlinks of every path, shared directories at each', async () => {
    const tree = new Map<string, Directory>();
    const shared = await add(tree, {
      files: [{ name: 'f', digest: fileDigest }],
      symlinks: [{ name: 'l', target: 'f' }],
    });
    const middle = await add(tree, {
      directories: [
        { name: 'a', digest: shared.node },
        { name: 'b', digest: shared.node },
      ],
    });
    const root = await add(tree, {
      files: [{ name: 'top', digest: fileDigest }],
      directories: [
        { name: 'm', digest: middle.node },
        { name: 's', digest: shared.node },
      ],
    });
    // top, m, s, s/f, s/l, m/a, m/b, m/a/f, m/a/l, m/b/f, m/b/l
    assert.equal(expandedTreeSize(root.digest, tree, 100), 11);
    assert.equal(expandedTreeSize(root.digest, tree, 11), 11);
    assert.equal(expandedTreeSize(root.digest, tree, 10), 11);
    assert.equal(expandedTreeSize(middle.digest, tree, 100), 6);
  });

  it('stops at the limit for a DAG of 40 levels that names 2^40 paths', async () => {
    const tree = new Map<string, Directory>();
    let level = await add(tree, { files: [{ name: 'f', digest: fileDigest }] });
    for (let i = 0; i < 40; i++) {
      level = await add(tree, {
        directories: [
          { name: 'a', digest: level.node },
          { name: 'b', digest: level.node },
        ],
      });
    }
    const started = performance.now();
    assert.equal(expandedTreeSize(level.digest, tree, 1_000_000), 1_000_001);
    assert.ok(performance.now() - started < 50);
  });

  it('counts absent directories and nodes without a valid digest as empty', async () => {
    const tree = new Map<string, Directory>();
    const root = await add(tree, {
      directories: [
        { name: 'absent', digest: { hash: 'b'.repeat(64), sizeBytes: 10 } },
        { name: 'broken', digest: { hash: 'XYZ', sizeBytes: 1 } },
        { name: 'none' },
      ],
    });
    assert.equal(expandedTreeSize(root.digest, tree, 100), 3);
    assert.equal(expandedTreeSize({ ...root.digest, key: 'sha256/none_0' }, new Map(), 100), 0);
  });

  it('counts a directory that contains itself as over the limit', async () => {
    const tree = new Map<string, Directory>();
    const loopDigest = { hash: 'c'.repeat(64), sizeBytes: 10 };
    const root = await add(tree, { directories: [{ name: 'loop', digest: loopDigest }] });
    tree.set(
      `sha256/${loopDigest.hash}_${loopDigest.sizeBytes}`,
      Directory.fromPartial({ directories: [{ name: 'again', digest: loopDigest }] }),
    );
    assert.equal(expandedTreeSize(root.digest, tree, 1000), 1001);
  });
});
