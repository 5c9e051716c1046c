/**
 * Builds a worker's {@link ActionRunner} from the steps it uses, innermost
 * first: the plain {@link CommandRunner}, privilege separation around it,
 * the sandbox around that (so that bubblewrap starts as the action's user),
 * and resource accounting outermost (so that GNU time runs inside the
 * sandbox, as the action's user, and measures only the command's tree).
 */
import type { Logger } from '../util/logger.ts';
import type { ActionUserPool } from './action-users.ts';
import { type ActionRunner, CommandRunner } from './command-runner.ts';
import { PrivilegeSeparatingRunner } from './privilege-separating-runner.ts';
import type { ActionCgroupRequest, ProcessLauncher } from './process-launcher.ts';
import { ResourceAccountingRunner } from './resource-accounting-runner.ts';
import { SandboxingRunner } from './sandboxing-runner.ts';

/** The steps of {@link composeRunner}; each is left out when absent. */
export interface RunnerSteps {
  readonly launcher: ProcessLauncher;
  /** Privilege separation: the users actions run as. */
  readonly actionUsers?: ActionUserPool;
  /** With `actionUsers`: each command runs in its user's cgroup, under this memory limit. */
  readonly actionCgroup?: ActionCgroupRequest;
  /** The sandbox: the bubblewrap binary. */
  readonly bwrap?: string;
  /** Resource accounting: the GNU time binary, for a launcher that does not report usage itself. */
  readonly time?: string;
  /** Time between SIGTERM and SIGKILL; CommandRunner's default when absent. */
  readonly killGraceMs?: number;
  readonly log?: Logger;
}

/** The runner with the given steps. */
export function composeRunner(steps: RunnerSteps): ActionRunner {
  let runner: ActionRunner = new CommandRunner({
    launcher: steps.launcher,
    killGraceMs: steps.killGraceMs,
  });
  if (steps.actionUsers !== undefined) {
    runner = new PrivilegeSeparatingRunner({
      inner: runner,
      users: steps.actionUsers,
      launcher: steps.launcher,
      cgroup: steps.actionCgroup,
      log: steps.log,
    });
  }
  if (steps.bwrap !== undefined)
    runner = new SandboxingRunner({ inner: runner, bwrap: steps.bwrap });
  // A launcher that measures what it started needs no GNU time around each
  // command, except where commands start in cgroups (Node.js's spawn, unmeasured).
  const measured = steps.launcher.reportsUsage === true && steps.actionCgroup === undefined;
  if (steps.time !== undefined && !measured)
    runner = new ResourceAccountingRunner({ inner: runner, time: steps.time });
  return runner;
}
