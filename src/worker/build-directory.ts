/**
 * The per-action scratch directory: a fresh directory under the worker's
 * build root holding the input root and, beside it (so the action cannot see
 * or clobber them), the stdout and stderr files.
 */
import { chmod, mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { fromFsError } from '../errors.ts';

/** One action's build directory. */
export interface BuildDirectory {
  /** The directory itself. */
  readonly path: string;
  /** The action's input root (`path/root`), empty at first. */
  readonly inputRoot: string;
  readonly stdoutPath: string;
  readonly stderrPath: string;
  /** Deletes everything, even what the action made read-only; false when something stayed. Never rejects. */
  remove(): Promise<boolean>;
}

/** Creates a fresh, uniquely named build directory under `buildRoot` (created if absent). */
export async function createBuildDirectory(buildRoot: string): Promise<BuildDirectory> {
  let path: string;
  try {
    await mkdir(buildRoot, { recursive: true });
    path = await mkdtemp(join(buildRoot, 'action-'));
    await mkdir(join(path, 'root'));
  } catch (err) {
    throw fromFsError(err, `creating a build directory under ${buildRoot}`);
  }
  return {
    path,
    inputRoot: join(path, 'root'),
    stdoutPath: join(path, 'stdout'),
    stderrPath: join(path, 'stderr'),
    remove: () => removeTree(path),
  };
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
