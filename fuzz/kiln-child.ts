/**
 * The server under fuzzing: a real `kiln serve` child process on free
 * loopback ports with its data in a fresh temporary directory, watched for
 * exit, error logs, memory and file descriptors.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Resource use of the child, from /proc. */
export interface ChildResources {
  readonly rssBytes: number;
  /** Peak RSS since the child started (VmHWM). */
  readonly peakRssBytes: number;
  readonly fds: number;
  /** User plus system CPU seconds used so far. */
  readonly cpuSeconds: number;
}

/** A server log line at error level or above. */
export interface ServerErrorLine {
  readonly level: number;
  readonly msg: string;
  readonly line: string;
}

/** A running `kiln serve` child. */
export interface KilnChild {
  readonly pid: number;
  /** gRPC `host:port`. */
  readonly address: string;
  /** HTTP `host:port` (metrics). */
  readonly httpAddress: string;
  /** Set once the child exited: its code or signal. */
  exit(): { code: number | null; signal: string | null } | undefined;
  /** The last 16 KiB of stderr. */
  stderrTail(): string;
  /** Error and fatal log lines (the first 50) and how many there were. */
  errorLines(): { count: number; first: readonly ServerErrorLine[] };
  resources(): Promise<ChildResources>;
  /** SIGTERM (SIGKILL after 10 s), then deletes the data directory. */
  stop(): Promise<void>;
}

/** Options for {@link startKilnChild}. */
export interface KilnChildOptions {
  /** Repository root (where `bin/kiln.mjs` and `node_modules/.bin/node` are). */
  readonly root: string;
  /** Configuration merged into the file given to `--config` (JSON is YAML). */
  readonly config?: Record<string, unknown>;
  readonly startTimeoutMs?: number;
}

const STDERR_TAIL_BYTES = 16 * 1024;

/** Starts `kiln serve` on 127.0.0.1 with free ports and waits until it serves. */
export async function startKilnChild(options: KilnChildOptions): Promise<KilnChild> {
  const dir = await mkdtemp(join(tmpdir(), 'kiln-fuzz-'));
  const configFile = join(dir, 'kiln.yaml');
  await writeFile(configFile, JSON.stringify(options.config ?? {}));
  const child: ChildProcess = spawn(
    join(options.root, 'node_modules/.bin/node'),
    [
      join(options.root, 'bin/kiln.mjs'),
      'serve',
      '--listen',
      '127.0.0.1:0',
      '--data-dir',
      join(dir, 'data'),
      '--config',
      configFile,
    ],
    {
      cwd: options.root,
      env: { ...process.env, KILN_LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let exited: { code: number | null; signal: string | null } | undefined;
  const exitPromise = once(child, 'exit').then(([code, signal]) => {
    exited = { code: code as number | null, signal: signal as string | null };
  });
  let tail = '';
  let partial = '';
  let errorCount = 0;
  const firstErrors: ServerErrorLine[] = [];
  child.stderr?.setEncoding('utf8').on('data', (text: string) => {
    tail = (tail + text).slice(-STDERR_TAIL_BYTES);
    const lines = (partial + text).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) {
      const level = Number(/"level":(\d+)/.exec(line)?.[1] ?? 0);
      if (level < 50 && !/^\s*(Error|TypeError|RangeError|node:|\s+at )/.test(line)) continue;
      errorCount++;
      if (firstErrors.length < 50) {
        firstErrors.push({ level, msg: /"msg":"((?:[^"\\]|\\.)*)"/.exec(line)?.[1] ?? line, line });
      }
    }
  });
  let stdout = '';
  const addresses = await new Promise<{ grpc: string; http: string }>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`kiln serve did not start:\n${tail}`)),
      options.startTimeoutMs ?? 30_000,
    );
    child.once('exit', () => {
      clearTimeout(timer);
      reject(new Error(`kiln serve exited before serving:\n${tail}`));
    });
    child.stdout?.setEncoding('utf8').on('data', (text: string) => {
      stdout += text;
      const grpc = /serving on grpc:\/\/(\S+)/.exec(stdout)?.[1];
      const http = /metrics on http:\/\/([^/\s]+)/.exec(stdout)?.[1];
      if (grpc !== undefined && http !== undefined) {
        clearTimeout(timer);
        resolve({ grpc, http });
      }
    });
  }).catch(async (err: unknown) => {
    child.kill('SIGKILL');
    await exitPromise;
    await rm(dir, { recursive: true, force: true });
    throw err;
  });
  const pid = child.pid as number;
  return {
    pid,
    address: addresses.grpc,
    httpAddress: addresses.http,
    exit: () => exited,
    stderrTail: () => tail,
    errorLines: () => ({ count: errorCount, first: firstErrors }),
    async resources() {
      const statusText = await readFile(`/proc/${pid}/status`, 'utf8');
      const kib = (field: string): number =>
        Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(statusText)?.[1] ?? 0) * 1024;
      const fds = (await readdir(`/proc/${pid}/fd`)).length;
      // utime and stime, fields 14 and 15, in clock ticks of 1/100 s.
      const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const cpuSeconds = (Number(fields[11]) + Number(fields[12])) / 100;
      return { rssBytes: kib('VmRSS'), peakRssBytes: kib('VmHWM'), fds, cpuSeconds };
    },
    async stop() {
      if (exited === undefined) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
        await exitPromise;
        clearTimeout(timer);
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}
