/**
 * The `kiln` command line: dispatches to subcommands.
 */
import { readFileSync } from 'node:fs';
import { ConfigError } from '../config/load-config.ts';
import { closestName } from '../util/closest-name.ts';
import { acCommand } from './ac-command.ts';
import { actionCommand } from './action-command.ts';
import { capabilitiesCommand } from './capabilities-command.ts';
import { casCommand } from './cas-command.ts';
import { hoistGlobalOptions } from './cli-runner.ts';
import { configCommand } from './config-command.ts';
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
  config     check a configuration file; print the schema or the defaults

Client commands (any REAPI server; --server, default $KILN_SERVER or 127.0.0.1:8980):
  cas            upload, download, cat, ls, tree: the content-addressable storage
  action         create an action (Command and Action) from a command line
  execute        run a stored action and show its result
  run            upload inputs, run a command remotely, download its outputs
  ops            list, get, wait for and cancel operations
  ac             show an action's cached result and who wrote it; purge entries by writer
  capabilities   show what the server supports
  health         check that a server is serving (exit 0 only when it is)

Global options (--server, --json, …) go before or after the command.
Run "kiln <command> --help" for a command's options; "kiln --version" for the version.
`;

const commands: Record<string, (args: string[]) => Promise<number>> = {
  serve: serveCommand,
  worker: workerCommand,
  config: configCommand,
  cas: casCommand,
  action: actionCommand,
  execute: executeCommand,
  run: runCommandLine,
  ops: opsCommand,
  ac: acCommand,
  capabilities: capabilitiesCommand,
  health: healthCommand,
};

/** The version in Kiln's package.json. */
function version(): string {
  const file = new URL('../../package.json', import.meta.url);
  return (JSON.parse(readFileSync(file, 'utf8')) as { version: string }).version;
}

async function main(argv: string[]): Promise<number> {
  if (argv[0] === '--version' || argv[0] === '-V' || argv[0] === 'version') {
    process.stdout.write(`kiln ${version()}\n`);
    return 0;
  }
  const { name, rest } = hoistGlobalOptions(argv);
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(HELP);
    return name === undefined ? 2 : 0;
  }
  const command = commands[name];
  if (command === undefined) {
    const near = closestName(name, Object.keys(commands));
    const what = name.startsWith('-') ? 'option' : 'command';
    const hint = near === undefined ? '' : `; did you mean "${near}"?`;
    process.stderr.write(`kiln: unknown ${what} "${name}"${hint} (see "kiln --help")\n`);
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
