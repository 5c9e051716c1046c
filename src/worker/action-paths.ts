/**
 * The path rules of an action: which names a Directory may hold, how output
 * paths and the working directory map into the input root, and how the
 * worker creates directories there without ever following a symlink out of
 * the build directory.
 */
import { chmodSync } from 'node:fs';
import { lstat, mkdir } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { fromFsError, invalidArgument } from '../errors.ts';
import type { Command } from '../gen/build/bazel/remote/execution/v2/remote_execution.js';

/** Throws INVALID_ARGUMENT unless `name` is exactly one usable path segment. */
export function validateNodeName(name: string, where: string): void {
  if (name === '' || name === '.' || name === '..' || name.includes('/') || name.includes('\0')) {
    throw invalidArgument(
      `${where}: name "${name}" must be one path segment (not empty, ".", "..", and without "/")`,
    );
  }
}

/**
 * Maps a path relative to the working directory (or, for the working
 * directory itself, relative to the input root) to a normalized path relative
 * to the input root, '' being the root. `..` may appear as long as the result
 * stays inside the input root.
 */
export function resolveActionPath(workingDirectory: string, path: string, what: string): string {
  // Most paths of most actions are already normal and relative to the root.
  if (workingDirectory === '' && path !== '' && !NOT_NORMAL.test(path)) return path;
  for (const p of [workingDirectory, path]) {
    if (p.startsWith('/') || p.includes('\0')) {
      throw invalidArgument(`${what} "${p}" must be a relative path`);
    }
  }
  const joined = posix.normalize(posix.join(workingDirectory, path));
  const trimmed = joined.endsWith('/') ? joined.slice(0, -1) : joined;
  if (trimmed === '..' || trimmed.startsWith('../')) {
    throw invalidArgument(`${what} "${path}" leaves the input root`);
  }
  return trimmed === '.' ? '' : trimmed;
}

/**
 * Anything `posix.normalize` would change or {@link resolveActionPath} refuses:
 * a leading or trailing `/`, an empty, `.` or `..` segment, or a NUL.
 */
const NOT_NORMAL = /^\/|\/$|\/\/|(^|\/)\.\.?(\/|$)|\0/;

/** How an output was declared, which decides how it is reported. */
export type OutputKind = 'path' | 'file' | 'directory';

/** One declared output of a Command. */
export interface DeclaredOutput {
  /** As declared: relative to the working directory; the path ActionResult reports. */
  readonly path: string;
  /** Relative to the input root, normalized. */
  readonly rootPath: string;
  /** `path` for `output_paths` (type decided after the run), otherwise the legacy field. */
  readonly kind: OutputKind;
}

/**
 * The outputs a Command declares: `output_paths` when set (REAPI v2.1+; the
 * legacy fields are then ignored), otherwise `output_files` and
 * `output_directories`. Throws INVALID_ARGUMENT for paths that are absolute
 * or leave the input root.
 */
export function declaredOutputs(command: Command): readonly DeclaredOutput[] {
  // Staging, the steps and the upload all ask, of the same Command.
  let outputs = declared.get(command);
  if (outputs === undefined) {
    outputs = outputsOf(command);
    declared.set(command, outputs);
  }
  return outputs;
}

/** The outputs of the Commands of the actions under way, as {@link declaredOutputs} found them. */
const declared = new WeakMap<Command, readonly DeclaredOutput[]>();

function outputsOf(command: Command): readonly DeclaredOutput[] {
  const wd = command.workingDirectory;
  const make = (path: string, kind: OutputKind): DeclaredOutput => ({
    path,
    rootPath: resolveActionPath(wd, path, `output path`),
    kind,
  });
  if (command.outputPaths.length > 0) return command.outputPaths.map((p) => make(p, 'path'));
  return [
    ...command.outputFiles.map((p) => make(p, 'file')),
    ...command.outputDirectories.map((p) => make(p, 'directory')),
  ];
}

/**
 * Creates `relative` (and its parents) under `root`, one segment at a time,
 * refusing to descend through anything that is not a real directory, so that
 * a symlink in the input root cannot make the worker create directories
 * elsewhere. `created` remembers directories known to exist, across calls.
 * New directories get `mode` when given (see InputStagerOptions.directoryMode).
 */
export async function makeDirectoriesInside(
  root: string,
  relative: string,
  created: Set<string> = new Set(),
  mode?: number,
): Promise<void> {
  if (relative === '') return;
  let prefix = '';
  for (const segment of relative.split('/')) {
    prefix = prefix === '' ? segment : `${prefix}/${segment}`;
    if (created.has(prefix)) continue;
    const full = join(root, prefix);
    try {
      await mkdir(full);
      if (mode !== undefined) chmodSync(full, mode);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw fromFsError(err, `creating directory ${prefix}`);
      }
      const info = await lstat(full);
      if (info.isSymbolicLink()) {
        throw invalidArgument(
          `"${prefix}" is a symlink in the input root; the worker does not create directories through symlinks`,
        );
      }
      if (!info.isDirectory()) {
        throw invalidArgument(`"${prefix}" is a file in the input root, not a directory`);
      }
    }
    created.add(prefix);
  }
}
