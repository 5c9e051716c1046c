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
import { DirectProcessLauncher, LaunchError, type LaunchRequest } from './process-launcher.ts';

/** A launch, numbered by the worker. */
export interface SpawnHelperRequest extends LaunchRequest {
  readonly id: number;
}

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
  | { readonly id: number; readonly exit: { code: number | null; signal: NodeJS.Signals | null } };

/** Serves launch requests on the IPC channel until the worker disconnects. */
export function runSpawnHelper(): void {
  const send = process.send?.bind(process);
  if (send === undefined) throw new Error('the spawn helper must be started with an IPC channel');
  const launcher = new DirectProcessLauncher();
  const reply = (message: SpawnHelperReply): void => {
    send(message);
  };
  process.on('message', (request: SpawnHelperRequest) => {
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

if (import.meta.main) runSpawnHelper();
