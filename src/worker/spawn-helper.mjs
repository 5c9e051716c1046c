// @ts-check
/**
 * The spawn helper: a small Node.js process that starts action processes on
 * behalf of a worker, so that the worker's large process never forks (see
 * `process-launcher.ts` for why). `HelperProcessLauncher` starts it with an
 * IPC channel and sends it {@link SpawnHelperRequest}s; it answers each with
 * the pid or the launch error, and later with the exit.
 *
 * It forks the actions' processes from a long-lived perl of its own
 * (process-forker.mjs), a seventh of its size, and otherwise from itself. It
 * stays small, because the cost of each fork grows with the size of the
 * process that forks: it imports only Node.js built-ins,
 * `direct-process-launcher.mjs` and `keep-directories.mjs`, all plain
 * JavaScript. A TypeScript module anywhere in its imports would make Node.js
 * start its type stripper here, which adds about 19 MB to the helper's RSS
 * and 0.3 ms of CPU to each spawn (measured with 2,000 spawns of
 * /bin/true). The types are JSDoc, checked by `npm run typecheck`, and only
 * imported from .ts modules (`@import`, a comment to Node.js).
 *
 * When the perl ends while it runs actions, whose exits can then not be
 * reported, the helper exits: the worker fails those actions with
 * UNAVAILABLE and starts a new helper, as for a helper that died.
 */
import { readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { DirectProcessLauncher, ForkerLostError, LaunchError } from './direct-process-launcher.mjs';
import { emptyKeepingDirectoriesSync } from './keep-directories.mjs';

/** @import { LaunchRequest } from './process-launcher.ts' */
/** @import { KeepDirectories } from './keep-directories.mjs' */

/**
 * A launch, numbered by the worker.
 * @typedef {LaunchRequest & { readonly id: number }} SpawnHelperLaunch
 */

/**
 * Empty a directory (keeping it): a build directory's input root after its
 * action. Done here, with synchronous calls, rather than in the worker,
 * where each of the dozens of unlinks, rmdirs and readdirs of a tree would
 * be a round trip through its thread pool while it serves calls. With
 * `keep`, keep the directories it allows (see keep-directories.mjs) and
 * report them.
 * @typedef {{
 *   readonly id: number,
 *   readonly empty: string,
 *   readonly keep?: KeepDirectories,
 * }} SpawnHelperEmpty
 */

/**
 * Kill every process of a user (see kill-user.mjs).
 * @typedef {{ readonly id: number, readonly killUser: number }} SpawnHelperKillUser
 */

/**
 * What the worker sends.
 * @typedef {SpawnHelperLaunch | SpawnHelperEmpty | SpawnHelperKillUser} SpawnHelperRequest
 */

/**
 * The helper's answers: started (pid), not started (error), and later the
 * exit; for an emptying, emptied (with the directories kept) or not.
 * @typedef {(
 *   | { readonly id: number, readonly pid: number }
 *   | {
 *       readonly id: number,
 *       readonly error: {
 *         readonly stage: LaunchError['stage'],
 *         readonly message: string,
 *         readonly errno: string | undefined,
 *       },
 *     }
 *   | { readonly id: number, readonly exit: { code: number | null, signal: NodeJS.Signals | null } }
 *   | { readonly id: number, readonly emptied: true, readonly kept?: string[] }
 *   | { readonly id: number, readonly emptyFailed: string }
 *   | { readonly id: number, readonly killed: number }
 *   | { readonly id: number, readonly killFailed: string }
 * )} SpawnHelperReply
 */

/**
 * Serves launch requests on the IPC channel until the worker disconnects.
 * @returns {void}
 */
export function runSpawnHelper() {
  const send = process.send?.bind(process);
  if (send === undefined) throw new Error('the spawn helper must be started with an IPC channel');
  const launcher = new DirectProcessLauncher({ forker: true });
  /** @param {unknown} err */
  const lostForker = (err) => {
    process.stderr.write(`kiln spawn helper: ${err instanceof Error ? err.message : err}\n`);
    process.exit(70);
  };
  /** @param {SpawnHelperReply} message */
  const reply = (message) => {
    // The worker may be gone (it stopped while a reply was due): nothing to tell then.
    send(message, undefined, {}, () => {});
  };
  process.on('message', (/** @type {SpawnHelperRequest} */ request) => {
    if ('empty' in request) {
      reply(emptyDirectory(request));
      return;
    }
    if ('killUser' in request) {
      launcher.killUser(request.killUser).then(
        (killed) => reply({ id: request.id, killed }),
        (/** @type {unknown} */ err) =>
          reply({ id: request.id, killFailed: err instanceof Error ? err.message : String(err) }),
      );
      return;
    }
    launcher.launch(request).then(
      (launched) => {
        reply({ id: request.id, pid: launched.pid });
        void launched.exit.then((exit) => reply({ id: request.id, exit }), lostForker);
      },
      (/** @type {unknown} */ err) => {
        if (err instanceof ForkerLostError) lostForker(err);
        const error = err instanceof LaunchError ? err : LaunchError.of('spawn', err);
        reply({
          id: request.id,
          error: { stage: error.stage, message: error.message, errno: error.errno },
        });
      },
    );
  });
  // The worker decides when the actions stop (it signals their process
  // groups itself); a Ctrl-C meant for it must not take away the process
  // that reports their exits.
  process.on('SIGINT', () => {});
  process.on('SIGTERM', () => {});
  process.on('disconnect', () => {
    void launcher.close().finally(() => process.exit(0));
  });
}

/**
 * @param {SpawnHelperEmpty} request
 * @returns {SpawnHelperReply}
 */
function emptyDirectory({ id, empty, keep }) {
  try {
    if (keep !== undefined)
      return { id, emptied: true, kept: emptyKeepingDirectoriesSync(empty, keep) };
    for (const name of readdirSync(empty)) {
      rmSync(join(empty, name), { recursive: true, force: true, maxRetries: 2 });
    }
    return { id, emptied: true };
  } catch (err) {
    return { id, emptyFailed: err instanceof Error ? err.message : String(err) };
  }
}

if (import.meta.main) runSpawnHelper();
