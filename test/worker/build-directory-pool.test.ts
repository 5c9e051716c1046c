import assert from 'node:assert/strict';
import { chmod, mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { BuildDirectoryPool } from '../../src/worker/build-directory-pool.ts';
import { emptyKeepingDirectoriesSync } from '../../src/worker/keep-directories.mjs';
import { listing } from '../support/fs-listing.ts';

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

  it("keeps the used input root's directories for the next action when told how", async () => {
    const buildRoot = join(dir, 'skeleton');
    const pool = new BuildDirectoryPool({
      buildRoot,
      emptyKeepingDirectories: async (path, keep) => emptyKeepingDirectoriesSync(path, keep),
    });
    const first = await pool.acquire();
    assert.deepEqual(first.skeleton, []);
    await mkdir(join(first.inputRoot, 'bazel-out', 'bin'), { recursive: true });
    await writeFile(join(first.inputRoot, 'bazel-out', 'bin', 'out.txt'), 'data');
    await first.remove();
    await pool.settled();

    const second = await pool.acquire();
    assert.equal(second.path, first.path);
    assert.deepEqual(second.skeleton, ['bazel-out', 'bazel-out/bin']);
    assert.deepEqual(await listing(second.inputRoot), ['bazel-out/', 'bazel-out/bin/']);
    assert.deepEqual(await readdir(buildRoot), [basename(first.path)], 'no trash');
    await second.remove();
    await pool.close();
    assert.deepEqual(await readdir(buildRoot), []);
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
    // One kept directory, and the trash holding a's used input root.
    assert.deepEqual((await readdir(buildRoot)).filter((n) => n !== '.trash').length, 1);
    await pool.close();
    assert.deepEqual(await readdir(buildRoot), []);
  });

  it('moves used input roots aside while busy and deletes them once idle', async () => {
    const buildRoot = join(dir, 'deferred');
    const pool = new BuildDirectoryPool({ buildRoot, sweepIdleMs: 50 });
    const busy = await pool.acquire();
    const used = await pool.acquire();
    await mkdir(join(used.inputRoot, 'out'), { recursive: true });
    await writeFile(join(used.inputRoot, 'out', 'file'), 'data');
    await used.remove();
    await pool.settled();
    const trash = join(buildRoot, '.trash');
    assert.equal((await readdir(trash)).length, 1, 'moved aside, not deleted, while busy');
    const again = await pool.acquire();
    assert.equal(again.path, used.path);
    assert.deepEqual(await readdir(again.inputRoot), [], 'a fresh, empty input root');
    await sleep(150);
    assert.equal((await readdir(trash)).length, 1, 'still busy: nothing deleted');
    await again.remove();
    await busy.remove();
    await pool.settled();
    for (let i = 0; i < 100 && (await readdir(trash)).length > 0; i++) await sleep(20);
    assert.deepEqual(await readdir(trash), [], 'deleted once idle');
    await pool.close();
  });

  it('deletes at once when deferral is off', async () => {
    const buildRoot = join(dir, 'immediate');
    const pool = new BuildDirectoryPool({ buildRoot, maxDeferred: 0 });
    const used = await pool.acquire();
    await writeFile(join(used.inputRoot, 'file'), 'data');
    await used.remove();
    await pool.settled();
    assert.deepEqual((await readdir(buildRoot)).includes('.trash'), false);
    assert.deepEqual(await readdir(used.inputRoot), []);
    await pool.close();
  });
});
