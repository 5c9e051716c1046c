/**
 * Runs `kiln serve` as a real child process, the way a user starts it, and
 * waits for its "serving" line.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';

export const ROOT = join(import.meta.dirname, '..', '..');
/** The Node 24 binary installed by npm ci. */
export const NODE24 = join(ROOT, 'node_modules', '.bin', 'node');
export const KILN_BIN = join(ROOT, 'bin', 'kiln.mjs');

/** A running `kiln serve`. */
export interface KilnProcess {
  readonly child: ChildProcess;
  /** `host:port` of the gRPC server. */
  readonly address: string;
  /** Everything the process wrote to stderr so far. */
  stderr(): string;
  /** Everything the process wrote to stdout so far. */
  stdout(): string;
  /** Sends SIGTERM and waits for exit; returns the exit code. */
  stop(): Promise<number | null>;
}

/** Starts `kiln serve ARGS` with `node` (Node 24 unless given) and waits until it serves. */
export async function startKiln(
  args: string[],
  options: { node?: string; env?: NodeJS.ProcessEnv; cwd?: string } = {},
): Promise<KilnProcess> {
  const child = spawn(options.node ?? NODE24, [KILN_BIN, 'serve', ...args], {
    cwd: options.cwd ?? ROOT,
    env: { ...process.env, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  // 'exit' can come before the last of stderr is read: 'close' is after both.
  const closed = once(child, 'close').catch(() => undefined);
  const address = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`kiln did not start:\n${stderr}`)), 20_000);
    child.stdout?.on('data', (d: Buffer) => {
      stdout += d.toString();
      const match = /serving on grpcs?:\/\/(\S+)/.exec(stdout);
      if (match?.[1]) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`kiln exited with ${code} before serving:\n${stderr}`));
    });
  });
  return {
    child,
    address,
    stderr: () => stderr,
    stdout: () => stdout,
    async stop() {
      // A process ended by a signal has a null exitCode but a signalCode:
      // either means it is gone and no 'exit' event is still to come.
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await closed;
      return child.exitCode;
    },
  };
}

/** A `kiln worker` started by {@link startKilnWorker}. */
export interface KilnWorkerProcess {
  readonly child: ChildProcess;
  /** What it printed until it was ready. */
  readonly stdout: string;
  /** Everything it logged (stderr) so far. */
  stderr(): string;
}

/** Whether a worker that printed `stdout` and logged `stderr` is ready: by default, working. */
export type WorkerReady = (stdout: string, stderr: string) => boolean;

/** Starts `kiln worker ARGS` (with `env` added) and waits until it is `ready`. */
export async function startKilnWorker(
  args: string[],
  env: NodeJS.ProcessEnv = {},
  ready: WorkerReady = (stdout) => stdout.includes('is working for'),
): Promise<KilnWorkerProcess> {
  const child = spawn(NODE24, [KILN_BIN, 'worker', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
  });
  let stdout = '';
  let stderr = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`worker did not start:\n${stderr}`)), 20_000);
    let started = false;
    const check = () => {
      if (started || !ready(stdout, stderr)) return;
      started = true;
      clearTimeout(timer);
      resolve();
    };
    child.stdout?.on('data', (d: Buffer) => {
      stdout += d.toString();
      check();
    });
    child.stderr?.on('data', (d: Buffer) => {
      stderr += d.toString();
      check();
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`worker exited with ${code}:\n${stderr}`));
    });
  });
  return { child, stdout, stderr: () => stderr };
}
