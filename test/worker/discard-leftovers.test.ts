import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { discardLeftovers } from '../../src/worker/discard-leftovers.ts';

describe('discardLeftovers', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kiln-leftovers-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('moves a used build root aside at once and deletes it in the background', async () => {
    const buildRoot = join(dir, 'build');
    await mkdir(join(buildRoot, 'action-old', 'root', 'out'), { recursive: true });
    await writeFile(join(buildRoot, 'action-old', 'root', 'out', 'file'), 'left behind');
    await mkdir(join(buildRoot, '.trash', 'x'), { recursive: true });
    const { removed } = await discardLeftovers(buildRoot);
    assert.deepEqual(await readdir(dir).then((names) => names.includes('build')), false);
    await removed;
    assert.deepEqual(await readdir(dir), [], 'nothing of the old root remains');
  });

  it('leaves an empty or missing build root alone', async () => {
    const empty = join(dir, 'empty');
    await mkdir(empty);
    await (await discardLeftovers(empty)).removed;
    assert.deepEqual(await readdir(empty), []);
    await (await discardLeftovers(join(dir, 'missing'))).removed;
  });
});
