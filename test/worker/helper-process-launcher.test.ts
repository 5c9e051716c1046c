import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { lstat, mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { status } from '@grpc/grpc-js';
import { CommandRunner } from '../../src/worker/command-runner.ts';
import { HelperProcessLauncher, SETPRIV } from '../../src/worker/helper-process-launcher.ts';

const execFileAsync = promisify(execFile);

/** Pids of this process's children running the spawn helper. */
async function helperPids(): Promise<number[]> {
  const pids: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = await readFile(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      const cmdline = await readFile(`/proc/${entry}/cmdline`, 'utf8');
      if (ppid === process.pid && cmdline.includes('spawn-helper.mjs')) pids.push(Number(entry));
    } catch {
      // The process ended while we looked.
    }
  }
  return pids;
}

async function waitFor(check: () => Promise<boolean>, ms = 10_000): Promise<boolean> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (await check()) return true;
    await sleep(20);
  }
  return false;
}

describe('HelperProcessLauncher', () => {
  let dir: string;
  let n = 0;
  const launcher = new HelperProcessLauncher();
  const runner = new CommandRunner({ killGraceMs: 300, launcher });
  const run = (args: string[], signal?: AbortSignal) => {
    const id = n++;
    return runner.run({
      arguments: args,
      environment: [{ name: 'PATH', value: '/usr/bin:/bin' }],
      workingDirectory: dir,
      stdoutPath: join(dir, `stdout-${id}`),
      stderrPath: join(dir, `stderr-${id}`),
      signal,
    });
  };

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kiln-helper-'));
  });
  after(async () => {
    await launcher.close();
    await rm(dir, { recursive: true, force: true });
  });

  it("starts processes from the helper's perl forker, not from this process", async () => {
    const result = await run(['/bin/sh', '-c', 'echo $PPID > parent']);
    assert.equal(result.exitCode, 0);
    const parent = Number((await readFile(join(dir, 'parent'), 'utf8')).trim());
    // The helper's own Node.js process does not fork actions: a perl of its does (process-forker.mjs).
    assert.match(await readFile(`/proc/${parent}/cmdline`, 'latin1'), /^\/usr\/bin\/perl\0/);
    const stat = await readFile(`/proc/${parent}/stat`, 'utf8');
    const grandparent = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    assert.deepEqual(await helperPids(), [grandparent]);
  });

  it('starts every process with no_new_privs, so set-user-id programs grant nothing', async () => {
    assert.ok(existsSync(SETPRIV), `${SETPRIV} (util-linux) is missing`);
    const result = await run(['/bin/sh', '-c', 'grep NoNewPrivs /proc/self/status > nnp']);
    assert.equal(result.exitCode, 0);
    assert.match(await readFile(join(dir, 'nnp'), 'utf8'), /^NoNewPrivs:\s+1$/m);
  });

  it('loads no TypeScript in the helper (which would start the type stripper there)', async () => {
    const helper = new URL('../../src/worker/spawn-helper.mjs', import.meta.url).href;
    const script = `
      import { registerHooks } from 'node:module';
      const loaded = [];
      registerHooks({ load: (url, context, next) => (loaded.push(url), next(url, context)) });
      await import(${JSON.stringify(helper)});
      process.stdout.write(JSON.stringify(loaded.filter((url) => !url.startsWith('node:'))));`;
    const { stdout } = await execFileAsync(process.execPath, ['--input-type=module', '-e', script]);
    const loaded: string[] = JSON.parse(stdout);
    assert.ok(loaded.includes(helper));
    assert.deepEqual(
      loaded.filter((url) => !url.endsWith('.mjs')),
      [],
    );
  });

  it('empties a directory in the helper, keeping the directory itself', async () => {
    const target = join(dir, 'to-empty');
    await mkdir(join(target, 'a', 'b'), { recursive: true });
    await writeFile(join(target, 'a', 'b', 'file'), 'x');
    await writeFile(join(target, 'top'), 'y');
    await symlink('/etc', join(target, 'link'));
    await launcher.emptyDirectory(target);
    assert.deepEqual(await readdir(target), []);
    assert.ok((await readdir('/etc')).length > 0, 'a symlink is removed, never followed');
    await assert.rejects(
      launcher.emptyDirectory(join(dir, 'absent')),
      /emptying a build directory failed/,
    );
  });

  it('empties a directory in the helper keeping its directories when asked', async () => {
    const target = join(dir, 'keep-target');
    await mkdir(join(target, 'a', 'b'), { recursive: true });
    await writeFile(join(target, 'a', 'b', 'file'), 'x');
    await symlink('/etc', join(target, 'link'));
    const mode = (await lstat(target)).mode & 0o7777;
    const kept = await launcher.emptyDirectory(target, { mode, limit: 10 });
    assert.deepEqual(kept, ['a', 'a/b']);
    assert.deepEqual(await readdir(join(target, 'a', 'b')), []);
    assert.deepEqual(await readdir(target), ['a']);
    assert.deepEqual(await launcher.emptyDirectory(target), [], 'without keep, nothing stays');
    assert.deepEqual(await readdir(target), []);
  });

  it('keeps the helper through a SIGINT meant for the worker', async () => {
    const [helper] = await helperPids();
    assert.ok(helper !== undefined);
    process.kill(helper, 'SIGINT');
    await sleep(100);
    assert.equal((await run(['/bin/true'])).exitCode, 0);
    assert.deepEqual(await helperPids(), [helper]);
  });

  it('fails a running action with UNAVAILABLE when the helper dies, and starts a new one', async () => {
    const [helper] = await helperPids();
    assert.ok(helper !== undefined);
    const running = run(['/bin/sh', '-c', 'echo $$ > victim; exec sleep 60']);
    const victimFile = join(dir, 'victim');
    assert.ok(
      await waitFor(async () => (await readFile(victimFile, 'utf8').catch(() => '')) !== ''),
    );
    const victim = Number((await readFile(victimFile, 'utf8')).trim());
    process.kill(helper, 'SIGKILL');
    await assert.rejects(running, { code: status.UNAVAILABLE });
    // The worker killed the process group of the action the helper took with it.
    assert.ok(
      await waitFor(async () => {
        // Gone, or a zombie nobody reaped yet.
        const stat = await readFile(`/proc/${victim}/stat`, 'utf8').catch(() => ') Z');
        return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
      }),
      'the orphaned action was killed',
    );
    assert.equal((await run(['/bin/true'])).exitCode, 0);
    const helpers = await helperPids();
    assert.equal(helpers.length, 1);
    assert.notEqual(helpers[0], helper);
  });

  it('fails a running action with UNAVAILABLE when the forker perl dies, and runs the next', async () => {
    const running = run(['/bin/sh', '-c', 'echo $PPID > forker; exec sleep 60']);
    const forkerFile = join(dir, 'forker');
    assert.ok(
      await waitFor(async () => (await readFile(forkerFile, 'utf8').catch(() => '')) !== ''),
    );
    const perl = Number((await readFile(forkerFile, 'utf8')).trim());
    assert.match(await readFile(`/proc/${perl}/cmdline`, 'latin1'), /^\/usr\/bin\/perl\0/);
    process.kill(perl, 'SIGKILL');
    // The exit of the action can no longer be known: the helper gives up, as if it had died.
    await assert.rejects(running, { code: status.UNAVAILABLE });
    assert.equal((await run(['/bin/true'])).exitCode, 0);
  });

  it('fails a launch with UNAVAILABLE when the helper cannot start', async () => {
    const broken = new HelperProcessLauncher({ execPath: join(dir, 'no-such-node') });
    const brokenRunner = new CommandRunner({ launcher: broken });
    await assert.rejects(
      brokenRunner.run({
        arguments: ['/bin/true'],
        environment: [],
        workingDirectory: dir,
        stdoutPath: join(dir, 'broken-out'),
        stderrPath: join(dir, 'broken-err'),
      }),
      { code: status.UNAVAILABLE },
    );
    await broken.close();
  });

  it('stops the helper on close', async () => {
    const own = new HelperProcessLauncher();
    const ownRunner = new CommandRunner({ launcher: own });
    const before = new Set(await helperPids());
    const result = await ownRunner.run({
      arguments: ['/bin/true'],
      environment: [],
      workingDirectory: dir,
      stdoutPath: join(dir, 'own-out'),
      stderrPath: join(dir, 'own-err'),
    });
    assert.equal(result.exitCode, 0);
    const [mine] = (await helperPids()).filter((p) => !before.has(p));
    assert.ok(mine !== undefined);
    await own.close();
    assert.ok(await waitFor(async () => !(await helperPids()).includes(mine)));
  });
});
