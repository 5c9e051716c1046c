/**
 * The documented way to get a `kiln` command: a symbolic link to
 * bin/kiln.mjs in a directory on PATH, with the Node 24 that `npm ci`
 * installs (node_modules/.bin) ahead of the system's. The command then
 * runs from any directory and prints nothing but its output, and `npx kiln`
 * from the checkout prints no EBADENGINE warnings either.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { KILN_BIN, ROOT } from '../support/kiln-process.ts';

const run = promisify(execFile);

describe('the kiln command on PATH', () => {
  let dir: string;
  let env: NodeJS.ProcessEnv;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kiln-command-'));
    await symlink(KILN_BIN, join(dir, 'kiln'));
    const path = [dir, join(ROOT, 'node_modules', '.bin'), process.env.PATH ?? ''].join(delimiter);
    env = { ...process.env, PATH: path };
    delete env.KILN_SERVER;
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('runs as plain "kiln" from another directory, quietly', async () => {
    const { stdout, stderr } = await run('kiln', ['--version'], { cwd: dir, env });
    assert.match(stdout, /^kiln \d+\.\d+\.\d+\n$/);
    assert.equal(stderr, '');
  });

  it('runs with npx from the checkout without EBADENGINE warnings', async () => {
    // npm checks "engines" against the Node that runs it: the one first on PATH.
    const { stdout, stderr } = await run('npx', ['--no-install', 'kiln', '--version'], {
      cwd: ROOT,
      env,
    });
    assert.match(stdout, /^kiln \d+\.\d+\.\d+\n$/);
    assert.doesNotMatch(stderr, /EBADENGINE/);
  });
});
