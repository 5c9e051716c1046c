/**
 * Runs the `kiln` client commands as a subprocess, the way a user does, and
 * collects exit code, stdout and stderr.
 */
import { spawn } from 'node:child_process';
import { lstat, readdir, readFile, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { KILN_BIN, NODE24, ROOT } from '../support/kiln-process.ts';

/** What one command did. */
export interface CliResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly stdoutBytes: Buffer;
}

/** Options for {@link kiln}. */
export interface CliOptions {
  /** The server, passed as KILN_SERVER (so that commands need no --server). */
  readonly server?: string;
  readonly cwd?: string;
  readonly env?: NodeJS.ProcessEnv;
}

/** Runs `kiln ARGS` with Node 24 and resolves when it exits. */
export function kiln(args: readonly string[], options: CliOptions = {}): Promise<CliResult> {
  const env: NodeJS.ProcessEnv = { ...process.env, ...options.env };
  delete env.KILN_SERVER;
  if (options.server !== undefined) env.KILN_SERVER = options.server;
  const child = spawn(NODE24, [KILN_BIN, ...args], {
    cwd: options.cwd ?? ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout.on('data', (d: Buffer) => out.push(d));
  child.stderr.on('data', (d: Buffer) => err.push(d));
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => {
      const stdoutBytes = Buffer.concat(out);
      resolve({
        code,
        stdout: stdoutBytes.toString(),
        stderr: Buffer.concat(err).toString(),
        stdoutBytes,
      });
    });
  });
}

/** Parses the one JSON document a `--json` command printed. */
export function jsonOf<T = Record<string, unknown>>(result: CliResult): T {
  try {
    return JSON.parse(result.stdout) as T;
  } catch {
    throw new Error(
      `stdout is not one JSON document (exit ${result.code}):\n${result.stdout}\n${result.stderr}`,
    );
  }
}

/** One entry of a directory on disk, for comparing trees. */
export interface DiskEntry {
  readonly path: string;
  readonly type: 'file' | 'directory' | 'symlink';
  /** Permission bits. */
  readonly mode?: number;
  readonly target?: string;
  readonly contents?: Buffer;
}

/** Every entry under `root`, sorted by path: type, permission bits, link target, contents. */
export async function snapshot(root: string, prefix = ''): Promise<DiskEntry[]> {
  const entries: DiskEntry[] = [];
  for (const name of (await readdir(join(root, prefix))).sort()) {
    const path = prefix === '' ? name : `${prefix}/${name}`;
    const full = join(root, path);
    const info = await lstat(full);
    if (info.isSymbolicLink()) {
      entries.push({ path, type: 'symlink', target: await readlink(full) });
    } else if (info.isDirectory()) {
      entries.push({ path, type: 'directory', mode: info.mode & 0o777 });
      entries.push(...(await snapshot(root, path)));
    } else {
      entries.push({
        path,
        type: 'file',
        mode: info.mode & 0o777,
        contents: await readFile(full),
      });
    }
  }
  return entries;
}

/** Asserts a failure was reported as exactly one `kiln: …` line without a stack trace. */
export function oneErrorLine(result: CliResult): string {
  const lines = result.stderr.split('\n').filter((l) => l !== '');
  if (lines.length !== 1 || !lines[0]?.startsWith('kiln: ') || /\n\s+at /.test(result.stderr)) {
    throw new Error(`expected one "kiln: …" line on stderr, got:\n${result.stderr}`);
  }
  return lines[0];
}
