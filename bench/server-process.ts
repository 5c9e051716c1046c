/**
 * Runs `kiln serve` as a child process for the benchmark, so that server and
 * client each get a core, and reads the server's CPU time and peak RSS from
 * /proc. The child starts through `bin/kiln.mjs`, as the `kiln` command and
 * `npm start` do, so it runs with the Node flags users get (the launcher
 * replaces itself with the server by execve, keeping the pid measured here).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { benchAuthYaml } from './bench-token.ts';

/** Linux reports CPU times in /proc/<pid>/stat in clock ticks of 1/100 s. */
const CLOCK_TICKS_PER_SECOND = 100;

/** Options of {@link startServerProcess}. */
export interface ServerProcessOptions {
  /** Repository root: where `node_modules/.bin/node` and `bin/kiln.mjs` are. */
  readonly root: string;
  /** When set, the server runs with `--cpu-prof` and writes its profile here on exit. */
  readonly cpuProfDir?: string;
  /**
   * Extra Node flags for the server, e.g. `--trace-gc`. A heap flag given here
   * replaces the launcher's own value for it (e.g. `--max-semi-space-size=32`).
   */
  readonly nodeFlags?: readonly string[];
  /** When set, the server's stdout and stderr are also appended to this file (e.g. `--trace-gc`). */
  readonly outputFile?: string;
  /** Milliseconds to wait for the "serving" line. */
  readonly startTimeoutMs?: number;
  /** Configuration file text (YAML) to serve with, beside the bench token's; none by default. */
  readonly configYaml?: string;
}

/** A running server child. */
export interface ServerProcess {
  /** `host:port` the server listens on. */
  readonly address: string;
  readonly pid: number;
  /** User plus system CPU seconds the server has used so far. */
  cpuSeconds(): Promise<number>;
  /**
   * Of {@link cpuSeconds}, what processes it (or its children) started and
   * reaped used: the actions' own CPU, for an execution server.
   */
  actionCpuSeconds?(): Promise<number>;
  /** Peak resident set size in bytes (VmHWM). */
  peakRssBytes(): Promise<number>;
  /** Current resident set size in bytes (VmRSS). */
  rssBytes(): Promise<number>;
  /** Stops the server (SIGTERM, then SIGKILL) and deletes its data directory. */
  stop(): Promise<void>;
}

/** Starts `kiln serve --listen 127.0.0.1:0` over a fresh temporary data directory. */
export async function startServerProcess(options: ServerProcessOptions): Promise<ServerProcess> {
  const dataDir = await mkdtemp(join(tmpdir(), 'kiln-bench-'));
  const configArgs: string[] = [];
  const yaml = benchAuthYaml() + (options.configYaml ?? '');
  if (yaml !== '') {
    await writeFile(join(dataDir, 'kiln.yaml'), yaml);
    configArgs.push('--config', join(dataDir, 'kiln.yaml'));
  }
  const nodeFlags = [...(options.nodeFlags ?? [])];
  if (options.cpuProfDir !== undefined)
    nodeFlags.push('--cpu-prof', '--cpu-prof-dir', options.cpuProfDir);
  const child = spawn(
    join(options.root, 'node_modules/.bin/node'),
    [
      ...nodeFlags,
      ...['bin/kiln.mjs', 'serve', '--listen', '127.0.0.1:0', '--data-dir', dataDir],
      ...configArgs,
    ],
    {
      cwd: options.root,
      env: { ...process.env, KILN_LOG_LEVEL: process.env.KILN_LOG_LEVEL ?? 'warn' },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  if (options.outputFile !== undefined) {
    const out = createWriteStream(options.outputFile, { flags: 'a' });
    child.stdout?.pipe(out, { end: false });
    child.stderr?.pipe(out, { end: false });
    child.once('exit', () => out.end());
  }
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (text: string) => {
    stderr = (stderr + text).slice(-8192);
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));

  let address: string;
  try {
    address = await waitForAddress(child, options.startTimeoutMs ?? 20_000, () => stderr);
  } catch (err) {
    child.kill('SIGKILL');
    await exited;
    await rm(dataDir, { recursive: true, force: true });
    throw err;
  }
  const pid = child.pid as number;
  return {
    address,
    pid,
    async cpuSeconds() {
      // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
      const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_SECOND;
    },
    peakRssBytes: () => statusKiB(pid, 'VmHWM').then((kib) => kib * 1024),
    rssBytes: () => statusKiB(pid, 'VmRSS').then((kib) => kib * 1024),
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        // A profiled server needs a moment to write its profile.
        const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
        await exited;
        clearTimeout(timer);
      }
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

function waitForAddress(
  child: ChildProcess,
  timeoutMs: number,
  stderr: () => string,
): Promise<string> {
  return new Promise((resolve, reject) => {
    let stdout = '';
    const fail = (why: string): void => {
      clearTimeout(timer);
      reject(new Error(`kiln serve ${why}\n${stderr()}`));
    };
    const timer = setTimeout(() => fail(`did not start within ${timeoutMs} ms`), timeoutMs);
    child.once('exit', (code, signal) => fail(`exited early (${signal ?? code})`));
    child.stdout?.setEncoding('utf8').on('data', (text: string) => {
      stdout += text;
      const match = /serving on grpc:\/\/(\S+)/.exec(stdout);
      if (match) {
        clearTimeout(timer);
        resolve(match[1] as string);
      }
    });
  });
}

async function statusKiB(pid: number, field: string): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status);
  if (!match) throw new Error(`/proc/${pid}/status has no ${field}`);
  return Number(match[1]);
}
