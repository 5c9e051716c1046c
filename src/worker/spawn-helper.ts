/**
 * The spawn helper: a small Node.js process that starts action processes on
 * behalf of a worker, so that the worker's large process never forks (see
 * `process-launcher.ts` for why). `HelperProcessLauncher` starts it with an
 * IPC channel and sends it {@link SpawnHelperRequest}s; it answers each with
 * the pid or the launch error, and later with the exit.
 *
 * It imports only Node.js built-ins and `process-launcher.ts`, to stay small:
 * the cost of each fork grows with the size of the process that forks.
 */
import { readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { emptyKeepingDirectoriesSync, type KeepDirectories } from './keep-directories.ts';
import { DirectProcessLauncher, LaunchError, type LaunchRequest } from './process-launcher.ts';

/** A launch, numbered by the worker. */
export interface SpawnHelperLaunch extends LaunchRequest {
  readonly id: number;
}

/**
 * Empty a directory (keeping it): a build directory's input root after its
 * action. Done here, with synchronous calls, rather than in the worker,
 * where each of the dozens of unlinks, rmdirs and readdirs of a tree would
 * be a round trip through its thread pool while it serves calls.
 */
export interface SpawnHelperEmpty {
  readonly id: number;
  readonly empty: string;
  /** Keep the directories allowed here (see keep-directories.ts) and report them. */
  readonly keep?: KeepDirectories;
}

/** What the worker sends. */
export type SpawnHelperRequest = SpawnHelperLaunch | SpawnHelperEmpty;

/** The helper's answers: started (pid), not started (error), and later the exit. */
export type SpawnHelperReply =
  | { readonly id: number; readonly pid: number }
  | {
      readonly id: number;
      readonly error: {
        readonly stage: LaunchError['stage'];
        readonly message: string;
        readonly errno: string | undefined;
      };
    }
  | { readonly id: number; readonly exit: { code: number | null; signal: NodeJS.Signals | null } }
  | { readonly id: number; readonly emptied: true; readonly kept?: string[] }
  | { readonly id: number; readonly emptyFailed: string };

/** Serves launch requests on the IPC channel until the worker disconnects. */
export function runSpawnHelper(): void {
  const send = process.send?.bind(process);
  if (send === undefined) throw new Error('the spawn helper must be started with an IPC channel');
  const launcher = new DirectProcessLauncher();
  const reply = (message: SpawnHelperReply): void => {
    send(message);
  };
  process.on('message', (request: SpawnHelperRequest) => {
    if ('empty' in request) {
      reply(emptyDirectory(request));
      return;
    }
    launcher.launch(request).then(
      (launched) => {
        reply({ id: request.id, pid: launched.pid });
        void launched.exit.then((exit) => reply({ id: request.id, exit }));
      },
      (err: unknown) => {
        const error =
          err instanceof LaunchError ? err : LaunchError.of('spawn', err as NodeJS.ErrnoException);
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
  process.on('disconnect', () => process.exit(0));
}

function emptyDirectory({ id, empty, keep }: SpawnHelperEmpty): SpawnHelperReply {
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
