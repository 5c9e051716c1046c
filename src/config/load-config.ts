/**
 * Loading a configuration: YAML (or JSON) text → `${VAR}` expansion →
 * validation against the schema → command-line overrides → checks of the
 * store graph. Every problem found is reported at once, each as
 * `path.to.field: message`, so a user fixes a file in one round.
 */
import { readFile } from 'node:fs/promises';
import { LineCounter, parseDocument } from 'yaml';
import type { z } from 'zod';
import { closestName } from '../util/closest-name.ts';
import { checkCompositeStores } from './composite-store-checks.ts';
import { knownKeysAt } from './known-keys.ts';
import { REMOVED_KEYS } from './removed-keys.ts';
import {
  type KilnConfig,
  kilnConfigSchema,
  overrideSchemas,
  resolveStorePath,
  type StoreConfig,
  type StoreRef,
  storeChildren,
} from './schema.ts';
import { checkServerTls } from './tls-schema.ts';

/** An invalid configuration. The message lists every problem, one per line. */
export class ConfigError extends Error {
  /** Each problem as `path.to.field: message`. */
  readonly problems: readonly string[];

  constructor(source: string, problems: readonly string[]) {
    super(`invalid configuration (${source}):\n${problems.map((p) => `  ${p}`).join('\n')}`);
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

/** Options of {@link loadConfig}. */
export interface LoadConfigOptions {
  /** YAML or JSON file to read; without one, every default applies (zero configuration). */
  readonly file?: string;
  /** Values from command-line flags, which win over the file. */
  readonly overrides?: {
    /** Replaces `server.listen`. */
    readonly listen?: string;
    /** Replaces `server.httpListen`. */
    readonly httpListen?: string;
    /** Replaces `server.dataDir`. */
    readonly dataDir?: string;
    /** Replaces `server.tls.cert`. */
    readonly tlsCert?: string;
    /** Replaces `server.tls.key`. */
    readonly tlsKey?: string;
    /** Replaces `server.tls.clientCa`. */
    readonly tlsClientCa?: string;
  };
  /** Environment for `${VAR}` expansion; `process.env` by default. */
  readonly env?: Readonly<Record<string, string | undefined>>;
}

/** Reads, expands, validates and returns the configuration, or throws a {@link ConfigError}. */
export async function loadConfig(options: LoadConfigOptions = {}): Promise<KilnConfig> {
  let text = '';
  const source = options.file ?? 'built-in defaults';
  if (options.file !== undefined) {
    try {
      text = await readFile(options.file, 'utf8');
    } catch (err) {
      const reason = (err as NodeJS.ErrnoException).code ?? String(err);
      throw new ConfigError(source, [`cannot read configuration file ${options.file}: ${reason}`]);
    }
  }
  return parseConfigText(text, source, options);
}

/**
 * Parses configuration text. `sourceName` names it in messages (a file name,
 * or e.g. `docs/configuration.md example 2`). An empty text is the zero configuration.
 */
export function parseConfigText(
  text: string,
  sourceName: string,
  options: Pick<LoadConfigOptions, 'overrides' | 'env'> = {},
): KilnConfig {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { prettyErrors: false, lineCounter });
  if (doc.errors.length > 0) {
    // Later syntax errors are mostly echoes of the first; a few are enough.
    throw new ConfigError(
      sourceName,
      doc.errors.slice(0, 5).map((e) => {
        const at = lineCounter.linePos(e.pos[0]);
        return `${sourceName}:${at.line}:${at.col}: ${e.message.split('\n')[0]}`;
      }),
    );
  }
  const raw: unknown = doc.toJS() ?? {};

  const problems: string[] = [];
  const expanded = expandEnv(raw, [], options.env ?? process.env, problems);
  if (problems.length > 0) throw new ConfigError(sourceName, problems);

  const result = kilnConfigSchema.safeParse(expanded, { reportInput: true });
  if (!result.success) {
    // Unknown store names are found on the parsed configuration, which does
    // not exist here: look for them in the raw one so they are reported now too.
    throw new ConfigError(sourceName, [
      ...formatIssues(result.error.issues, []),
      ...unknownRawStoreNames(expanded),
    ]);
  }

  const config = applyOverrides(result.data, options.overrides ?? {}, problems);
  problems.push(...checkServerTls(config.server.tls));
  problems.push(...checkStoreGraph(config));
  if (problems.length > 0) throw new ConfigError(sourceName, problems);
  return config;
}

// `$${` stands for a literal `${`; anything else between `${` and `}` must be
// a variable name, optionally followed by `:-default`.
const REFERENCE = /\$\$\{|\$\{([^}]*)\}|\$\{/g;
const VARIABLE = /^([A-Za-z_][A-Za-z0-9_]*)(?::-(.*))?$/s;

function expandEnv(
  value: unknown,
  path: readonly (string | number)[],
  env: Readonly<Record<string, string | undefined>>,
  problems: string[],
): unknown {
  if (typeof value === 'string') {
    return value.replace(REFERENCE, (match: string, body: string | undefined) => {
      if (match === '$${') return '${';
      const m = body === undefined ? null : VARIABLE.exec(body);
      if (m === null || m[1] === undefined) {
        problems.push(
          `${formatPath(path)}: invalid variable reference ${JSON.stringify(match)} ` +
            // biome-ignore lint/suspicious/noTemplateCurlyInString: shows the syntax literally.
            '(expected ${NAME} or ${NAME:-default}; write $${ for a literal ${)',
        );
        return match;
      }
      const fromEnv = env[m[1]];
      if (m[2] !== undefined) return fromEnv === undefined || fromEnv === '' ? m[2] : fromEnv;
      if (fromEnv !== undefined) return fromEnv;
      problems.push(
        `${formatPath(path)}: environment variable ${m[1]} is not set ` +
          `(write \${${m[1]}:-default} to give a default)`,
      );
      return match;
    });
  }
  if (Array.isArray(value)) return value.map((v, i) => expandEnv(v, [...path, i], env, problems));
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value).map(([k, v]) => [k, expandEnv(v, [...path, k], env, problems)]),
    );
  }
  return value;
}

/** Each override and the `server` field it replaces: `[path, in server.tls]`. */
const OVERRIDE_FIELDS = {
  listen: ['listen', false],
  httpListen: ['httpListen', false],
  dataDir: ['dataDir', false],
  tlsCert: ['cert', true],
  tlsKey: ['key', true],
  tlsClientCa: ['clientCa', true],
} as const;

function applyOverrides(
  config: KilnConfig,
  overrides: NonNullable<LoadConfigOptions['overrides']>,
  problems: string[],
): KilnConfig {
  let server = config.server;
  for (const [field, [name, inTls]] of Object.entries(OVERRIDE_FIELDS)) {
    const value = overrides[field as keyof typeof OVERRIDE_FIELDS];
    if (value === undefined) continue;
    const schema = overrideSchemas[field as keyof typeof OVERRIDE_FIELDS];
    const result = schema.safeParse(value, { reportInput: true });
    const path = inTls ? ['server', 'tls', name] : ['server', name];
    if (!result.success) {
      problems.push(
        ...formatIssues(result.error.issues, path).map((p) => `${p} (from the command line)`),
      );
    } else if (inTls) {
      server = { ...server, tls: { ...server.tls, [name]: result.data } };
    } else {
      server = { ...server, [name]: result.data };
    }
  }
  return server === config.server ? config : { ...config, server };
}

/**
 * Checks what the schema cannot: that every referenced store exists, that
 * references form no cycle, that no two disk stores share a directory, and
 * that the CAS and the action cache share no store (action cache keys are
 * action digests, which are also CAS keys, so a shared store would mix them).
 */
export function checkStoreGraph(config: KilnConfig): string[] {
  const problems: string[] = [];
  const { stores } = config.storage;
  const names = Object.keys(stores);

  // Unknown names, anywhere a reference can appear.
  const visit = (node: StoreConfig, path: string): void => {
    for (const child of storeChildren(node)) {
      const childPath = `${path}.${child.field}`;
      if (typeof child.ref !== 'string') visit(child.ref, childPath);
      else if (!Object.hasOwn(stores, child.ref))
        problems.push(unknownStore(childPath, child.ref, names));
    }
  };
  for (const [name, node] of Object.entries(stores)) visit(node, `storage.stores.${name}`);
  for (const role of ['cas', 'actionCache'] as const) {
    const ref = config.storage[role];
    if (typeof ref !== 'string') visit(ref, `storage.${role}`);
    else if (!Object.hasOwn(stores, ref))
      problems.push(unknownStore(`storage.${role}`, ref, names));
  }
  if (problems.length > 0) return problems;

  problems.push(...findCycles(stores));
  if (problems.length > 0) return problems;

  problems.push(...findSharedDiskPaths(config));
  problems.push(...checkCompositeStores(config));

  const casStores = reachableNames(config.storage.cas, stores);
  for (const name of reachableNames(config.storage.actionCache, stores)) {
    if (casStores.has(name)) {
      problems.push(
        `storage.actionCache: store "${name}" is also used by the CAS (storage.cas); ` +
          'action cache keys are action digests, which are CAS keys too, so they need separate stores',
      );
    }
  }
  return problems;
}

/** The fields of each store kind that hold a store reference (`*`: any key). */
const REFERENCE_FIELDS: Readonly<Record<string, readonly (readonly string[])[]>> = {
  existenceCache: [['backend']],
  readCaching: [['fast'], ['slow']],
  sharding: [['shards', '*', 'backend']],
  mirrored: [['a'], ['b']],
  sizePartitioned: [['small'], ['large']],
};

/**
 * {@link checkStoreGraph}'s unknown-name check on a configuration the schema
 * rejected: follows only what has the expected shape, leaving the rest to
 * the schema's own messages.
 */
function unknownRawStoreNames(raw: unknown): string[] {
  const isRecord = (v: unknown): v is Record<string, unknown> =>
    v !== null && typeof v === 'object' && !Array.isArray(v);
  const storage = isRecord(raw) ? raw.storage : undefined;
  if (!isRecord(storage)) return [];
  const stores = isRecord(storage.stores) ? storage.stores : {};
  const names = Object.keys(stores);
  const problems: string[] = [];
  const visitRef = (ref: unknown, path: string): void => {
    if (typeof ref === 'string') {
      if (!Object.hasOwn(stores, ref)) problems.push(unknownStore(path, ref, names));
    } else {
      visitNode(ref, path);
    }
  };
  const visitNode = (node: unknown, path: string): void => {
    if (!isRecord(node)) return;
    for (const [kind, body] of Object.entries(node)) {
      for (const fields of REFERENCE_FIELDS[kind] ?? []) {
        const follow = (value: unknown, rest: readonly string[], at: string): void => {
          const [field, ...more] = rest;
          if (field === undefined) visitRef(value, at);
          else if (!isRecord(value)) return;
          else if (field !== '*') follow(value[field], more, `${at}.${field}`);
          else for (const [key, v] of Object.entries(value)) follow(v, more, `${at}.${key}`);
        };
        follow(body, fields, `${path}.${kind}`);
      }
    }
  };
  for (const [name, node] of Object.entries(stores)) visitNode(node, `storage.stores.${name}`);
  for (const role of ['cas', 'actionCache']) {
    if (storage[role] !== undefined) visitRef(storage[role], `storage.${role}`);
  }
  return problems;
}

function unknownStore(path: string, name: string, names: readonly string[]): string {
  const known = names.length > 0 ? names.map((n) => `"${n}"`).join(', ') : 'none';
  const near = closestName(name, names);
  const hint = near === undefined ? '' : `; did you mean "${near}"?`;
  return `${path}: unknown store "${name}" (defined in storage.stores: ${known}${hint})`;
}

/** Named references only: an inline node cannot refer back to its ancestors except by name. */
function findCycles(stores: Readonly<Record<string, StoreConfig>>): string[] {
  const problems: string[] = [];
  const done = new Set<string>();
  const stack: string[] = [];
  const namedChildren = (ref: StoreRef, path: string): Array<{ name: string; path: string }> => {
    if (typeof ref === 'string') return [{ name: ref, path }];
    return storeChildren(ref).flatMap((c) => namedChildren(c.ref, `${path}.${c.field}`));
  };
  const walk = (name: string): void => {
    if (done.has(name)) return;
    stack.push(name);
    const node = stores[name];
    const edges = node === undefined ? [] : namedChildren(node, `storage.stores.${name}`);
    for (const edge of edges) {
      const at = stack.indexOf(edge.name);
      if (at >= 0) {
        const cycle = [...stack.slice(at), edge.name].join(' → ');
        problems.push(`${edge.path}: reference cycle ${cycle}`);
      } else {
        walk(edge.name);
      }
    }
    stack.pop();
    done.add(name);
  };
  for (const name of Object.keys(stores)) walk(name);
  return problems;
}

function findSharedDiskPaths(config: KilnConfig): string[] {
  const disks: Array<{ path: string; dir: string }> = [];
  const collect = (ref: StoreRef, path: string): void => {
    if (typeof ref === 'string') return;
    if (ref.kind === 'disk') {
      disks.push({ path: `${path}.disk.path`, dir: resolveStorePath(config, ref.path) });
    }
    for (const child of storeChildren(ref)) collect(child.ref, `${path}.${child.field}`);
  };
  for (const [name, node] of Object.entries(config.storage.stores)) {
    collect(node, `storage.stores.${name}`);
  }
  collect(config.storage.cas, 'storage.cas');
  collect(config.storage.actionCache, 'storage.actionCache');

  const problems: string[] = [];
  for (const [i, disk] of disks.entries()) {
    for (const earlier of disks.slice(0, i)) {
      const relation =
        disk.dir === earlier.dir
          ? 'is also used by'
          : disk.dir.startsWith(`${earlier.dir}/`)
            ? 'is inside the directory of'
            : earlier.dir.startsWith(`${disk.dir}/`)
              ? 'contains the directory of'
              : undefined;
      if (relation !== undefined) {
        problems.push(`${disk.path}: disk path "${disk.dir}" ${relation} ${earlier.path}`);
      }
    }
  }
  return problems;
}

function reachableNames(ref: StoreRef, stores: Readonly<Record<string, StoreConfig>>): Set<string> {
  const seen = new Set<string>();
  const walk = (r: StoreRef): void => {
    if (typeof r === 'string') {
      if (seen.has(r)) return;
      seen.add(r);
      const node = stores[r];
      if (node !== undefined) walk(node);
      return;
    }
    for (const child of storeChildren(r)) walk(child.ref);
  };
  walk(ref);
  return seen;
}

/** Turns zod issues into `path: message` lines, choosing the meant branch of a union. */
function formatIssues(issues: readonly z.core.$ZodIssue[], base: readonly PropertyKey[]): string[] {
  return issues.flatMap((issue): string[] => {
    const path = [...base, ...issue.path];
    const at = formatPath(path);
    switch (issue.code) {
      case 'unrecognized_keys':
        return issue.keys.map((key) => {
          const full = formatPath([...path, key]);
          const removed = REMOVED_KEYS.get(full);
          if (removed !== undefined) return `${full}: ${removed}`;
          const near = closestName(key, knownKeysAt(kilnConfigSchema, path));
          return near === undefined
            ? `${at}: unknown key "${key}"`
            : `${at}: unknown key "${key}" (did you mean "${near}"?)`;
        });
      case 'invalid_union': {
        // A store reference is a name or a definition: report the problems of
        // the branch whose type matched, not "expected string" for an object.
        const matched = issue.errors.filter(
          (branch) =>
            !branch.some(
              (i) =>
                i.path.length === 0 && (i.code === 'invalid_type' || i.code === 'invalid_value'),
            ),
        );
        const [only] = matched;
        if (matched.length === 1 && only !== undefined) return formatIssues(only, path);
        return [`${at}: ${issue.message}, got ${typeName(issue.input)}`];
      }
      case 'invalid_type':
        if (issue.input === undefined) return [`${at}: required field is missing`];
        // A schema's own message (e.g. "expected host:port") says more than the type.
        if (!issue.message.startsWith('Invalid input')) return [`${at}: ${issue.message}`];
        return [`${at}: expected ${issue.expected}, got ${typeName(issue.input)}`];
      case 'invalid_key':
        return [`${at}: invalid name: ${issue.issues.map((i) => i.message).join('; ')}`];
      default:
        return [`${at}: ${issue.message}`];
    }
  });
}

function formatPath(path: readonly PropertyKey[]): string {
  if (path.length === 0) return '(top level)';
  return path
    .map((p, i) => (typeof p === 'number' ? `[${p}]` : `${i === 0 ? '' : '.'}${String(p)}`))
    .join('');
}

function typeName(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'an object';
  return `${typeof value} ${JSON.stringify(value)}`;
}
