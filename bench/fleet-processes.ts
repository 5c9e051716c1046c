/**
 * The processes of the fleet bench (fleet-bench.ts): the `kiln serve` under
 * test, which can be killed and restarted in place, and the simulator child
 * processes (fleet-sim.ts) that hold the simulated workers.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { BENCH_TOKEN } from './bench-token.ts';
import type { FromSim, SimOptions, ToSim } from './fleet-sim.ts';
import { sleep } from './measure.ts';
import { processStats } from './reference-bench.ts';
import type { ServerProcess } from './server-process.ts';

/** Linux reports CPU times in /proc/<pid>/stat in clock ticks of 1/100 s. */
const CLOCK_TICKS_PER_SECOND = 100;

/** How long a simulated worker's UpdateBotSession may wait (its deadline). */
const POLL_TIMEOUT_MS = 30_000;

/**
 * The command that runs `command args` allowed `needed` file descriptors:
 * itself when the soft limit (`ulimit -n`) suffices, else through `sh`
 * raising the soft limit first (exec keeps the pid, which /proc readings
 * need). Throws a clear error when even the hard limit is too low. (Node
 * raises its own soft limit to the hard one at start, so the `sh` step
 * matters only to a process that inherits a low limit from elsewhere.)
 */
export function withFileLimit(
  command: string,
  args: readonly string[],
  needed: number,
): [string, string[]] {
  const limit = (flag: string): number => {
    const text = execFileSync('sh', ['-c', `ulimit ${flag}`], { encoding: 'utf8' }).trim();
    return text === 'unlimited' ? Number.POSITIVE_INFINITY : Number(text);
  };
  if (limit('-Sn') >= needed) return [command, [...args]];
  const hard = limit('-Hn');
  if (hard < needed) {
    throw new Error(
      `the fleet needs about ${needed} file descriptors per process but the hard limit ` +
        `(ulimit -Hn) is ${hard}; raise it or use fewer --fleet-connections`,
    );
  }
  return ['sh', ['-c', `ulimit -n ${needed} && exec "$@"`, 'sh', command, ...args]];
}

/** A `kiln serve` that can be killed and restarted on the same port and data directory. */
export class FleetServer {
  readonly #root: string;
  readonly #dir: string;
  #child: ChildProcess | undefined;
  #address = '127.0.0.1:0';
  #httpAddress: string | undefined;
  #stats: ServerProcess | undefined;
  readonly #fileLimit: number;
  readonly #nodeFlags: string[];

  /** `fileLimit`: file descriptors the server must be allowed (see {@link withFileLimit}). */
  constructor(root: string, dir: string, fileLimit: number, nodeFlags: string[] = []) {
    this.#root = root;
    this.#dir = dir;
    this.#fileLimit = fileLimit;
    this.#nodeFlags = nodeFlags;
  }

  /** Whether the server writes a CPU profile (and must therefore exit cleanly). */
  get profiled(): boolean {
    return this.#nodeFlags.some((f) => f.startsWith('--cpu-prof'));
  }

  get address(): string {
    return this.#address;
  }

  get stats(): ServerProcess {
    if (this.#stats === undefined) throw new Error('the fleet server is not running');
    return this.#stats;
  }

  /** Starts the server; resolves with the seconds until it listened. */
  async start(): Promise<number> {
    const started = performance.now();
    const [command, args] = withFileLimit(
      join(this.#root, 'node_modules/.bin/node'),
      [
        ...this.#nodeFlags,
        join(this.#root, 'bin/kiln.mjs'),
        'serve',
        ...['--listen', this.#address, '--data-dir', join(this.#dir, 'data')],
        ...['--config', join(this.#dir, 'kiln.yaml')],
      ],
      this.#fileLimit,
    );
    const child = spawn(command, args, {
      cwd: this.#root,
      env: { ...process.env, KILN_LOG_LEVEL: process.env.KILN_LOG_LEVEL ?? 'warn' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.#child = child;
    // BENCH_SERVER_OUTPUT (see main.ts): every server's output, appended, e.g. for --trace-gc.
    const keep = process.env.BENCH_SERVER_OUTPUT;
    if (keep !== undefined && keep !== '') {
      const out = createWriteStream(keep, { flags: 'a' });
      child.stdout?.pipe(out, { end: false });
      child.stderr?.pipe(out, { end: false });
      child.once('exit', () => out.end());
    }
    let stderr = '';
    child.stderr?.setEncoding('utf8').on('data', (text: string) => {
      stderr = (stderr + text).slice(-8192);
    });
    this.#address = await new Promise<string>((resolve, reject) => {
      let stdout = '';
      const timer = setTimeout(
        () => reject(new Error(`kiln serve did not start\n${stderr}`)),
        30_000,
      );
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`kiln serve exited early (${signal ?? code})\n${stderr}`));
      });
      child.stdout?.setEncoding('utf8').on('data', (text: string) => {
        // Keep only the tail: a long run must not grow this string.
        stdout = (stdout + text).slice(-4096);
        const match = /serving on grpc:\/\/(\S+)/.exec(stdout);
        if (match) {
          clearTimeout(timer);
          // Written with the "serving" line, in the same write.
          this.#httpAddress = /metrics on http:\/\/([^/\s]+)/.exec(stdout)?.[1];
          resolve(match[1] as string);
        }
      });
    });
    this.#stats = processStats(child.pid as number, this.#address, () => this.stop());
    return (performance.now() - started) / 1000;
  }

  /**
   * The workers the server's scheduler holds (`kiln_scheduler_workers` of
   * /metrics): what the server knows, where a simulated worker learns that
   * its session is live only when its long poll ends.
   */
  async registeredWorkers(): Promise<number> {
    if (this.#httpAddress === undefined) throw new Error('the fleet server serves no /metrics');
    const headers: Record<string, string> =
      BENCH_TOKEN === undefined ? {} : { authorization: `Bearer ${BENCH_TOKEN}` };
    const response = await fetch(`http://${this.#httpAddress}/metrics`, { headers });
    const text = await response.text();
    const match = /^kiln_scheduler_workers (\d+)$/m.exec(text);
    if (!response.ok || match === null) {
      throw new Error(`fleet server /metrics: HTTP ${response.status}, no kiln_scheduler_workers`);
    }
    return Number(match[1]);
  }

  /** kill -9, waiting for the exit. */
  async kill(): Promise<void> {
    const child = this.#child;
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await exited;
  }

  async stop(): Promise<void> {
    const child = this.#child;
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  }
}

interface SimChild {
  readonly proc: ChildProcess;
  readonly workers: number;
  ready: boolean;
  status: Extract<FromSim, { type: 'status' }> | undefined;
}

/** The simulator processes and what they last reported. */
export class Fleet {
  readonly #children: SimChild[] = [];
  /** When each action's lease reached a worker, by action hash (epoch ms). */
  readonly leaseAt = new Map<string, number>();
  readonly size: number;
  #failure: Error | undefined;

  constructor(
    root: string,
    address: string,
    workers: number,
    connections: number,
    processes: number,
  ) {
    this.size = workers;
    let first = 0;
    for (let p = 0; p < processes; p++) {
      const count = Math.floor(workers / processes) + (p < workers % processes ? 1 : 0);
      const conns = Math.floor(connections / processes) + (p < connections % processes ? 1 : 0);
      const options: SimOptions = {
        address,
        workers: count,
        connections: conns,
        firstIndex: first,
        pollTimeoutMs: POLL_TIMEOUT_MS,
      };
      first += count;
      const [command, args] = withFileLimit(
        join(root, 'node_modules/.bin/node'),
        [join(root, 'bench/fleet-sim.ts'), JSON.stringify(options)],
        conns + 256,
      );
      const proc = spawn(command, args, {
        cwd: root,
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      });
      const child: SimChild = { proc, workers: count, ready: false, status: undefined };
      proc.on('message', (message: FromSim) => {
        if (message.type === 'ready') child.ready = true;
        else if (message.type === 'error')
          this.#failure ??= new Error(`simulator: ${message.message}`);
        else {
          child.status = message;
          for (const [hash, at] of message.leases) this.leaseAt.set(hash, at);
        }
      });
      proc.once('exit', (code, signal) => {
        this.#failure ??= new Error(`a simulator process exited (${signal ?? code})`);
      });
      this.#children.push(child);
    }
  }

  send(message: ToSim): void {
    for (const c of this.#children) c.proc.send(message);
  }

  #sum(field: 'registered' | 'completed'): number {
    return this.#children.reduce((n, c) => n + (c.status?.[field] ?? 0), 0);
  }

  registered(): number {
    return this.#sum('registered');
  }

  /** Failed calls so far, by gRPC code, as text. */
  errors(): string {
    const all: Record<string, number> = {};
    for (const c of this.#children) {
      for (const [code, n] of Object.entries(c.status?.errors ?? {}))
        all[code] = (all[code] ?? 0) + n;
    }
    const text = Object.entries(all)
      .map(([code, n]) => `code ${code}: ${n}`)
      .join(', ');
    return text === '' ? 'none' : text;
  }

  /** Polls `done` every 20 ms; throws after `timeoutMs` or when a simulator failed. */
  async waitFor(done: () => boolean, timeoutMs: number, what: string): Promise<void> {
    const until = performance.now() + timeoutMs;
    while (!done()) {
      if (this.#failure !== undefined) throw this.#failure;
      if (performance.now() > until) {
        throw new Error(
          `fleet: ${what} not reached within ${timeoutMs} ms ` +
            `(${this.registered()} of ${this.size} workers registered, failed calls: ${this.errors()})`,
        );
      }
      await sleep(20);
    }
  }

  ready(): boolean {
    return this.#children.every((c) => c.ready);
  }

  /** CPU seconds the simulator processes have used so far (from /proc). */
  async cpuSeconds(): Promise<number> {
    const each = await Promise.all(
      this.#children.map(async (c) => {
        try {
          const stat = await readFile(`/proc/${c.proc.pid}/stat`, 'utf8');
          const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
          return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_SECOND;
        } catch {
          return 0; // exited
        }
      }),
    );
    return each.reduce((a, b) => a + b, 0);
  }

  async stop(): Promise<void> {
    this.#failure ??= new Error('stopped');
    await Promise.all(
      this.#children.map(async (c) => {
        if (c.proc.exitCode !== null || c.proc.signalCode !== null) return;
        const exited = new Promise((r) => c.proc.once('exit', r));
        if (c.proc.connected) c.proc.send({ type: 'stop' } satisfies ToSim);
        const timer = setTimeout(() => c.proc.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(timer);
      }),
    );
  }
}
