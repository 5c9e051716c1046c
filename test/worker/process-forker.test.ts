import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  DirectProcessLauncher,
  ForkerLostError,
  LaunchError,
} from '../../src/worker/direct-process-launcher.mjs';
import { FORKER_PERL } from '../../src/worker/process-forker.mjs';
import type { LaunchRequest, ProcessExit } from '../../src/worker/process-launcher.ts';

const isRoot = process.getuid?.() === 0;
/** A user and group of this file's own (other tests' users are killed by theirs). */
const USER = { uid: 59871, gid: 59871 };

/** Field `index` (after the command name) of /proc/PID/stat. */
async function statField(pid: number, index: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[index]);
}

describe('DirectProcessLauncher with the process forker', () => {
  let dir: string;
  let n = 0;
  const launcher = new DirectProcessLauncher({ forker: true });
  const request = (program: string, args: string[], more: Partial<LaunchRequest> = {}) => {
    const id = n++;
    return {
      program,
      args,
      cwd: dir,
      env: { PATH: '/usr/bin:/bin' },
      stdoutPath: join(dir, `out-${id}`),
      stderrPath: join(dir, `err-${id}`),
      ...more,
    };
  };
  /** Runs to the end; the exit and stdout. */
  const run = async (
    program: string,
    args: string[],
    more: Partial<LaunchRequest> = {},
  ): Promise<{ pid: number; exit: ProcessExit; stdout: string }> => {
    const r = request(program, args, more);
    const launched = await launcher.launch(r);
    const exit = await launched.exit;
    return { pid: launched.pid, exit, stdout: await readFile(r.stdoutPath, 'utf8') };
  };

  before(async () => {
    assert.ok(existsSync(FORKER_PERL), `${FORKER_PERL} is missing`);
    dir = await mkdtemp(join(tmpdir(), 'kiln-forker-'));
  });
  after(async () => {
    await launcher.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('starts every process from one long-lived perl, in a session of its own', async () => {
    const started = launcher.forkersStarted ?? 0;
    const parents = new Set<number>();
    for (let i = 0; i < 5; i++) {
      const { pid, exit, stdout } = await run('/bin/sh', [
        '-c',
        'echo $PPID; cut -d" " -f6 /proc/$$/stat',
      ]);
      assert.deepEqual([exit.code, exit.signal], [0, null]);
      const [parent, session] = stdout.trim().split('\n').map(Number);
      assert.equal(session, pid, 'the process leads a new session');
      parents.add(parent as number);
    }
    assert.equal(parents.size, 1);
    const [perl] = parents;
    assert.notEqual(perl, process.pid);
    assert.match(await readFile(`/proc/${perl}/cmdline`, 'latin1'), /^\/usr\/bin\/perl\0/);
    assert.equal(await statField(perl as number, 1), process.pid);
    assert.equal((launcher.forkersStarted ?? 0) - started, started === 0 ? 1 : 0);
  });

  it('gives the process exactly its environment, arguments, directory and stdin', async () => {
    const { stdout } = await run(
      'sh', // looked up in the environment's PATH
      ['-c', 'env | sort; pwd; printf "%s|" "$@"; cat; echo end', 'sh', 'a b', '', 'ü\nx'],
      { env: { PATH: '/usr/bin:/bin', SPACED: 'x = y', EMPTY: '' } },
    );
    assert.equal(
      stdout,
      `EMPTY=\nPATH=/usr/bin:/bin\nPWD=${dir}\nSPACED=x = y\n${dir}\na b||ü\nx|end\n`,
    );
  });

  it('reports the exit code, or the signal that ended the process', async () => {
    const coded = (await run('/bin/sh', ['-c', 'exit 7'])).exit;
    assert.deepEqual([coded.code, coded.signal], [7, null]);
    const killed = (await run('/bin/sh', ['-c', 'kill -TERM $$'])).exit;
    assert.deepEqual([killed.code, killed.signal], [null, 'SIGTERM']);
  });

  it('reports what the process and the children it waited for used (wait4)', async () => {
    assert.equal(launcher.reportsUsage, true);
    // A child that burns about 0.3 s of CPU and touches 64 MiB, waited for by its shell.
    const { exit } = await run('/bin/sh', [
      '-c',
      `perl -e '$x = "a" x (64 * 1024 * 1024); 1 while (times)[0] + (times)[1] < 0.3'; exit 3`,
    ]);
    assert.equal(exit.code, 3);
    const usage = exit.usage;
    assert.ok(usage, 'the exit carries the usage');
    const cpuMs = usage.userTimeMs + usage.systemTimeMs;
    assert.ok(cpuMs >= 290 && cpuMs < 3000, `CPU ${cpuMs} ms`);
    const mib = usage.peakMemoryBytes / 2 ** 20;
    assert.ok(mib >= 64 && mib < 400, `peak ${mib} MiB`);
  });

  it('reports what could not be started, with the stage and errno', async () => {
    const fails = async (r: LaunchRequest, stage: string, errno: string) => {
      await assert.rejects(launcher.launch(r), (err: unknown) => {
        assert.ok(err instanceof LaunchError, String(err));
        assert.equal(err.stage, stage);
        assert.equal(err.errno, errno);
        return true;
      });
    };
    const missing = request('no-such-program', []);
    await fails(missing, 'spawn', 'ENOENT');
    // Nothing of the forker's own in the command's stderr (the runner writes the reason there).
    assert.equal(await readFile(missing.stderrPath, 'utf8'), '');
    const plain = join(dir, 'not-executable');
    await writeFile(plain, '#!/bin/sh\n', { mode: 0o644 });
    await fails(request(plain, []), 'spawn', 'EACCES');
    await fails(request('/bin/true', [], { cwd: join(dir, 'missing') }), 'spawn', 'ENOENT');
    await fails(
      request('/bin/true', [], { stdoutPath: join(dir, 'missing', 'out') }),
      'stdout',
      'ENOENT',
    );
    await fails(
      request('/bin/true', [], { stderrPath: join(dir, 'missing', 'err') }),
      'stderr',
      'ENOENT',
    );
    await assert.rejects(launcher.launch(request('/bin/echo', ['a\0b'])), LaunchError);
    // The forker is unharmed.
    assert.equal((await run('/bin/echo', ['fine'])).stdout, 'fine\n');
  });

  it('runs the process as the user and group, every id of them, with no other group', {
    skip: !isRoot && !process.env.CI && 'needs root',
  }, async () => {
    assert.ok(isRoot, 'must run as root under CI');
    const { exit, stdout } = await run(
      '/bin/sh',
      ['-c', 'grep -E "^(Uid|Gid|Groups):" /proc/self/status'],
      { user: USER },
    );
    assert.equal(exit.code, 0);
    assert.deepEqual(exit.leftovers, { killed: 0 });
    const lines = stdout.trim().split('\n');
    const ids = (name: string) =>
      lines
        .find((l) => l.startsWith(name))
        ?.trim()
        .split(/\s+/)
        .slice(1);
    assert.deepEqual(ids('Uid:'), Array(4).fill(String(USER.uid)));
    assert.deepEqual(ids('Gid:'), Array(4).fill(String(USER.gid)));
    assert.ok(
      ['', String(USER.gid)].includes((ids('Groups:') ?? []).join(' ')),
      `groups: ${ids('Groups:')}`,
    );
  });

  it('fails a running process when the forker dies, and starts a new forker', async () => {
    const r = request('/bin/sh', ['-c', 'echo $PPID; exec sleep 30']);
    const launched = await launcher.launch(r);
    let perl = 0;
    for (let i = 0; i < 500 && perl === 0; i++) {
      perl = Number((await readFile(r.stdoutPath, 'utf8')).trim());
      if (perl === 0) await new Promise((resolve) => setTimeout(resolve, 10));
    }
    const started = launcher.forkersStarted ?? 0;
    process.kill(perl, 'SIGKILL');
    await assert.rejects(launched.exit, ForkerLostError);
    process.kill(-launched.pid, 'SIGKILL');
    const exit = (await run('/bin/true', [])).exit;
    assert.deepEqual([exit.code, exit.signal], [0, null]);
    assert.equal(launcher.forkersStarted, started + 1);
  });
});
