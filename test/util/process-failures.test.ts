import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import { FAILURE_EXIT_CODE } from '../../src/util/process-failures.ts';
import { parsePrometheusText } from '../observe/prometheus-text.ts';
import { call, connectClients } from '../support/grpc-clients.ts';
import { KILN_BIN, type KilnProcess, NODE24, ROOT, startKiln } from '../support/kiln-process.ts';

const TRIGGER = pathToFileURL(join(import.meta.dirname, 'fixtures', 'fail-on-signal.mjs')).href;

interface LogLine {
  readonly level: number;
  readonly msg: string;
  readonly kind?: string;
  readonly component?: string;
  readonly count?: number;
  readonly err?: { readonly message?: string; readonly stack?: string };
}

/** The JSON log lines of `stderr` about process failures of `kind`. */
function failureLines(stderr: string, kind: string): LogLine[] {
  return stderr
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as LogLine)
    .filter((line) => line.kind === kind);
}

async function until(what: string, check: () => boolean, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

async function failuresMetric(httpAddress: string): Promise<Record<string, number>> {
  const text = await (await fetch(`http://${httpAddress}/metrics`)).text();
  const samples = parsePrometheusText(text).samples.filter(
    (s) => s.name === 'kiln_process_failures_total',
  );
  return Object.fromEntries(samples.map((s) => [s.labels.kind, s.value]));
}

describe('process failures', () => {
  let dir: string;
  let control: string;
  let env: NodeJS.ProcessEnv;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kiln-failures-'));
    control = join(dir, 'failure');
    env = { NODE_OPTIONS: `--import ${TRIGGER}`, KILN_TEST_FAILURE_FILE: control };
  });
  after(() => rm(dir, { recursive: true, force: true }));

  async function trigger(child: ChildProcess, kind: 'rejection' | 'exception'): Promise<void> {
    await writeFile(control, kind);
    child.kill('SIGUSR2');
  }

  it('kiln serve logs and counts an unhandled rejection and keeps serving; an uncaught exception is logged and counted, and the process exits 70', async () => {
    const kiln: KilnProcess = await startKiln(
      ['--listen', '127.0.0.1:0', '--data-dir', join(dir, 'serve')],
      { env },
    );
    try {
      await until('the HTTP address', () => kiln.stdout().includes('metrics on http://'));
      const httpAddress = /metrics on http:\/\/(\S+?)\//.exec(kiln.stdout())?.[1];
      assert.ok(httpAddress, kiln.stdout());
      assert.deepEqual(await failuresMetric(httpAddress), {
        uncaught_exception: 0,
        unhandled_rejection: 0,
      });

      await trigger(kiln.child, 'rejection');
      await until('the rejection log line', () => {
        return failureLines(kiln.stderr(), 'unhandled_rejection').length > 0;
      });
      const [rejected] = failureLines(kiln.stderr(), 'unhandled_rejection');
      assert.equal(rejected?.level, 50, 'logged as an error');
      assert.equal(rejected?.component, 'serve');
      assert.match(rejected?.err?.stack ?? '', /injected rejection\n\s+at /);
      assert.deepEqual(await failuresMetric(httpAddress), {
        uncaught_exception: 0,
        unhandled_rejection: 1,
      });
      const clients = connectClients(kiln.address);
      try {
        const caps = await call(clients.capabilities, 'getCapabilities', { instanceName: '' });
        assert.ok(caps.cacheCapabilities, 'still serving after the rejection');
      } finally {
        clients.close();
      }

      const exited = once(kiln.child, 'exit') as Promise<[number | null, string | null]>;
      await trigger(kiln.child, 'exception');
      const [code, signal] = await exited;
      assert.equal(signal, null);
      assert.equal(code, FAILURE_EXIT_CODE);
      const fatal = failureLines(kiln.stderr(), 'uncaught_exception');
      assert.equal(fatal.length, 1, kiln.stderr());
      assert.equal(fatal[0]?.level, 60, 'logged as fatal');
      assert.equal(fatal[0]?.count, 1, 'counted before the exit');
      assert.match(fatal[0]?.err?.stack ?? '', /injected exception\n\s+at /);
      assert.match(fatal[0]?.msg ?? '', /exiting with status 70/);
    } finally {
      await kiln.stop();
    }
  });

  it('kiln worker carries on after an unhandled rejection and exits 70 after an uncaught exception', async () => {
    const server = await startKiln(['--listen', '127.0.0.1:0', '--data-dir', join(dir, 'sched')]);
    const worker = spawn(
      NODE24,
      [
        KILN_BIN,
        'worker',
        '--scheduler',
        `grpc://${server.address}`,
        '--work-dir',
        join(dir, 'worker'),
        '--sandbox',
        'off',
        '--action-users',
        'off',
        '--concurrency',
        '1',
      ],
      { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stdout = '';
    let stderr = '';
    worker.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    worker.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    const exited = once(worker, 'exit') as Promise<[number | null, string | null]>;
    try {
      await until('the worker to start', () => stdout.includes('is working for'), 20_000);
      await trigger(worker, 'rejection');
      await until('the rejection log line', () => {
        return failureLines(stderr, 'unhandled_rejection').length > 0;
      });
      assert.equal(failureLines(stderr, 'unhandled_rejection')[0]?.component, 'worker');
      await new Promise((resolve) => setTimeout(resolve, 200));
      assert.equal(worker.exitCode, null, 'still running after the rejection');

      await trigger(worker, 'exception');
      const [code] = await exited;
      assert.equal(code, FAILURE_EXIT_CODE);
      const fatal = failureLines(stderr, 'uncaught_exception');
      assert.equal(fatal[0]?.level, 60, stderr);
      assert.match(fatal[0]?.err?.stack ?? '', /injected exception/);
    } finally {
      if (worker.exitCode === null && worker.signalCode === null) {
        worker.kill('SIGKILL');
        await exited;
      }
      await server.stop();
    }
  });
});
