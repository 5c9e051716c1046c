/**
 * The `kiln` command keeps V8's compiled code of its modules in a private
 * directory under the user's cache home, so that `kiln serve` listens sooner
 * after a restart, even one after a kill; NODE_DISABLE_COMPILE_CACHE turns it off.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { KILN_BIN, NODE24, ROOT, startKiln } from '../support/kiln-process.ts';

/** Files under `dir`, recursively; 0 when it does not exist. */
async function fileCount(dir: string): Promise<number> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => []);
  return entries.filter((e) => e.isFile()).length;
}

/** Runs `kiln args` with `env` over this environment, minus any compile cache choice of its own. */
function kiln(args: string[], env: Record<string, string>): void {
  const {
    NODE_COMPILE_CACHE: _ignored,
    NODE_DISABLE_COMPILE_CACHE: _too,
    ...inherited
  } = process.env;
  const run = spawnSync(NODE24, [KILN_BIN, ...args], {
    cwd: ROOT,
    encoding: 'utf8',
    env: { ...inherited, ...env },
  });
  assert.equal(run.status, 0, run.stderr);
}

describe('kiln compile cache', () => {
  let home: string;
  before(async () => {
    home = await mkdtemp(join(tmpdir(), 'kiln-cache-home-'));
  });
  after(() => rm(home, { recursive: true, force: true }));

  it('kiln serve (through its re-executed process) fills a cache only its user may write', async () => {
    kiln(['serve', '--help'], { XDG_CACHE_HOME: home });
    const dir = join(home, 'kiln', 'node-compile-cache');
    assert.equal((await stat(dir)).mode & 0o777, 0o700);
    // Every Kiln module the command loaded has an entry (hundreds).
    assert.ok((await fileCount(dir)) > 50, `${await fileCount(dir)} cache entries`);
  });

  it('kiln serve killed with SIGKILL after it listened has written its cache', async () => {
    const cacheHome = join(home, 'killed');
    const dataDir = join(home, 'killed-data');
    await mkdir(dataDir, { recursive: true });
    const config = join(dataDir, 'kiln.yaml');
    await writeFile(config, 'execution:\n  localWorkers: 0\n');
    const { NODE_COMPILE_CACHE: _a, NODE_DISABLE_COMPILE_CACHE: _b, ...inherited } = process.env;
    const kilnServe = await startKiln(
      ['--listen', '127.0.0.1:0', '--data-dir', dataDir, '--config', config],
      { env: { ...inherited, XDG_CACHE_HOME: cacheHome } },
    );
    try {
      // An answer after the "serving" line: the flush that follows the line is over.
      const web = /Web UI and metrics on (\S+)/.exec(kilnServe.stdout())?.[1];
      assert.ok(web, kilnServe.stdout());
      assert.equal((await fetch(new URL('/healthz', web))).status, 200);
    } finally {
      const exited = once(kilnServe.child, 'exit');
      kilnServe.child.kill('SIGKILL');
      await exited;
    }
    // Without a flush, Node writes the cache only at a clean exit, which never came.
    const entries = await fileCount(join(cacheHome, 'kiln', 'node-compile-cache'));
    assert.ok(entries > 50, `${entries} cache entries`);
  });

  it('NODE_DISABLE_COMPILE_CACHE leaves no cache behind', async () => {
    const other = join(home, 'disabled');
    kiln(['--help'], { XDG_CACHE_HOME: other, NODE_DISABLE_COMPILE_CACHE: '1' });
    assert.equal(await fileCount(other), 0);
  });
});
