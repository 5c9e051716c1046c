/**
 * Privilege separation: the step that runs each command as a user of its
 * own instead of the worker's (see `action-users.ts`).
 *
 * While the command runs, its user owns the input root (mode 0o700) and
 * nothing else the worker has: input files are hardlinks of the file
 * cache's read-only files, owned by the worker, so the action can neither
 * write them nor change their mode; the file cache, the worker's and the
 * server's data, and other actions' build directories are closed to it.
 * It can still create, rename and delete entries of its own tree, which
 * changes nothing outside it. Its private temporary directory (TMPDIR,
 * beside the input root) is handed over and back the same way.
 *
 * When the command ends, every process of its user is killed (those that
 * left the process group with `setsid` included: the launcher does it before
 * it reports the exit, saving a round trip to the spawn helper) and the input root is
 * handed back to the worker before anything else happens: output collection
 * then reads a tree nobody can change any more, and the user is free for
 * the next command. What the user left at the top of /tmp, /var/tmp and
 * /dev/shm is removed with its processes (see shared-temp.mjs), so the next
 * action, of whichever user, finds nothing of it there.
 */
import { chmodSync, chownSync } from 'node:fs';
import { fromFsError, internal, unavailable } from '../errors.ts';
import type { Logger } from '../util/logger.ts';
import type { ActionUserPool } from './action-users.ts';
import type { ActionRunner, RunRequest, RunResult } from './command-runner.ts';
import type { ActionCgroupRequest, ProcessLauncher } from './process-launcher.ts';

/** Options for {@link PrivilegeSeparatingRunner}. */
export interface PrivilegeSeparatingRunnerOptions {
  /** Runs the command (as the user this step sets). */
  readonly inner: ActionRunner;
  readonly users: ActionUserPool;
  /** Kills a user's processes (the worker's spawn helper). */
  readonly launcher: Pick<ProcessLauncher, 'killUser'>;
  /**
   * Run each command in its user's cgroup (see action-cgroups.mjs), under
   * the memory limit given; without it, leftovers are found through /proc.
   */
  readonly cgroup?: ActionCgroupRequest;
  readonly log?: Logger;
}

/** Runs each command as a user of its own; see the module comment. */
export class PrivilegeSeparatingRunner implements ActionRunner {
  readonly #options: PrivilegeSeparatingRunnerOptions;
  readonly #self = { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 };

  constructor(options: PrivilegeSeparatingRunnerOptions) {
    this.#options = options;
  }

  async run(request: RunRequest): Promise<RunResult> {
    const { inputRoot } = request;
    if (inputRoot === undefined) throw internal('privilege separation needs the input root');
    const { users, inner, log } = this.#options;
    const user = await users.acquire();
    const handed = { inputRoot, tmpDir: request.tmpDir };
    let clean = false;
    try {
      own(inputRoot, user.uid, user.gid);
      if (request.tmpDir !== undefined) own(request.tmpDir, user.uid, user.gid);
      for (const file of request.writableFiles ?? []) own(file, user.uid, user.gid);
      const result = await inner.run({ ...request, user, cgroup: this.#options.cgroup });
      // The launcher killed the user's other processes before it reported the exit.
      const { leftovers } = result;
      if (leftovers !== undefined && 'killed' in leftovers && leftovers.tempRemoved !== undefined) {
        users.countTempRemoved(leftovers.tempRemoved);
        log?.debug(
          { uid: user.uid, removed: leftovers.tempRemoved },
          'removed what an action left in the shared temporary directories',
        );
      }
      if (leftovers !== undefined && 'killed' in leftovers && leftovers.fallback !== undefined) {
        users.countKillFallback();
        log?.warn(
          { uid: user.uid, why: leftovers.fallback },
          "could not kill an action user's processes all at once; walked /proc for them instead",
        );
      }
      clean = await this.#reclaim(
        handed,
        user.uid,
        leftovers !== undefined && 'killed' in leftovers ? leftovers.killed : undefined,
      );
      // Something of the action may still run and change its outputs, or the
      // tree is still the user's: nothing of it is collected.
      if (!clean) {
        throw unavailable(
          `the processes of action user ${user.uid} could not all be ended, its files in the shared temporary directories not removed, or its input root not taken back; the action's outputs are not collected (see the worker's log)`,
        );
      }
      return result;
    } finally {
      if (!clean) clean = await this.#reclaim(handed, user.uid, undefined);
      // A user whose processes could not all be killed runs nothing again.
      if (clean) users.release(user);
      else log?.error({ uid: user.uid }, 'processes of an action user survived; user retired');
    }
  }

  /**
   * Gives the input root and the temporary directory back, after making
   * sure nothing of the user runs: `killed` is what the launcher already
   * killed when the command exited; without it (the launch failed, or the
   * kill did), it is done here. False when that failed.
   */
  async #reclaim(
    { inputRoot, tmpDir }: { inputRoot: string; tmpDir: string | undefined },
    uid: number,
    killed: number | undefined,
  ): Promise<boolean> {
    try {
      const count = killed ?? (await this.#options.launcher.killUser(uid));
      if (count > 0) {
        this.#options.users.countKilled(count);
        this.#options.log?.debug({ uid, killed: count }, 'killed processes an action left running');
      }
      own(inputRoot, this.#self.uid, this.#self.gid);
      if (tmpDir !== undefined) {
        own(tmpDir, this.#self.uid, this.#self.gid);
        // The action may have opened it to others; the next one gets it closed.
        chmodSync(tmpDir, 0o700);
      }
      return true;
    } catch (err) {
      this.#options.log?.error(
        { err, uid },
        "could not end an action user's processes or remove its shared temporary files",
      );
      return false;
    }
  }
}

function own(path: string, uid: number, gid: number): void {
  try {
    chownSync(path, uid, gid);
  } catch (err) {
    throw fromFsError(err, `handing ${path} to user ${uid}`);
  }
}
