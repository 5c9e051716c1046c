/**
 * The per-action scratch directory: a fresh directory under the worker's
 * build root holding the input root and, beside it (so the action cannot see
 * or clobber them), the stdout and stderr files and the action's private
 * temporary directory (TMPDIR), which neither the input tree nor the
 * outputs include.
 */
import { chmod, mkdir, mkdtemp, readdir, rm, rmdir, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { fromFsError } from '../errors.ts';

/** One action's build directory. */
export interface BuildDirectory {
  /** The directory itself. */
  readonly path: string;
  /**
   * The action's input root (`path/root`): empty at first but for the
   * directories in {@link skeleton}.
   */
  readonly inputRoot: string;
  /**
   * Empty directories an earlier action left in the input root, as paths
   * relative to it, parents first (see BuildDirectoryPool). Staging keeps
   * those the action needs and removes the others.
   */
  readonly skeleton?: readonly string[];
  readonly stdoutPath: string;
  readonly stderrPath: string;
  /**
   * The action's private temporary directory (`path/tmp`, mode 0o700): empty
   * whenever the directory is handed out.
   */
  readonly tmpDir: string;
  /** Deletes everything, even what the action made read-only; false when something stayed. Never rejects. */
  remove(): Promise<boolean>;
}

/** Creates a fresh, uniquely named build directory under `buildRoot` (created if absent). */
export async function createBuildDirectory(buildRoot: string): Promise<BuildDirectory> {
  let path: string;
  try {
    path = await mkdtemp(join(buildRoot, 'action-')).catch(async (err: unknown) => {
      // The root exists after the first action; make it only when it is missing.
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      await mkdir(buildRoot, { recursive: true });
      return mkdtemp(join(buildRoot, 'action-'));
    });
    // The build directory can be passed through but not listed, by anyone:
    // under privilege separation the action's user enters its input root
    // (0o700, handed to that user while the command runs) and nothing else
    // here; stdout and stderr, beside it, are written through descriptors.
    await chmod(path, 0o711);
    await mkdir(join(path, 'root'), { mode: 0o700 });
    await mkdir(join(path, 'tmp'), { mode: 0o700 });
  } catch (err) {
    throw fromFsError(err, `creating a build directory under ${buildRoot}`);
  }
  const inputRoot = join(path, 'root');
  const stdoutPath = join(path, 'stdout');
  const stderrPath = join(path, 'stderr');
  const tmpDir = join(path, 'tmp');
  return {
    path,
    inputRoot,
    stdoutPath,
    stderrPath,
    tmpDir,
    // `usage` is resource accounting's report, when that step runs.
    remove: () =>
      removeBuildDirectory(
        path,
        [inputRoot, tmpDir],
        [stdoutPath, stderrPath, join(path, 'usage')],
      ),
  };
}

/**
 * Deletes a build directory. Its own entries are known, so they go with one
 * call each (a recursive `rm` would first look at every one of them); only
 * the contents of the input root and the temporary directory need a walk.
 * Anything unexpected falls back to {@link removeTree}.
 */
async function removeBuildDirectory(
  path: string,
  directories: readonly string[],
  files: readonly string[],
): Promise<boolean> {
  try {
    await Promise.all([
      ...files.map((f) => unlink(f).catch(ignoreMissing)),
      ...directories.map((d) =>
        rmdir(d).catch((err: unknown) => {
          if ((err as NodeJS.ErrnoException).code === 'ENOTEMPTY') {
            return rm(d, { recursive: true, force: true });
          }
          return ignoreMissing(err);
        }),
      ),
    ]);
    await rmdir(path);
    return true;
  } catch {
    return removeTree(path);
  }
}

function ignoreMissing(err: unknown): void {
  if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
}

/**
 * `rm -rf`, retried after making every directory writable again, because an
 * action may leave directories without write permission, which blocks
 * deleting their entries.
 */
async function removeTree(path: string): Promise<boolean> {
  try {
    await rm(path, { recursive: true, force: true });
    return true;
  } catch {
    // Fall through: restore permissions and try once more.
  }
  await makeWritable(path).catch(() => {});
  return rm(path, { recursive: true, force: true }).then(
    () => true,
    () => false,
  );
}

async function makeWritable(dir: string): Promise<void> {
  await chmod(dir, 0o700);
  const entries = await readdir(dir, { withFileTypes: true });
  await Promise.all(
    entries.filter((e) => e.isDirectory()).map((e) => makeWritable(join(dir, e.name))),
  );
}
