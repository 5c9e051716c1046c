/**
 * The frame every client command runs in: parses its options together with
 * the global ones, prints `--help`, resolves the connection settings, opens
 * the connection on first use and closes it at the end, and turns any
 * failure into one `kiln: …` line (a stack trace with `--verbose`) and an
 * exit code.
 */
import { type ParseArgsOptionDescriptor, parseArgs } from 'node:util';
import { closestName } from '../util/closest-name.ts';
import { describeError, exitCodeOf, UsageError } from './cli-errors.ts';
import { Output } from './cli-output.ts';
import { type ClientSettings, Connection, resolveSettings } from './connection.ts';

/** The options every client command accepts. */
const GLOBAL_OPTIONS: Record<string, ParseArgsOptionDescriptor> = {
  server: { type: 'string' },
  instance: { type: 'string' },
  'digest-function': { type: 'string' },
  'tls-ca': { type: 'string' },
  'tls-cert': { type: 'string' },
  'tls-key': { type: 'string' },
  header: { type: 'string', multiple: true },
  'token-file': { type: 'string' },
  json: { type: 'boolean' },
  verbose: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
};

/** Help text for {@link GLOBAL_OPTIONS}, appended to every command's help. */
export const GLOBAL_HELP = `Global options:
  --server ADDRESS       HOST:PORT, grpc://HOST:PORT or grpcs://HOST:PORT
                         (default: $KILN_SERVER, else 127.0.0.1:8980)
  --instance NAME        REAPI instance name (default: the default instance, "")
  --digest-function FN   sha256 (default), sha1, md5, sha384, sha512 or blake3
  --tls-ca FILE          CA certificates to trust; turns TLS on
  --tls-cert FILE        client certificate for mutual TLS (with --tls-key FILE)
  --tls-key FILE         the client certificate's private key
  --header NAME=VALUE    call metadata sent with every request, repeatable,
                         e.g. --header "authorization=Bearer $TOKEN"
  --token-file FILE      send the bearer token in FILE with every request
                         (default: $KILN_TOKEN, when set)
  --json                 print one JSON document on stdout
  --verbose              print stack traces on errors
  -h, --help             show this help
`;

/** What a command declares about its command line. */
export interface CommandSpec {
  /** As typed after `kiln`, e.g. `cas upload`. */
  readonly name: string;
  /** Usage, description, options and examples; the global options are appended. */
  readonly help: string;
  /** The command's own options. */
  readonly options?: Record<string, ParseArgsOptionDescriptor>;
  /** Names of the positional arguments, required unless they end in `?`. */
  readonly positionals?: readonly string[];
  /** Whether the command takes `-- ARGV…` (a command line to run). */
  readonly argv?: boolean;
}

/** Typed access to parsed option values. */
export class ParsedArgs {
  readonly #values: Record<string, string | boolean | (string | boolean)[] | undefined>;
  /** Positional arguments, in order (before `--`). */
  readonly positionals: readonly string[];
  /** Everything after `--`. */
  readonly argv: readonly string[];

  constructor(
    values: Record<string, string | boolean | (string | boolean)[] | undefined>,
    positionals: readonly string[],
    argv: readonly string[],
  ) {
    this.#values = values;
    this.positionals = positionals;
    this.argv = argv;
  }

  /** A string option's value, or undefined. */
  string(name: string): string | undefined {
    const v = this.#values[name];
    return typeof v === 'string' ? v : undefined;
  }

  /** A repeatable string option's values. */
  strings(name: string): string[] {
    const v = this.#values[name];
    return Array.isArray(v) ? v.filter((s): s is string => typeof s === 'string') : [];
  }

  /** A boolean option. */
  flag(name: string): boolean {
    return this.#values[name] === true;
  }

  /** The positional argument at `index`; `positionals` in the spec says it exists. */
  positional(index: number): string {
    return this.positionals[index] ?? '';
  }
}

/** What a command's body gets. */
export interface CommandContext {
  readonly args: ParsedArgs;
  readonly settings: ClientSettings;
  readonly out: Output;
  /** The connection, opened on the first call and closed when the command ends. */
  connect(): Promise<Connection>;
}

/** Runs one command: parse, help, body, error reporting. Resolves with the exit code. */
export async function runCommand(
  args: readonly string[],
  spec: CommandSpec,
  body: (context: CommandContext) => Promise<number>,
): Promise<number> {
  const verbose = args.includes('--verbose');
  let connection: Promise<Connection> | undefined;
  let address: string | undefined;
  try {
    const split = args.indexOf('--');
    const own = split < 0 || !spec.argv ? [...args] : args.slice(0, split);
    const argv = split < 0 || !spec.argv ? [] : args.slice(split + 1);
    const { values, positionals } = parseCommandLine(own, spec, split >= 0);
    if (values.help === true) {
      process.stdout.write(`${spec.help.trimEnd()}\n\n${GLOBAL_HELP}`);
      return 0;
    }
    const parsed = new ParsedArgs(values, positionals, argv);
    checkPositionals(spec, parsed);
    const settings = resolveSettings({
      server: parsed.string('server'),
      instance: parsed.string('instance'),
      digestFunction: parsed.string('digest-function'),
      tlsCa: parsed.string('tls-ca'),
      tlsCert: parsed.string('tls-cert'),
      tlsKey: parsed.string('tls-key'),
      headers: parsed.strings('header'),
      tokenFile: parsed.string('token-file'),
    });
    address = settings.address;
    const out = new Output({ json: parsed.flag('json') });
    return await body({
      args: parsed,
      settings,
      out,
      connect: () => {
        connection ??= Connection.open(settings);
        return connection;
      },
    });
  } catch (err) {
    const hint = exitCodeOf(err) === 2 ? ` (see "kiln ${spec.name} --help")` : '';
    process.stderr.write(`kiln: ${describeError(err, address)}${hint}\n`);
    if (verbose && err instanceof Error && err.stack) process.stderr.write(`${err.stack}\n`);
    return exitCodeOf(err);
  } finally {
    if (connection !== undefined) (await connection.catch(() => undefined))?.close();
  }
}

/** parseArgs, with its errors for unknown options said in one line of Kiln's words. */
function parseCommandLine(args: string[], spec: CommandSpec, hasSeparator: boolean) {
  try {
    return parseArgs({
      args,
      options: { ...GLOBAL_OPTIONS, ...spec.options },
      allowPositionals: true,
      strict: true,
    });
  } catch (err) {
    const unknown = /^Unknown option '([^']*)'/.exec((err as Error).message)?.[1];
    if (unknown === undefined) throw err;
    // `kiln run sh -c …` without `--`: the command's own options look like Kiln's.
    throw new UsageError(
      spec.argv && !hasSeparator
        ? `unknown option "${unknown}"; put the command to run after "--", e.g. kiln ${spec.name} [options] -- sh -c 'echo hi'`
        : `unknown option "${unknown}"`,
    );
  }
}

function checkPositionals(spec: CommandSpec, parsed: ParsedArgs): void {
  const names = spec.positionals ?? [];
  const required = names.filter((n) => !n.endsWith('?'));
  if (parsed.positionals.length < required.length) {
    const missing = required[parsed.positionals.length] as string;
    throw new UsageError(`missing ${missing}`);
  }
  if (parsed.positionals.length > names.length) {
    const extra = parsed.positionals[names.length];
    throw new UsageError(
      spec.argv
        ? `unexpected argument "${extra}"; put the command to run after "--"`
        : `unexpected argument "${extra}"`,
    );
  }
  if (spec.argv && parsed.argv.length === 0) {
    throw new UsageError('missing the command to run: add "-- PROGRAM ARGS…"');
  }
}

/** A command made of subcommands (`kiln cas upload`, `kiln cas cat`, …). */
export interface CommandGroup {
  readonly name: string;
  /** Usage and the list of subcommands. */
  readonly help: string;
  readonly commands: Readonly<Record<string, (args: string[]) => Promise<number>>>;
}

/**
 * Moves global options typed before a (sub)command name after it, so that
 * `kiln --server X ops list` means `kiln ops list --server X`. Options go
 * before a `--`, which starts the command line to run. Returns the command
 * name (undefined when there is none) and the arguments for it.
 */
export function hoistGlobalOptions(args: readonly string[]): {
  name: string | undefined;
  rest: string[];
} {
  const leading: string[] = [];
  let i = 0;
  while (i < args.length) {
    const arg = args[i] as string;
    const option = /^--([^=]+)(=.*)?$/.exec(arg);
    const spec = option === null ? undefined : GLOBAL_OPTIONS[option[1] as string];
    if (spec === undefined || option === null || option[1] === 'help') break;
    leading.push(arg);
    i++;
    if (spec.type === 'string' && option[2] === undefined && i < args.length) {
      leading.push(args[i] as string);
      i++;
    }
  }
  const name = args[i];
  const rest = args.slice(i + 1);
  if (leading.length > 0) {
    const split = rest.indexOf('--');
    if (split < 0) rest.push(...leading);
    else rest.splice(split, 0, ...leading);
  }
  return { name, rest };
}

/** Dispatches `args` to the group's subcommand. */
export async function runGroup(group: CommandGroup, args: readonly string[]): Promise<number> {
  const { name, rest } = hoistGlobalOptions(args);
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(group.help);
    return name === undefined ? 2 : 0;
  }
  const command = group.commands[name];
  if (command === undefined) {
    const near = closestName(name, Object.keys(group.commands));
    const hint = near === undefined ? '' : `; did you mean "${group.name} ${near}"?`;
    process.stderr.write(
      `kiln: unknown command "${group.name} ${name}"${hint} (see "kiln ${group.name} --help")\n`,
    );
    return 2;
  }
  return command(rest);
}
