/**
 * Graceful drain of real `kiln serve` and `kiln worker` processes. SIGTERM
 * during a running action: the action finishes and its result reaches the
 * client's Execute stream, while a new Execute gets UNAVAILABLE and health
 * says NOT_SERVING; the process then exits 0. An action longer than the
 * drain timeout is killed; a second SIGTERM ends the drain at once; a
 * worker finishes its action, takes no new one and leaves.
 *
 * Each action writes its shell's pid to a marker file before it sleeps, so
 * the tests signal a process known to be running the action, not after a
 * guessed delay.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { freePort } from '../support/free-port.ts';
import { type KilnProcess, startKiln, startKilnWorker } from '../support/kiln-process.ts';
import { type CliResult, kiln } from './kiln-cli.ts';

/** Waits until `path` exists and holds a line (the action's pid). */
async function waitForMarker(path: string, timeoutMs = 30_000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (existsSync(path)) {
      const text = await readFile(path, 'utf8');
      if (text.endsWith('\n')) return Number(text.trim());
    }
    if (Date.now() > deadline) throw new Error(`${path} never appeared`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/**
 * Whether a process with this pid still runs: a zombie does not (on this
 * machine pid 1 may never reap an orphan). Waits up to 5 s for it to end,
 * since a kill is not instant.
 */
async function alive(pid: number): Promise<boolean> {
  const deadline = Date.now() + 5000;
  for (;;) {
    let state: string;
    try {
      const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
      state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    } catch {
      return false;
    }
    if (state === 'Z' || state === 'X') return false;
    if (Date.now() > deadline) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The web UI address the server printed. */
function httpAddress(server: KilnProcess): string {
  const match = /Web UI and metrics on (https?:\/\/\S+?)\/?\n/.exec(server.stdout());
  assert.ok(match?.[1], server.stdout());
  return match[1];
}

/** The exit code, once the process has exited. */
async function exitOf(server: KilnProcess): Promise<number | null> {
  if (server.child.exitCode !== null) return server.child.exitCode;
  const [code] = (await once(server.child, 'exit')) as [number | null];
  return code;
}

/**
 * /readyz's status once the server has handled a signal just sent: a request
 * made at once may be served before the signal is (both arrive on the same
 * event loop), so it asks until the answer is 503, for at most 5 s.
 */
async function readinessAfterSignal(http: string): Promise<number> {
  const until = Date.now() + 5000;
  for (;;) {
    const { status } = await fetch(`${http}/readyz`);
    if (status === 503 || Date.now() > until) return status;
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('graceful drain', () => {
  let dir: string;
  let inputs: string;
  const started: KilnProcess[] = [];

  /** `kiln serve` on a free port with `yaml` as its configuration. */
  async function serve(name: string, yaml: string): Promise<KilnProcess> {
    const config = join(dir, `${name}.yaml`);
    // `yaml` may add to the execution section (indented) or start another.
    await writeFile(config, `execution:\n  actionUsers: "off"\n  sandbox: "off"\n${yaml}`);
    const port = await freePort();
    const server = await startKiln([
      ...['--config', config, '--listen', `127.0.0.1:${port}`, '--http-listen', '127.0.0.1:0'],
      ...['--data-dir', join(dir, name)],
    ]);
    started.push(server);
    return server;
  }

  /** `kiln run` of a shell script with the shared input root. */
  function run(server: KilnProcess, script: string): Promise<CliResult> {
    return kiln(['run', '--input-root', inputs, '--', 'sh', '-c', script], {
      server: server.address,
    });
  }

  /** A script that records its pid in `marker`, sleeps `seconds`, then prints `text`. */
  const sleeper = (marker: string, seconds: number, text: string) =>
    `echo $$ > ${marker}.tmp && mv ${marker}.tmp ${marker} && sleep ${seconds} && echo ${text}`;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kiln-drain-'));
    inputs = join(dir, 'inputs');
    await mkdir(inputs);
    await writeFile(join(inputs, 'in.txt'), 'x\n');
  });
  after(async () => {
    for (const s of started) {
      if (s.child.exitCode === null && s.child.signalCode === null) {
        s.child.kill('SIGKILL');
        await once(s.child, 'exit');
      }
    }
    await rm(dir, { recursive: true, force: true });
  });

  it('finishes the running action, refuses new Execute calls, then exits 0', async (t) => {
    const server = await serve('finish', '');
    const marker = join(dir, 'finish.pid');
    const running = run(server, sleeper(marker, 4, 'finished'));
    await waitForMarker(marker);
    const signalledAt = Date.now();
    server.child.kill('SIGTERM');
    const http = httpAddress(server);
    // While the action sleeps: readiness, gRPC health and a new Execute.
    const [readyStatus, health, refused] = await Promise.all([
      readinessAfterSignal(http),
      kiln(['health', '--server', server.address]),
      run(server, 'echo never'),
    ]);
    assert.equal(readyStatus, 503);
    assert.notEqual(health.code, 0, health.stdout);
    assert.match(`${health.stdout}${health.stderr}`, /NOT_SERVING/);
    assert.notEqual(refused.code, 0, refused.stdout);
    assert.match(refused.stderr, /UNAVAILABLE/);
    assert.match(refused.stderr, /shutting down/);
    assert.equal(server.child.exitCode, null, 'exited while an action still ran');

    const result = await running;
    assert.equal(result.code, 0, `${result.stderr}\n${server.stderr()}`);
    assert.equal(result.stdout, 'finished\n');
    assert.equal(await exitOf(server), 0, server.stderr());
    t.diagnostic(`exited ${Date.now() - signalledAt} ms after SIGTERM`);
    assert.match(server.stderr(), /drained: no action runs/);
  });

  it('kills an action still running at the drain deadline and exits', async () => {
    const server = await serve('deadline', 'server:\n  drainTimeout: 1s\n');
    const marker = join(dir, 'deadline.pid');
    const running = run(server, sleeper(marker, 60, 'too-late'));
    const pid = await waitForMarker(marker);
    server.child.kill('SIGTERM');
    assert.equal(await exitOf(server), 0, server.stderr());
    assert.match(server.stderr(), /drain deadline passed/);
    assert.equal(await alive(pid), false, `the action's shell ${pid} survived the server`);
    const result = await running;
    assert.notEqual(result.code, 0, result.stdout);
    assert.doesNotMatch(result.stdout, /too-late/);
  });

  it('stops at once on a second SIGTERM', async () => {
    const server = await serve('twice', 'server:\n  drainTimeout: 5m\n');
    const marker = join(dir, 'twice.pid');
    const running = run(server, sleeper(marker, 60, 'too-late'));
    const pid = await waitForMarker(marker);
    server.child.kill('SIGTERM');
    // Draining: not ready, and still running for the action's sake.
    assert.equal(await readinessAfterSignal(httpAddress(server)), 503);
    await new Promise((r) => setTimeout(r, 1000));
    assert.equal(server.child.exitCode, null, 'the first SIGTERM did not drain');
    server.child.kill('SIGTERM');
    assert.equal(await exitOf(server), 0, server.stderr());
    assert.match(server.stderr(), /second signal/);
    assert.equal(await alive(pid), false, `the action's shell ${pid} survived the server`);
    await running;
  });

  it('gives remote workers no new leases, and ends queued streams with UNAVAILABLE', async () => {
    const server = await serve('remote', '  localWorkers: 0\n');
    const worker = await startKilnWorker([
      ...['--scheduler', `grpc://${server.address}`, '--concurrency', '1'],
      ...['--work-dir', join(dir, 'remote-dir'), '--action-users', 'off', '--sandbox', 'off'],
    ]);
    try {
      const marker = join(dir, 'remote-first.pid');
      const first = run(server, sleeper(marker, 4, 'first'));
      await waitForMarker(marker);
      // Queued behind the first: the worker's one slot is taken.
      const queuedMarker = join(dir, 'remote-queued.pid');
      const queued = run(server, sleeper(queuedMarker, 0, 'queued'));
      for (;;) {
        const ops = await kiln(['ops', 'list', '--filter', 'stage=QUEUED', '--json'], {
          server: server.address,
        });
        if (/QUEUED/.test(ops.stdout)) break;
        await new Promise((r) => setTimeout(r, 50));
      }
      server.child.kill('SIGTERM');
      const result = await first;
      assert.equal(result.code, 0, `${result.stderr}\n${server.stderr()}`);
      assert.equal(result.stdout, 'first\n');
      assert.equal(await exitOf(server), 0, server.stderr());
      // The worker was free once the first action finished, but got no lease.
      assert.equal(existsSync(queuedMarker), false, 'the draining server leased a queued action');
      // Its Execute stream ended with UNAVAILABLE (the client then tried
      // WaitExecution again, on a server gone by then).
      const refused = await queued;
      assert.notEqual(refused.code, 0, refused.stdout);
      assert.match(server.stderr(), /shutting down before operations\/\S+ finished/);
    } finally {
      worker.child.kill('SIGINT');
      await once(worker.child, 'exit');
    }
  });

  it('kiln worker finishes its action, takes no new one and exits 0', async () => {
    const server = await serve('worker', '  localWorkers: 0\n');
    const worker = await startKilnWorker([
      ...['--scheduler', `grpc://${server.address}`, '--concurrency', '2'],
      ...['--work-dir', join(dir, 'worker-dir'), '--action-users', 'off', '--sandbox', 'off'],
      ...['--drain-timeout', '60s'],
    ]);
    let workerLog = '';
    worker.child.stderr?.on('data', (d: Buffer) => {
      workerLog += d.toString();
    });
    const exited = once(worker.child, 'exit');
    const marker = join(dir, 'worker-first.pid');
    const first = run(server, sleeper(marker, 4, 'first'));
    await waitForMarker(marker);
    worker.child.kill('SIGTERM');
    // A second action, which the worker has a free slot for but must not take.
    const laterMarker = join(dir, 'worker-later.pid');
    let laterDone = false;
    const later = run(server, sleeper(laterMarker, 0, 'later')).finally(() => {
      laterDone = true;
    });
    const result = await first;
    assert.equal(result.code, 0, `${result.stderr}\nworker:\n${workerLog}`);
    assert.equal(result.stdout, 'first\n');
    const [code] = (await exited) as [number | null];
    assert.equal(code, 0, workerLog);
    assert.match(workerLog, /drained: every result reported/);
    assert.equal(existsSync(laterMarker), false, 'the draining worker ran a new action');
    // The later action waits in the queue for another worker.
    const ops = await kiln(['ops', 'list', '--json'], { server: server.address });
    assert.equal(ops.code, 0, ops.stderr);
    assert.match(ops.stdout, /QUEUED/);
    assert.equal(laterDone, false, 'the later action finished without a worker');
    server.child.kill('SIGINT');
    await exitOf(server);
    await later;
  });
});
