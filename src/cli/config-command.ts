/**
 * `kiln config`: check a configuration file without starting a server, and
 * print what a configuration may hold (its JSON Schema) or what the zero
 * configuration amounts to (every default, as a file that loads back to the
 * same configuration).
 */
import { parseArgs } from 'node:util';
import { stringify } from 'yaml';
import { ConfigError, loadConfig, parseConfigText } from '../config/load-config.ts';
import { configJsonSchema } from '../config/schema.ts';
import { UsageError } from './cli-errors.ts';
import { runGroup } from './cli-runner.ts';

const CONFIG_HELP = `Usage: kiln config <command>

Commands:
  check FILE   validate a configuration file: print every problem, exit 1 on any
  schema       print the JSON Schema of the configuration (for editors)
  defaults     print the zero configuration (every default) as YAML

Examples:
  kiln config check kiln.yaml
  kiln config schema > kiln.schema.json
  kiln config defaults > kiln.yaml
`;

/** Runs `kiln config` with the arguments after `config`. */
export function configCommand(args: string[]): Promise<number> {
  return runGroup(
    {
      name: 'config',
      help: CONFIG_HELP,
      commands: {
        check: (a) => withArgs(a, ['FILE'], check),
        schema: (a) => withArgs(a, [], schema),
        defaults: (a) => withArgs(a, [], defaults),
      },
    },
    args,
  );
}

/** Parses `--help` and the positionals, reporting a malformed line in one line. */
async function withArgs(
  args: string[],
  positionals: readonly string[],
  body: (positionals: string[]) => Promise<number>,
): Promise<number> {
  let parsed: { values: { help?: boolean }; positionals: string[] };
  try {
    parsed = parseArgs({
      args,
      options: { help: { type: 'boolean', short: 'h' } },
      allowPositionals: true,
      strict: true,
    });
    if (!parsed.values.help && parsed.positionals.length !== positionals.length) {
      throw new UsageError(
        parsed.positionals.length < positionals.length
          ? `missing ${positionals[parsed.positionals.length]}`
          : `unexpected argument "${parsed.positionals[positionals.length]}"`,
      );
    }
  } catch (err) {
    const message = (err as Error).message.split('\n')[0];
    process.stderr.write(`kiln: ${message} (see "kiln config --help")\n`);
    return 2;
  }
  if (parsed.values.help) {
    process.stdout.write(CONFIG_HELP);
    return 0;
  }
  return body(parsed.positionals);
}

async function check([file]: string[]): Promise<number> {
  try {
    await loadConfig({ file });
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`kiln: ${err.message}\n`);
    return 1;
  }
  process.stdout.write(`${file}: valid\n`);
  return 0;
}

async function schema(): Promise<number> {
  process.stdout.write(`${JSON.stringify(configJsonSchema(), null, 2)}\n`);
  return 0;
}

async function defaults(): Promise<number> {
  const config = parseConfigText('', 'built-in defaults');
  const text = stringify(asFileForm(config, []));
  process.stdout.write(
    '# The zero configuration: every default written out.\n' +
      '# Depends on this machine where a default does (localWorkers: the number of cores).\n' +
      text,
  );
  return 0;
}

const STORE_FIELDS = new Set(['cas', 'actionCache', 'assets']);

/**
 * Turns a loaded configuration back into the form a file uses: store nodes
 * `{kind, …}` become `{kind: {…}}`, `…Ms` fields lose their suffix and
 * become durations such as `15m`, and sizes are written with binary units.
 */
function asFileForm(value: unknown, path: readonly string[]): unknown {
  if (Array.isArray(value)) return value.map((v) => asFileForm(v, path));
  if (value === null || typeof value !== 'object') return value;
  const record = value as Record<string, unknown>;
  const inStorage = path.length === 3 && path[0] === 'storage' && path[1] === 'stores';
  const isStore = path[0] === 'storage' && (STORE_FIELDS.has(path[1] ?? '') || inStorage);
  if (isStore && typeof record.kind === 'string') {
    const { kind, ...rest } = record;
    return { [kind]: asFileForm(rest, [...path, kind]) };
  }
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(record)) {
    if (key.endsWith('Ms') && typeof v === 'number') out[key.slice(0, -2)] = durationText(v);
    else if (/(?:^s|S)ize$/.test(key) && typeof v === 'number') out[key] = sizeText(v);
    else out[key] = asFileForm(v, [...path, key]);
  }
  return out;
}

/** `10GiB` for 10737418240; plain bytes when no binary unit divides the size. */
function sizeText(bytes: number): number | string {
  const units = ['PiB', 'TiB', 'GiB', 'MiB', 'KiB'];
  for (const [i, unit] of units.entries()) {
    const scale = 2 ** (10 * (units.length - i));
    if (bytes > 0 && bytes % scale === 0) return `${bytes / scale}${unit}`;
  }
  return bytes;
}

/** `15m` for 900000; milliseconds when no larger unit divides the duration. */
function durationText(ms: number): string {
  const units: Array<[string, number]> = [
    ['h', 3_600_000],
    ['m', 60_000],
    ['s', 1000],
  ];
  for (const [unit, scale] of units) {
    if (ms > 0 && ms % scale === 0) return `${ms / scale}${unit}`;
  }
  return `${ms}ms`;
}
