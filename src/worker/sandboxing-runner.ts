/**
 * The namespace sandbox, for actions that ask for it with the platform
 * property `sandbox=namespaces` (for Bazel:
 * `--remote_default_exec_properties=sandbox=namespaces`). The command runs
 * under bubblewrap (Debian's `bubblewrap` package) in new user, PID,
 * network, IPC and UTS namespaces:
 * - no network but a loopback interface of its own (the host's loopback
 *   ports are out of reach);
 * - a PID namespace: when the command ends, every process it started ends
 *   with it, daemons and `setsid` included;
 * - the host's file system read-only, a private `/tmp`, a minimal `/dev`,
 *   its own `/proc`, and write access to its input root and its private
 *   temporary directory (TMPDIR, beside the input root) only.
 *
 * A worker advertises the property only when a trial run of bubblewrap
 * works ({@link probeSandbox}), so an action that asks for the sandbox
 * never runs without it: the scheduler sends it only to workers offering it.
 */
import { spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { invalidArgument } from '../errors.ts';
import type { PlatformProperty } from '../scheduler/types.ts';
import type { ActionRunner, RunRequest, RunResult } from './command-runner.ts';
import type { ActionUser } from './process-launcher.ts';

/** The platform property that asks for the sandbox, and that a worker offers. */
export const SANDBOX_PROPERTY: PlatformProperty = { name: 'sandbox', value: 'namespaces' };

/** True when the action's platform asks for the sandbox. */
export function wantsSandbox(platform: readonly PlatformProperty[]): boolean {
  return platform.some(
    (p) => p.name === SANDBOX_PROPERTY.name && p.value === SANDBOX_PROPERTY.value,
  );
}

/** Options for {@link SandboxingRunner}. */
export interface SandboxingRunnerOptions {
  readonly inner: ActionRunner;
  /** The bubblewrap binary. */
  readonly bwrap: string;
}

/** Runs the commands that ask for it under bubblewrap; others pass through. */
export class SandboxingRunner implements ActionRunner {
  readonly #inner: ActionRunner;
  readonly #bwrap: string;

  constructor(options: SandboxingRunnerOptions) {
    this.#inner = options.inner;
    this.#bwrap = options.bwrap;
  }

  run(request: RunRequest): Promise<RunResult> {
    if (request.sandbox !== true) return this.#inner.run(request);
    const { inputRoot } = request;
    if (inputRoot === undefined) throw invalidArgument('the sandbox needs the input root');
    const writable = [
      inputRoot,
      ...(request.tmpDir === undefined ? [] : [request.tmpDir]),
      ...(request.writableFiles ?? []),
    ];
    return this.#inner.run({
      ...request,
      sandbox: false,
      arguments: [
        this.#bwrap,
        ...sandboxArguments(writable, request.workingDirectory),
        '--',
        ...request.arguments,
      ],
    });
  }
}

/** bubblewrap's arguments: the namespaces and the file system view described above. */
function sandboxArguments(writable: readonly string[], workingDirectory: string): string[] {
  return [
    '--die-with-parent',
    '--unshare-all',
    '--ro-bind',
    '/',
    '/',
    '--dev',
    '/dev',
    '--proc',
    '/proc',
    '--tmpfs',
    '/tmp',
    ...writable.flatMap((path) => ['--bind', path, path]),
    '--chdir',
    workingDirectory,
  ];
}

/** The bubblewrap binary on PATH (or the usual place), undefined when there is none. */
export function findBubblewrap(path = process.env.PATH ?? ''): string | undefined {
  for (const dir of [...path.split(delimiter), '/usr/bin']) {
    if (dir === '') continue;
    const candidate = join(dir, 'bwrap');
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // Not here.
    }
  }
  return undefined;
}

/**
 * Tries the sandbox once, as `user` when given (the action users of
 * privilege separation): resolves with the bubblewrap binary when it works,
 * or with why it does not (no bubblewrap, no user namespaces for
 * unprivileged users, …).
 */
export async function probeSandbox(
  user?: ActionUser,
  bwrap = findBubblewrap(),
): Promise<{ bwrap: string } | { why: string }> {
  if (bwrap === undefined) return { why: 'bubblewrap (bwrap) is not installed' };
  const args = [...sandboxArguments(['/tmp'], '/'), '--', '/bin/true'];
  return new Promise((resolve) => {
    const child = spawn(bwrap, args, {
      stdio: ['ignore', 'ignore', 'pipe'],
      ...(user === undefined ? {} : { uid: user.uid, gid: user.gid }),
    });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
    });
    child.on('error', (err) => resolve({ why: `bwrap could not start: ${err.message}` }));
    child.on('close', (code) => {
      if (code === 0) resolve({ bwrap });
      else resolve({ why: `bwrap failed (exit ${code}): ${stderr.trim().slice(0, 300)}` });
    });
  });
}
