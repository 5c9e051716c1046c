import assert from 'node:assert/strict';
import { chmod, mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { BuildDirectoryPool } from '../../src/worker/build-directory-pool.ts';

describe('BuildDirectoryPool', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kiln-pool-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('empties a used directory in the background and gives it to the next action', async () => {
    const buildRoot = join(dir, 'reuse');
    const pool = new BuildDirectoryPool({ buildRoot });
    const first = await pool.acquire();
    await mkdir(join(first.inputRoot, 'out', 'nested'), { recursive: true });
    await writeFile(join(first.inputRoot, 'out', 'nested', 'file'), 'data');
    await writeFile(first.stdoutPath, 'old output');
    assert.equal(await first.remove(), true);
    await pool.settled();

    const second = await pool.acquire();
    assert.equal(second.path, first.path, 'the same directory is reused');
    assert.deepEqual(await readdir(second.inputRoot), []);
    await pool.close();
  });

  it('deletes instead of reusing a directory whose input root the action changed', async () => {
    const buildRoot = join(dir, 'changed');
    const pool = new BuildDirectoryPool({ buildRoot });
    const used = await pool.acquire();
    await chmod(used.inputRoot, 0o500);
    assert.equal(await used.remove(), true);
    await pool.settled();
    assert.deepEqual(await readdir(buildRoot), [], 'the directory is gone');
    const next = await pool.acquire();
    assert.notEqual(next.path, used.path);
    await pool.close();
  });

  it('keeps no more idle directories than its limit, and deletes them on close', async () => {
    const buildRoot = join(dir, 'limit');
    const pool = new BuildDirectoryPool({ buildRoot, maxIdle: 1 });
    const a = await pool.acquire();
    const b = await pool.acquire();
    await a.remove();
    await b.remove();
    await pool.settled();
    assert.equal((await readdir(buildRoot)).length, 1);
    await pool.close();
    assert.deepEqual(await readdir(buildRoot), []);
  });
});
