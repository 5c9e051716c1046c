/**
 * A `kiln worker` through a crash of its server: `kiln serve` (no local
 * workers) is killed with SIGKILL and started again on the same port; the
 * worker notices, retries with backoff, opens a new session and runs the
 * next client action. It says so in two log lines, not one per attempt.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { freePort } from '../support/free-port.ts';
import { type KilnProcess, startKiln, startKilnWorker } from '../support/kiln-process.ts';
import { kiln } from './kiln-cli.ts';

/** A TCP port free on 127.0.0.1 right now. */
/** The JSON log lines with message `msg`. */
function logLines(log: string, msg: string): Array<Record<string, unknown>> {
  return log
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, unknown>)
    .filter((entry) => entry.msg === msg);
}

describe('kiln worker through a restart of kiln serve', () => {
  let dir: string;
  let inputs: string;
  let config: string;
  let port: number;
  const servers: KilnProcess[] = [];
  let worker: ChildProcess | undefined;
  let workerLog = '';

  const serve = () =>
    startKiln([
      ...['--config', config, '--listen', `127.0.0.1:${port}`],
      ...['--data-dir', join(dir, 'data')],
    ]).then((server) => {
      servers.push(server);
      return server;
    });
  /** Runs `cat in.txt` on the worker; `text` makes the action new (no cache hit). */
  const run = async (server: KilnProcess, text: string) => {
    await writeFile(join(inputs, 'in.txt'), text);
    return kiln(['run', '--input-root', inputs, '--', 'cat', 'in.txt'], {
      server: server.address,
    });
  };

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kiln-reconnect-'));
    inputs = join(dir, 'inputs');
    await mkdir(inputs);
    config = join(dir, 'kiln.yaml');
    await writeFile(config, 'execution:\n  localWorkers: 0\n');
    port = await freePort();
  });
  after(async () => {
    if (worker !== undefined && worker.exitCode === null) {
      worker.kill('SIGTERM');
      await once(worker, 'exit');
    }
    // The killed one has exited already.
    for (const s of servers)
      if (s.child.exitCode === null && s.child.signalCode === null) await s.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('comes back after a kill -9 and restart, and runs the next action', async (t) => {
    const first = await serve();
    const started = await startKilnWorker([
      ...['--scheduler', `grpc://127.0.0.1:${port}`, '--concurrency', '1'],
      ...['--work-dir', join(dir, 'worker'), '--action-users', 'off', '--sandbox', 'off'],
    ]);
    worker = started.child;
    worker.stderr?.on('data', (d: Buffer) => {
      workerLog += d.toString();
    });
    const before = await run(first, 'before the crash\n');
    assert.equal(before.code, 0, before.stderr);
    assert.equal(before.stdout, 'before the crash\n');

    first.child.kill('SIGKILL');
    await once(first.child, 'exit');
    // Down long enough for several attempts (the bounds double from 100 ms).
    await new Promise((r) => setTimeout(r, 2500));
    assert.equal(worker.exitCode, null, `the worker exited:\n${workerLog}`);

    const restartedAt = Date.now();
    const second = await serve();
    assert.equal(second.address, `127.0.0.1:${port}`);
    const afterCrash = await run(second, 'after the restart\n');
    assert.equal(afterCrash.code, 0, `${afterCrash.stderr}\nworker log:\n${workerLog}`);
    assert.equal(afterCrash.stdout, 'after the restart\n');
    // Within the backoff cap (5 s) plus the action, with room for a slow machine.
    const backWithinMs = Date.now() - restartedAt;
    assert.ok(backWithinMs < 15_000);

    const lost = logLines(
      workerLog,
      'scheduler unreachable; retrying with jittered backoff until it answers',
    );
    const back = logLines(workerLog, 'scheduler reachable again');
    assert.equal(lost.length, 1, `one line when the connection went:\n${workerLog}`);
    assert.equal(back.length, 1, `one line when it came back:\n${workerLog}`);
    const { attempts, downMs } = back[0] as { attempts: number; downMs: number };
    t.diagnostic(
      `down ${downMs} ms, ${attempts} attempts; an action ran ${backWithinMs} ms after the restart began`,
    );
    assert.ok(attempts >= 3, `${attempts} attempts while the server was down`);
    // Growing waits: far fewer attempts than a fixed 100 ms retry would make.
    assert.ok(attempts < downMs / 100, `${attempts} attempts in ${downMs} ms`);
    assert.ok(downMs >= 2500, `down for ${downMs} ms`);
  });
});
