/**
 * The `kiln` command line: dispatches to subcommands.
 */
import { ConfigError } from '../config/load-config.ts';
import { acCommand } from './ac-command.ts';
import { actionCommand } from './action-command.ts';
import { capabilitiesCommand } from './capabilities-command.ts';
import { casCommand } from './cas-command.ts';
import { executeCommand } from './execute-command.ts';
import { healthCommand } from './health-command.ts';
import { opsCommand } from './ops-command.ts';
import { runCommandLine } from './run-command.ts';
import { serveCommand } from './serve-command.ts';
import { workerCommand } from './worker-command.ts';

const HELP = `Usage: kiln <command> [options]

Commands:
  serve      run the Kiln server (zero configuration by default)
  worker     run actions for a Kiln scheduler on this machine

Client commands (any REAPI server; --server, default $KILN_SERVER or 127.0.0.1:8980):
  cas            upload, download, cat, ls, tree: the content-addressable storage
  action         create an action (Command and Action) from a command line
  execute        run a stored action and show its result
  run            upload inputs, run a command remotely, download its outputs
  ops            list, get, wait for and cancel operations
  ac             show an action's cached result and who wrote it; purge entries by writer
  capabilities   show what the server supports
  health         check that a server is serving (exit 0 only when it is)

Run "kiln <command> --help" for a command's options.
`;

const commands: Record<string, (args: string[]) => Promise<number>> = {
  serve: serveCommand,
  worker: workerCommand,
  cas: casCommand,
  action: actionCommand,
  execute: executeCommand,
  run: runCommandLine,
  ops: opsCommand,
  ac: acCommand,
  capabilities: capabilitiesCommand,
  health: healthCommand,
};

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(HELP);
    return name === undefined ? 2 : 0;
  }
  const command = commands[name];
  if (command === undefined) {
    process.stderr.write(`kiln: unknown command "${name}"\n\n${HELP}`);
    return 2;
  }
  return command(rest);
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    const verbose = process.argv.includes('--verbose');
    if (err instanceof ConfigError || !verbose) {
      process.stderr.write(`kiln: ${err instanceof Error ? err.message : String(err)}\n`);
    } else {
      process.stderr.write(
        `kiln: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
      );
    }
    process.exitCode = 1;
  },
);
