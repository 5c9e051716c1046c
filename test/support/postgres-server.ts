/**
 * A throwaway PostgreSQL cluster for tests and development: `initdb` in a
 * directory, then `postgres` on a free loopback port with its unix socket in
 * the same directory. Uses Debian's server binaries (package `postgresql`).
 * PostgreSQL refuses to run as root, so when this process is root the server
 * runs as `nobody`; the server also stops when this process dies.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { access, chmod, chown, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './free-port.ts';

/** Where Debian installs the server binaries (initdb and postgres are not on PATH). */
export const POSTGRES_BIN_DIRS = [
  '/usr/lib/postgresql/17/bin',
  '/usr/lib/postgresql/16/bin',
  '/usr/lib/postgresql/15/bin',
];

/** The role every throwaway cluster is created with (trusted on loopback, no password). */
export const POSTGRES_USER = 'kiln';

/** A running throwaway cluster. */
export interface PostgresServer {
  /** `postgresql://kiln@127.0.0.1:PORT/postgres`. */
  readonly url: string;
  readonly port: number;
  /** Directory of the unix socket (`.s.PGSQL.PORT`). */
  readonly socketDir: string;
  /** The server's process id (a new one after {@link restart}). */
  readonly pid: number;
  /**
   * Fast shutdown, then the server starts again on the same data and port,
   * as an operator's restart would; resolves once it accepts connections.
   * `whileDown`, when given, runs (and is awaited) after the shutdown and
   * before the start, so a test can act while the database is unreachable.
   */
  restart(whileDown?: () => Promise<void>): Promise<void>;
  /** Fast shutdown (SIGINT), then waits for exit; safe to call twice. */
  stop(): Promise<void>;
}

/** Options of {@link startPostgres}. */
export interface PostgresOptions {
  /** Directory for the cluster (created if missing); a fresh temporary one when absent. */
  readonly dir?: string;
  /** Milliseconds to wait for the server to accept connections. Default 60 s. */
  readonly timeoutMs?: number;
}

/** The directory holding `initdb` and `postgres`, or undefined when PostgreSQL is not installed. */
export async function findPostgresBin(): Promise<string | undefined> {
  for (const dir of POSTGRES_BIN_DIRS) {
    try {
      await access(join(dir, 'postgres'));
      return dir;
    } catch {}
  }
  return undefined;
}

/** Creates a cluster under `options.dir` and starts it; resolves once it accepts connections. */
export async function startPostgres(options: PostgresOptions = {}): Promise<PostgresServer> {
  const bin = await findPostgresBin();
  if (bin === undefined) {
    throw new Error(
      `PostgreSQL server binaries not found in ${POSTGRES_BIN_DIRS.join(', ')}: install the Debian package "postgresql"`,
    );
  }
  const owned = options.dir === undefined;
  const base = options.dir ?? (await mkdtemp(join(tmpdir(), 'kiln-pg-')));
  const dir = join(base, 'postgres');
  await mkdir(dir, { recursive: true });
  const asRoot = process.getuid?.() === 0;
  if (asRoot) {
    // The server runs as nobody: it must own its directory and reach it.
    await chmod(base, 0o755);
    await chown(dir, 65534, 65534);
  }
  const data = join(dir, 'data');
  const run = (command: string, args: string[]): ChildProcess =>
    spawn(
      'setpriv',
      [
        ...(asRoot ? ['--reuid=nobody', '--regid=nogroup', '--clear-groups'] : []),
        // The server must not outlive whoever started it (this VM's pid 1 reaps nothing).
        '--pdeathsig=SIGINT',
        join(bin, command),
        ...args,
      ],
      { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, LC_ALL: 'C' } },
    );
  const init = run('initdb', [
    '-D',
    data,
    '-U',
    POSTGRES_USER,
    '--auth=trust',
    '--encoding=UTF8',
    '--no-sync',
  ]);
  let initOutput = '';
  init.stdout?.on('data', (d: Buffer) => {
    initOutput += d.toString();
  });
  init.stderr?.on('data', (d: Buffer) => {
    initOutput += d.toString();
  });
  const [initCode] = (await once(init, 'exit')) as [number | null];
  if (initCode !== 0) throw new Error(`initdb failed (exit ${initCode}):\n${initOutput}`);

  const port = await freePort();
  const launch = async (): Promise<ChildProcess> => {
    const server = run('postgres', [
      '-D',
      data,
      '-p',
      String(port),
      '-k',
      dir,
      '-c',
      'listen_addresses=127.0.0.1',
      // Throwaway data: durability only costs time.
      '-c',
      'fsync=off',
      '-c',
      'synchronous_commit=off',
      '-c',
      'full_page_writes=off',
    ]);
    let log = '';
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        server.kill('SIGKILL');
        reject(new Error(`PostgreSQL did not accept connections in time:\n${log}`));
      }, options.timeoutMs ?? 60_000);
      server.stderr?.on('data', (d: Buffer) => {
        log += d.toString();
        if (log.includes('database system is ready to accept connections')) {
          clearTimeout(timer);
          resolve();
        }
      });
      server.on('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`PostgreSQL exited with ${code} before accepting connections:\n${log}`));
      });
    });
    return server;
  };
  /** Fast shutdown (SIGINT: connections are cut, data kept), then waits for exit. */
  const shutdown = async (server: ChildProcess): Promise<void> => {
    if (server.exitCode !== null || server.signalCode !== null) return;
    const exited = once(server, 'exit');
    server.kill('SIGINT');
    const timer = setTimeout(() => server.kill('SIGKILL'), 20_000);
    await exited;
    clearTimeout(timer);
  };
  let server = await launch();
  let stopping: Promise<void> | undefined;
  return {
    url: `postgresql://${POSTGRES_USER}@127.0.0.1:${port}/postgres`,
    port,
    socketDir: dir,
    get pid() {
      return server.pid ?? -1;
    },
    async restart(whileDown) {
      if (stopping !== undefined) throw new Error('PostgreSQL was stopped');
      await shutdown(server);
      await whileDown?.();
      server = await launch();
    },
    stop: () => {
      stopping ??= (async () => {
        await shutdown(server);
        if (owned) await rm(base, { recursive: true, force: true });
      })();
      return stopping;
    },
  };
}
