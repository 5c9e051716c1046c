import assert from 'node:assert/strict';
import { chmod, mkdtemp, readFile, realpath, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { status } from '@grpc/grpc-js';
import { CommandRunner, type RunRequest } from '../../src/worker/command-runner.ts';
import { HelperProcessLauncher } from '../../src/worker/helper-process-launcher.ts';
import { DirectProcessLauncher, type ProcessLauncher } from '../../src/worker/process-launcher.ts';

/** True once `pid` no longer runs (gone, or a zombie nobody reaped yet). */
async function isDead(pid: number): Promise<boolean> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return true;
  }
}

async function waitDead(pid: number, ms = 3000): Promise<boolean> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (await isDead(pid)) return true;
    await sleep(20);
  }
  return false;
}

const PATH = { name: 'PATH', value: '/usr/local/bin:/usr/bin:/bin' };

const LAUNCHERS: Array<[string, () => ProcessLauncher]> = [
  ['spawning from the worker process', () => new DirectProcessLauncher()],
  ['through the spawn helper', () => new HelperProcessLauncher()],
];

for (const [how, makeLauncher] of LAUNCHERS)
  describe(`CommandRunner ${how}`, () => {
    let dir: string;
    let n = 0;
    const launcher = makeLauncher();
    const runner = new CommandRunner({ killGraceMs: 300, launcher });

    before(async () => {
      dir = await realpath(await mkdtemp(join(tmpdir(), 'kiln-runner-')));
    });
    after(async () => {
      await launcher.close();
      await rm(dir, { recursive: true, force: true });
    });

    async function run(fields: Partial<RunRequest> & { arguments: string[] }) {
      const id = n++;
      const stdoutPath = join(dir, `stdout-${id}`);
      const stderrPath = join(dir, `stderr-${id}`);
      const result = await runner.run({
        environment: [PATH],
        workingDirectory: dir,
        stdoutPath,
        stderrPath,
        ...fields,
      });
      return {
        result,
        stdout: await readFile(stdoutPath, 'utf8'),
        stderr: await readFile(stderrPath, 'utf8'),
      };
    }

    const grandchildPid = async (file: string) => {
      for (let i = 0; i < 100; i++) {
        const text = await readFile(join(dir, file), 'utf8').catch(() => '');
        if (text.trim() !== '') return Number(text.trim());
        await sleep(10);
      }
      throw new Error(`no pid in ${file}`);
    };

    it('gives the command exactly the environment it asks for', async () => {
      const { result, stdout } = await run({
        arguments: ['/usr/bin/env'],
        environment: [
          { name: 'A', value: '1' },
          { name: 'B', value: 'two words' },
        ],
      });
      assert.equal(result.exitCode, 0);
      assert.equal(stdout, 'A=1\nB=two words\n');
    });

    it('runs in the working directory and resolves relative programs there', async () => {
      await writeFile(join(dir, 'tool.sh'), '#!/bin/sh\npwd\n');
      await chmod(join(dir, 'tool.sh'), 0o755);
      const { result, stdout } = await run({ arguments: ['./tool.sh'] });
      assert.equal(result.exitCode, 0);
      assert.equal(stdout, `${dir}\n`);
    });

    it("looks programs up in the command's own PATH", async () => {
      await writeFile(join(dir, 'kiln-only-here'), '#!/bin/sh\necho found\n');
      await chmod(join(dir, 'kiln-only-here'), 0o755);
      const { result, stdout } = await run({
        arguments: ['kiln-only-here'],
        environment: [{ name: 'PATH', value: `${dir}:/usr/bin:/bin` }],
      });
      assert.equal(result.exitCode, 0);
      assert.equal(stdout, 'found\n');
    });

    it('captures stdout and stderr separately to files and reports the exit code', async () => {
      const { result, stdout, stderr } = await run({
        arguments: ['/bin/sh', '-c', 'echo out; echo err >&2; exit 3'],
      });
      assert.equal(result.exitCode, 3);
      assert.equal(result.timedOut, false);
      assert.equal(stdout, 'out\n');
      assert.equal(stderr, 'err\n');
      assert.ok(result.endMs >= result.startMs);
    });

    it('reports a missing program as exit code 127 with the reason on stderr', async () => {
      const { result, stderr } = await run({ arguments: ['kiln-no-such-program'] });
      assert.equal(result.exitCode, 127);
      assert.match(result.startError ?? '', /kiln-no-such-program/);
      assert.match(stderr, /cannot run "kiln-no-such-program"/);
    });

    it('reports a program that is not executable as exit code 126', async () => {
      await writeFile(join(dir, 'not-executable'), 'data');
      const { result } = await run({ arguments: ['./not-executable'] });
      assert.equal(result.exitCode, 126);
    });

    it('rejects a command without arguments with INVALID_ARGUMENT', async () => {
      await assert.rejects(run({ arguments: [] }), { code: status.INVALID_ARGUMENT });
    });

    it('kills the whole process tree on timeout', async () => {
      const started = Date.now();
      const { result, stdout } = await run({
        arguments: ['/bin/sh', '-c', 'echo partial; sleep 60 & echo $! > bg-timeout; wait'],
        timeoutMs: 300,
      });
      assert.equal(result.timedOut, true);
      assert.equal(result.signal, 'SIGTERM');
      assert.equal(result.exitCode, 143);
      assert.equal(stdout, 'partial\n');
      assert.ok(Date.now() - started < 5000);
      assert.ok(await waitDead(await grandchildPid('bg-timeout')), 'the background sleep is gone');
    });

    it('escalates to SIGKILL when the tree ignores SIGTERM', async () => {
      const { result } = await run({
        arguments: ['/bin/sh', '-c', 'trap "" TERM; sleep 60 & echo $! > bg-ignore; wait'],
        timeoutMs: 200,
      });
      assert.equal(result.timedOut, true);
      assert.equal(result.signal, 'SIGKILL');
      assert.equal(result.exitCode, 137);
      assert.ok(await waitDead(await grandchildPid('bg-ignore')));
    });

    it('kills the tree when the AbortSignal fires', async () => {
      const controller = new AbortController();
      setTimeout(() => controller.abort(), 200);
      const { result } = await run({
        arguments: ['/bin/sh', '-c', 'sleep 60 & echo $! > bg-abort; wait'],
        signal: controller.signal,
      });
      assert.equal(result.cancelled, true);
      assert.equal(result.timedOut, false);
      assert.ok(await waitDead(await grandchildPid('bg-abort')));
    });

    it('does not start a command whose signal is already aborted', async () => {
      const { result } = await run({
        arguments: ['/bin/sh', '-c', 'echo ran > ran-anyway'],
        signal: AbortSignal.abort(),
      });
      assert.equal(result.cancelled, true);
      await assert.rejects(readFile(join(dir, 'ran-anyway')), { code: 'ENOENT' });
    });

    it('kills what a finished command left running in the background', async () => {
      const { result } = await run({
        arguments: ['/bin/sh', '-c', 'sleep 60 > /dev/null 2>&1 & echo $! > bg-left'],
      });
      assert.equal(result.exitCode, 0);
      assert.ok(await waitDead(await grandchildPid('bg-left')));
    });
  });
