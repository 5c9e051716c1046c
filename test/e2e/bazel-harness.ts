/**
 * Helpers for end-to-end tests that drive a real Bazel (4.2.3, Debian's
 * bazel-bootstrap) against the fixture workspace in `fixtures/workspace`.
 *
 * Every workspace is a fresh copy with its own `--output_user_root`, so tests
 * never share a Bazel server, an action cache or a repository cache. Builds are
 * offline by construction: the repositories Bazel would download are pointed at
 * local stand-ins (see `fixtures/README.md`) and downloads are disabled.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { accessSync, constants, createReadStream } from 'node:fs';
import { chmod, cp, mkdtemp, readdir, realpath, rm, stat } from 'node:fs/promises';
import { constants as osConstants, tmpdir } from 'node:os';
import { delimiter, join, posix, sep } from 'node:path';
import { pipeline } from 'node:stream/promises';

/** Directory holding the fixture workspace and the offline repository stand-ins. */
export const FIXTURES_DIR = join(import.meta.dirname, 'fixtures');

/**
 * The workspace copy always has this directory name, so its convenience symlink
 * is always `bazel-workspace`, which the fixture's `.bazelignore` lists.
 */
const WORKSPACE_DIR_NAME = 'workspace';

/** Local stand-ins for the repositories Bazel 4.2.3 would otherwise download. */
const REPOSITORY_OVERRIDES: readonly string[] = ['rules_cc', 'rules_java', 'remote_coverage_tools'];

/** Commands that load packages and so accept repository options. */
const REPOSITORY_COMMANDS = new Set([
  'aquery',
  'build',
  'coverage',
  'cquery',
  'fetch',
  'info',
  'print_action',
  'query',
  'run',
  'sync',
  'test',
]);

/** Commands that accept build (execution) options. */
const BUILD_COMMANDS = new Set([
  'aquery',
  'build',
  'coverage',
  'cquery',
  'info',
  'print_action',
  'run',
  'test',
]);

/**
 * Startup options for every invocation. `--nohome_rc` keeps a developer's
 * `~/.bazelrc` out; the system rc stays because Debian's package needs its
 * `--install_base`. A small heap is plenty for this workspace and lets several
 * servers coexist on a CI machine.
 */
const BASE_STARTUP_ARGS: readonly string[] = ['--nohome_rc', '--host_jvm_args=-Xmx1g'];

/** Default `--max_idle_secs`: a server orphaned by a crashed test exits on its own. */
const DEFAULT_MAX_IDLE_SECS = 120;

/** Default time limit for one Bazel invocation. */
const DEFAULT_TIMEOUT_MS = 10 * 60_000;

/**
 * Options for build-family commands.
 * - `--nosandbox_debug` undoes Debian's `/etc/bazel/bazelrc`, whose
 *   `--sandbox_debug` floods stderr (and every action's stderr) with
 *   linux-sandbox traces.
 * - `--incompatible_strict_action_env` fixes PATH for actions, so action keys
 *   do not depend on the environment of whoever runs the tests; without it two
 *   machines never share remote cache entries.
 * - `--jobs=4`: local actions are still limited by the CPU count; the extra
 *   jobs only overlap remote cache round trips.
 */
const BUILD_ARGS: readonly string[] = [
  '--nosandbox_debug',
  '--incompatible_strict_action_env',
  '--jobs=4',
];

/** A private copy of the fixture workspace with its own Bazel output root. */
export interface BazelWorkspace {
  /** Workspace root: where `WORKSPACE` lives and where Bazel runs. */
  readonly dir: string;
  /** This workspace's `--output_user_root` (output base, server, caches). */
  readonly outputUserRoot: string;
  /** The Bazel client used for this workspace. */
  readonly bazel: string;
  /** Shuts this workspace's Bazel server down and deletes both temp dirs. Safe to call twice. */
  cleanup(): Promise<void>;
}

/** Options for {@link createBazelWorkspace}. */
export interface CreateBazelWorkspaceOptions {
  /** Directory to copy as the workspace. Defaults to `fixtures/workspace`. */
  readonly fixture?: string;
  /** Bazel client to run. Defaults to {@link findBazel}'s answer. */
  readonly bazel?: string;
}

/** Options for {@link runBazel}. */
export interface RunBazelOptions {
  /**
   * Extra startup options (before the command). Changing them between calls
   * restarts the workspace's server, as it would for a user.
   */
  readonly startupArgs?: readonly string[];
  /** `--max_idle_secs` for the server. Defaults to 120. */
  readonly maxIdleSecs?: number;
  /** Kill the client and reject after this long. Defaults to 10 minutes. */
  readonly timeoutMs?: number;
  /**
   * Leave out `--experimental_repository_disable_download`, for tests whose
   * repositories are downloaded on purpose (from a local origin, or through
   * Kiln's Remote Asset API, which that flag would block too).
   */
  readonly allowDownloads?: boolean;
}

/** The outcome of one Bazel invocation. */
export interface BazelResult {
  /** Exit code (0 success, 1 build failure, 3 tests failed, 2 bad options, …). */
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Process counts from Bazel's final `INFO: N processes: …` line. */
export interface ProcessSummary {
  /** Every process Bazel counted. */
  readonly total: number;
  /** Count per runner, keyed by Bazel's own name: `remote cache hit`, `internal`, `linux-sandbox`, … */
  readonly byRunner: Readonly<Record<string, number>>;
  /** Processes answered by the remote cache. Bazel 4.2.3 also counts `--disk_cache` hits here. */
  readonly remoteCacheHits: number;
  /** Processes Bazel performs itself (symlinks, params files, stamping); never cached remotely. */
  readonly internal: number;
  /**
   * Processes that actually ran: everything that is neither a cache hit nor
   * internal (`local`, `linux-sandbox`, `processwrapper-sandbox`, `worker`,
   * `remote`, …). A fully cached build has 0.
   */
  readonly executed: number;
}

/** Startup options of the last invocation, which the running server was started with. */
type BazelWorkspaceState = { lastStartupFlags: readonly string[] };
const workspaceState = new WeakMap<BazelWorkspace, BazelWorkspaceState>();

/** Returns the Bazel client to use: `/usr/bin/bazel`, else the first `bazel` on PATH. */
export function findBazel(): string | undefined {
  const dirs = ['/usr/bin', ...(process.env.PATH ?? '').split(delimiter).filter(Boolean)];
  for (const dir of dirs) {
    const candidate = join(dir, 'bazel');
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // Not here; try the next directory.
    }
  }
  return undefined;
}

/**
 * Resolves the Bazel client for a test. Without Bazel the test is skipped
 * locally, but fails in CI (`CI=true`), where a silently skipped e2e suite
 * would hide a broken image. Callers return when this gives `undefined`.
 */
export function requireBazel(t: { skip(message?: string): void }): string | undefined {
  const bazel = findBazel();
  if (bazel !== undefined) return bazel;
  const message = 'bazel not found at /usr/bin/bazel or on PATH';
  if (process.env.CI === 'true') {
    throw new Error(`${message}; CI must run the Bazel e2e tests (install bazel-bootstrap)`);
  }
  t.skip(message);
  return undefined;
}

/** Copies the fixture workspace into a fresh temp dir, with a fresh output root beside it. */
export async function createBazelWorkspace(
  options: CreateBazelWorkspaceOptions = {},
): Promise<BazelWorkspace> {
  const bazel = options.bazel ?? findBazel();
  if (bazel === undefined) throw new Error('bazel not found at /usr/bin/bazel or on PATH');
  const parent = await mkdtemp(join(tmpdir(), 'kiln-bazel-ws-'));
  const outputUserRoot = await mkdtemp(join(tmpdir(), 'kiln-bazel-root-'));
  const dir = join(parent, WORKSPACE_DIR_NAME);
  await cp(options.fixture ?? join(FIXTURES_DIR, 'workspace'), dir, { recursive: true });

  let cleaned: Promise<void> | undefined;
  const ws: BazelWorkspace = {
    dir,
    outputUserRoot,
    bazel,
    cleanup() {
      cleaned ??= (async () => {
        try {
          await shutdownBazel(ws);
        } finally {
          await removeTree(outputUserRoot);
          await removeTree(parent);
        }
      })();
      return cleaned;
    },
  };
  workspaceState.set(ws, { lastStartupFlags: startupFlags(ws, undefined, []) });
  return ws;
}

/**
 * Runs `bazel <startup options> <command> <offline options> <args>` in the
 * workspace. For commands that load packages, the repository overrides and
 * `--experimental_repository_disable_download` are added; build-family
 * commands also get {@link BUILD_ARGS}. Caller arguments come last, so they
 * win over the defaults. Resolves with any exit code; rejects only when Bazel
 * cannot be started or exceeds the time limit.
 */
export async function runBazel(
  ws: BazelWorkspace,
  args: readonly string[],
  opts: RunBazelOptions = {},
): Promise<BazelResult> {
  const [command, ...rest] = args;
  if (command === undefined) throw new Error('runBazel needs a command');
  const startup = startupFlags(ws, opts.maxIdleSecs, opts.startupArgs ?? []);
  const state = workspaceState.get(ws);
  if (state !== undefined) state.lastStartupFlags = startup;

  const argv = [
    ...startup,
    command,
    ...commandFlags(command, opts.allowDownloads ?? false),
    ...rest,
  ];
  return spawnBazel(ws, argv, opts.timeoutMs ?? DEFAULT_TIMEOUT_MS);
}

/**
 * Stops the workspace's Bazel server. Runs in the workspace directory with the
 * startup options last used there: elsewhere Bazel would fall back to batch
 * mode, and with other options it would restart the server just to stop it.
 */
export async function shutdownBazel(ws: BazelWorkspace): Promise<void> {
  const startup = workspaceState.get(ws)?.lastStartupFlags ?? startupFlags(ws, undefined, []);
  const result = await spawnBazel(ws, [...startup, 'shutdown'], 60_000);
  if (result.code !== 0) {
    throw new Error(`bazel shutdown exited with ${result.code}: ${tail(result.stderr)}`);
  }
}

/**
 * Hashes outputs under `bazel-bin` for byte-for-byte comparisons between
 * builds. `paths` are relative to `bazel-bin` and may name files or
 * directories (walked recursively). Symlinks are followed. Runfiles trees and
 * runfiles manifests are skipped: Bazel builds them locally and they hold
 * absolute paths of this output root. A path that does not exist is an error,
 * so a missing output cannot pass for an empty one.
 *
 * @returns sha256 (hex) per file, keyed by its `/`-separated path relative to `bazel-bin`, in sorted order.
 */
export async function collectOutputs(
  ws: BazelWorkspace,
  paths: readonly string[],
): Promise<Map<string, string>> {
  const bin = await realpath(join(ws.dir, 'bazel-bin'));
  const files: string[] = [];
  for (const path of paths) {
    const relative = posix.normalize(path.split(sep).join(posix.sep)).replace(/\/+$/, '');
    if (relative === '..' || relative.startsWith('../') || posix.isAbsolute(relative)) {
      throw new Error(`output path must be inside bazel-bin: ${path}`);
    }
    await listFiles(bin, relative === '.' ? '' : relative, files);
  }
  const unique = [...new Set(files)].sort();
  const result = new Map<string, string>();
  for (const file of unique) {
    result.set(file, await sha256File(join(bin, file)));
  }
  return result;
}

/**
 * Parses the last process summary Bazel 4.2.3 prints, e.g.
 * `INFO: 29 processes: 14 remote cache hit, 15 internal.`,
 * `INFO: 1 process: 1 internal.` or `INFO: 0 processes.`.
 * Throws when `stderr` holds no such line (Bazel failed before executing).
 */
export function parseRemoteCacheHits(stderr: string): ProcessSummary {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: strips ANSI colour codes.
  const lines = stderr.replace(/\u001b\[[0-9;]*m/g, '').split(/\r?\n/);
  const pattern = /^INFO: (\d+) process(?:es)?(?:: (.*))?\.$/;
  for (let i = lines.length - 1; i >= 0; i--) {
    const match = pattern.exec((lines[i] ?? '').trim());
    if (match === null) continue;
    const byRunner: Record<string, number> = {};
    for (const part of match[2] === undefined ? [] : match[2].split(', ')) {
      const entry = /^(\d+) (.+)$/.exec(part);
      if (entry === null) throw new Error(`unexpected process summary entry: ${part}`);
      const runner = entry[2] as string;
      byRunner[runner] = (byRunner[runner] ?? 0) + Number(entry[1]);
    }
    return summarize(Number(match[1]), byRunner);
  }
  throw new Error(`no "INFO: N processes" line in Bazel's stderr: ${tail(stderr)}`);
}

function summarize(total: number, byRunner: Record<string, number>): ProcessSummary {
  let remoteCacheHits = 0;
  let internal = 0;
  let executed = 0;
  for (const [runner, count] of Object.entries(byRunner)) {
    if (runner === 'remote cache hit') remoteCacheHits += count;
    else if (runner === 'internal') internal += count;
    // Later Bazels add `disk cache hit` and `action cache hit`: not executions either.
    else if (!runner.endsWith('cache hit')) executed += count;
  }
  return { total, byRunner, remoteCacheHits, internal, executed };
}

function startupFlags(
  ws: BazelWorkspace,
  maxIdleSecs: number | undefined,
  extra: readonly string[],
): string[] {
  return [
    `--output_user_root=${ws.outputUserRoot}`,
    `--max_idle_secs=${maxIdleSecs ?? DEFAULT_MAX_IDLE_SECS}`,
    ...BASE_STARTUP_ARGS,
    ...extra,
  ];
}

function commandFlags(command: string, allowDownloads: boolean): string[] {
  const flags: string[] = ['--color=no', '--curses=no'];
  if (REPOSITORY_COMMANDS.has(command)) {
    for (const name of REPOSITORY_OVERRIDES) {
      flags.push(`--override_repository=${name}=${join(FIXTURES_DIR, name)}`);
    }
    if (!allowDownloads) flags.push('--experimental_repository_disable_download');
  }
  if (BUILD_COMMANDS.has(command)) flags.push(...BUILD_ARGS);
  return flags;
}

function spawnBazel(ws: BazelWorkspace, argv: string[], timeoutMs: number): Promise<BazelResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(ws.bazel, argv, { cwd: ws.dir, stdio: ['ignore', 'pipe', 'pipe'] });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      const command = argv.find((a) => !a.startsWith('-')) ?? 'bazel';
      reject(
        new Error(
          `bazel ${command} timed out after ${timeoutMs} ms: ${tail(Buffer.concat(stderr).toString())}`,
        ),
      );
    }, timeoutMs);
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({
        // A signal-killed client reports 128 + signal number, as a shell would.
        code: code ?? 128 + (signal === null ? 0 : osConstants.signals[signal]),
        stdout: Buffer.concat(stdout).toString(),
        stderr: Buffer.concat(stderr).toString(),
      });
    });
  });
}

async function listFiles(bin: string, relative: string, out: string[]): Promise<void> {
  const name = posix.basename(relative);
  if (name.endsWith('.runfiles') || name.endsWith('.runfiles_manifest')) return;
  const info = await stat(join(bin, relative));
  if (info.isFile()) {
    out.push(relative);
    return;
  }
  if (!info.isDirectory()) return;
  const entries = await readdir(join(bin, relative));
  for (const entry of entries) {
    await listFiles(bin, relative === '' ? entry : `${relative}/${entry}`, out);
  }
}

async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(createReadStream(path), hash);
  return hash.digest('hex');
}

/**
 * Deletes a tree that may hold read-only directories (Bazel marks outputs and
 * some external directories read-only), restoring write permission when a
 * plain `rm` is refused.
 */
async function removeTree(path: string): Promise<void> {
  try {
    await rm(path, { recursive: true, force: true });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== 'EACCES' && code !== 'EPERM') throw error;
    await makeWritable(path);
    await rm(path, { recursive: true, force: true });
  }
}

async function makeWritable(path: string): Promise<void> {
  await chmod(path, 0o755).catch(() => undefined);
  const entries = await readdir(path, { withFileTypes: true }).catch(() => []);
  for (const entry of entries) {
    if (entry.isDirectory()) await makeWritable(join(path, entry.name));
  }
}

function tail(text: string, lines = 20): string {
  return text.trimEnd().split('\n').slice(-lines).join('\n');
}
