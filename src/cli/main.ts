/**
 * The `kiln` command line: dispatches to subcommands.
 */
import { ConfigError } from '../config/load-config.ts';
import { serveCommand } from './serve-command.ts';
import { workerCommand } from './worker-command.ts';

const HELP = `Usage: kiln <command> [options]

Commands:
  serve      run the Kiln server (zero configuration by default)
  worker     run actions for a Kiln scheduler on this machine

Run "kiln <command> --help" for a command's options.
`;

const commands: Record<string, (args: string[]) => Promise<number>> = {
  serve: serveCommand,
  worker: workerCommand,
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
