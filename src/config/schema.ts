/**
 * The configuration schema: the single source of truth for what a Kiln
 * configuration file may contain, its defaults, and its documentation
 * (`configJsonSchema()` exports it for editors; docs/configuration.md is the
 * prose reference and is checked against this schema by a test).
 *
 * Store definitions form a tree of nodes. Each node is an object with exactly
 * one key naming its kind (`{ disk: {...} }`, `{ readCaching: {...} }`), the
 * Buildbarn/NativeLink convention. After parsing, a node becomes a
 * discriminated union on `kind` ({@link StoreConfig}) so the factory can switch
 * on it exhaustively. A new kind (s3, sharding, grpc, …) is one entry in
 * `storeKindSchemas`, one interface in {@link StoreConfig} and one `case` in
 * the factory, which the compiler then demands.
 */
import { resolve } from 'node:path';
import { z } from 'zod';
import { type RemoteAssetConfig, remoteAssetSchema } from './asset-schema.ts';
import { type AuthConfig, authSchema } from './auth-schema.ts';
import {
  compositeStoreOptions,
  type MirroredStoreConfig,
  type ShardingStoreConfig,
  type SizePartitionedStoreConfig,
} from './composite-store-schema.ts';
import { type ExecutionConfig, executionSchema } from './execution-schema.ts';
import { type GrpcStoreConfig, grpcStoreOptions } from './grpc-store-schema.ts';
import { type ObservabilityConfig, observabilitySchema } from './observability-schema.ts';
import { type S3StoreConfig, s3StoreOptions } from './s3-store-schema.ts';
import { type ServerTlsConfig, serverTlsSchema } from './tls-schema.ts';
import { type UiConfig, uiSchema } from './ui-schema.ts';
import { countSchema, durationSchema, flagSchema, sizeSchema } from './values.ts';

/** A reference to a store: the name of an entry of `storage.stores`, or an inline definition. */
export type StoreRef = string | StoreConfig;

/** A bounded in-memory store, evicting least recently used blobs. */
export interface MemoryStoreConfig {
  readonly kind: 'memory';
  /** Byte budget. */
  readonly maxSize: number;
}

/** Content-addressed files in a directory, evicting least recently used blobs. */
export interface DiskStoreConfig {
  readonly kind: 'disk';
  /** Directory, as written in the file; relative paths are resolved against `server.dataDir`. */
  readonly path: string;
  /** Byte budget. */
  readonly maxSize: number;
  /** Whether each blob is fsynced before its upload completes. */
  readonly fsync: boolean;
  /** Whether large blobs are written with O_DIRECT, past the page cache, where supported. */
  readonly directIo: boolean;
}

/** Answers FindMissingBlobs for recently seen digests without asking the backend. */
export interface ExistenceCacheStoreConfig {
  readonly kind: 'existenceCache';
  readonly backend: StoreRef;
  /** How long a digest is remembered as present, in milliseconds. */
  readonly ttl: number;
  /** Most digests remembered at once. */
  readonly maxEntries: number;
}

/** A fast store (a cache, filled on read) in front of a slow one (the source of truth). */
export interface ReadCachingStoreConfig {
  readonly kind: 'readCaching';
  readonly fast: StoreRef;
  readonly slow: StoreRef;
}

/** One parsed store node, discriminated by `kind`. */
export type StoreConfig =
  | MemoryStoreConfig
  | DiskStoreConfig
  | ExistenceCacheStoreConfig
  | ReadCachingStoreConfig
  | GrpcStoreConfig
  | ShardingStoreConfig
  | MirroredStoreConfig
  | SizePartitionedStoreConfig
  | S3StoreConfig;

/** The names of the store kinds. */
export type StoreKind = StoreConfig['kind'];

/** The validated configuration, with every default applied. */
export interface KilnConfig {
  readonly server: {
    /** `host:port` the gRPC server listens on. */
    readonly listen: string;
    /**
     * `host:port` of the HTTP server (web UI and `/metrics`); `auto` for the
     * gRPC host and port + 1 (port 0 stays 0); `off` or empty for none.
     */
    readonly httpListen: string;
    /** Base directory for relative store paths. */
    readonly dataDir: string;
    /** TLS and mutual TLS of the gRPC and HTTP servers; off without `cert`. */
    readonly tls: ServerTlsConfig;
    /** How long a SIGTERM waits for running actions before it cancels them (`drainTimeout`). */
    readonly drainTimeoutMs: number;
  };
  readonly storage: {
    /** Named stores, referenced by name from `cas`, `actionCache` and each other. */
    readonly stores: Readonly<Record<string, StoreConfig>>;
    /** The store that serves the CAS. */
    readonly cas: StoreRef;
    /** The store that serves the action cache. */
    readonly actionCache: StoreRef;
    /** The store that keeps Remote Asset associations (URI and qualifiers → digest). */
    readonly assets: StoreRef;
  };
  /** Remote execution: the scheduler and the in-process worker. */
  readonly execution: ExecutionConfig;
  /** The Remote Asset API (Fetch and Push). */
  readonly remoteAsset: RemoteAssetConfig;
  /** Tokens and permissions; absent means protected mode (loopback callers only). */
  readonly auth?: AuthConfig;
  /** The web UI. */
  readonly ui: UiConfig;
  /** OpenTelemetry tracing. */
  readonly observability: ObservabilityConfig;
}

function isHostPort(value: string): boolean {
  const m = /^(\[[0-9a-fA-F:.]+\]|[^\s:[\]]+):(\d{1,5})$/.exec(value);
  return m !== null && Number(m[2]) <= 65535;
}

/** The message for a listen address that is not a string (`listen: 8980`). */
function hostPortWanted(issue: { input?: unknown }): string | undefined {
  if (issue.input === undefined) return undefined;
  const port = typeof issue.input === 'number' ? issue.input : 8980;
  return `expected host:port, e.g. 127.0.0.1:${port} or "[::]:${port}", got ${typeof issue.input} ${JSON.stringify(issue.input)}`;
}

const listenSchema = z.string({ error: hostPortWanted }).refine(isHostPort, {
  error: (issue) =>
    `invalid address ${JSON.stringify(issue.input)} (expected host:port, e.g. 127.0.0.1:8980 or [::]:8980)`,
});

const httpListenSchema = z
  .string({ error: hostPortWanted })
  .refine((value) => value === 'auto' || value === 'off' || value === '' || isHostPort(value), {
    error: (issue) =>
      `invalid address ${JSON.stringify(issue.input)} (expected host:port, e.g. 127.0.0.1:8981, "auto" or "off")`,
  });

/** The pattern store names must match (they appear in paths and logs). */
export const STORE_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

const storeNameSchema = z
  .string()
  .regex(
    STORE_NAME_PATTERN,
    'store names use letters, digits, ".", "_" and "-", starting with a letter or digit',
  );

const memoryOptions = z
  .object({
    maxSize: sizeSchema
      .prefault('256MiB')
      .describe('Byte budget; least recently used blobs are evicted beyond it. Default: 256MiB.'),
  })
  .strict()
  .describe(
    'A bounded in-memory store (lost on restart). Fast tier for readCaching, or for tests.',
  );

const diskOptions = z
  .object({
    path: z
      .string()
      .min(1)
      .describe(
        'Directory holding the blobs; relative paths are resolved against server.dataDir. Required.',
      ),
    maxSize: sizeSchema
      .prefault('10GiB')
      .describe('Byte budget; least recently used blobs are evicted beyond it. Default: 10GiB.'),
    fsync: flagSchema
      .prefault(false)
      .describe(
        'Fsync every blob before its upload completes (durable across power loss, slower). Default: false.',
      ),
    directIo: flagSchema
      .prefault(true)
      .describe(
        'Write blobs of 2 MiB and more with O_DIRECT, past the page cache, when the filesystem supports it. Default: true.',
      ),
  })
  .strict()
  .describe('Content-addressed files in a directory; survives restarts, evicts to a byte budget.');

const existenceCacheOptions = z
  .object({
    get backend() {
      return storeRefSchema.describe(
        'The store whose FindMissingBlobs answers are cached. Required.',
      );
    },
    ttl: durationSchema
      .prefault('30s')
      .describe(
        'How long a digest is remembered as present: milliseconds, or "500ms", "30s", "5m", "1h". Default: 30s.',
      ),
    maxEntries: countSchema
      .prefault(100_000)
      .describe(
        'Most digests remembered at once; the oldest are forgotten first. Default: 100000.',
      ),
  })
  .strict()
  .describe(
    'Answers FindMissingBlobs for digests seen present within ttl without asking the backend.',
  );

const readCachingOptions = z
  .object({
    get fast() {
      return storeRefSchema.describe(
        'The cache tier: read first, filled from slow on a miss. Required.',
      );
    },
    get slow() {
      return storeRefSchema.describe('The source of truth: every write goes here. Required.');
    },
  })
  .strict()
  .describe('A fast store in front of a slow one; misses are copied into fast while being served.');

const composite = compositeStoreOptions(() => storeRefSchema);

/** Each kind's options, keyed by the kind's name; a node sets exactly one of them. */
const storeNodeShape = {
  memory: memoryOptions.optional(),
  disk: diskOptions.optional(),
  existenceCache: existenceCacheOptions.optional(),
  readCaching: readCachingOptions.optional(),
  grpc: grpcStoreOptions.optional(),
  sharding: composite.sharding.optional(),
  mirrored: composite.mirrored.optional(),
  sizePartitioned: composite.sizePartitioned.optional(),
  s3: s3StoreOptions.optional(),
} satisfies Record<StoreKind, z.ZodType>;

/** Every store kind, in documentation order. */
export const STORE_KINDS = Object.keys(storeNodeShape) as StoreKind[];

// The node is validated as one object with every kind optional (so unknown
// keys and nested problems are reported at their exact paths), then required
// to name exactly one kind, then flattened into the `kind` union.
const storeNodeSchema: z.ZodType<StoreConfig, unknown> = z
  .object(storeNodeShape)
  .strict()
  .check((ctx) => {
    const named = STORE_KINDS.filter((k) => ctx.value[k] !== undefined);
    if (named.length !== 1) {
      ctx.issues.push({
        code: 'custom',
        input: ctx.value,
        message:
          named.length === 0
            ? `a store must name exactly one kind: ${STORE_KINDS.join(', ')}`
            : `a store must name exactly one kind, found ${named.join(' and ')}`,
      });
    }
  })
  .transform((node) => {
    const kind = STORE_KINDS.find((k) => node[k] !== undefined) as StoreKind;
    return { kind, ...node[kind] } as StoreConfig;
  })
  .meta({ minProperties: 1, maxProperties: 1 })
  .describe(
    `A store definition: an object with exactly one key, its kind (${STORE_KINDS.join(', ')}).`,
  );

const storeRefSchema: z.ZodType<StoreRef, unknown> = z.union([storeNameSchema, storeNodeSchema], {
  error: `expected a store name or a store definition (an object with one key: ${STORE_KINDS.join(', ')})`,
});

/**
 * The default CAS: disk at `<dataDir>/cas` (10GiB). No existence cache in
 * front: the disk store answers FindMissingBlobs from its in-memory index
 * already (and marks the blobs used), which a cache in front would only
 * skip, at the cost of a wrapper on every read and write.
 */
export const DEFAULT_CAS = { disk: { path: 'cas', maxSize: '10GiB' } } as const;

/** The default action cache: disk at `<dataDir>/ac` (512MiB). */
export const DEFAULT_ACTION_CACHE = { disk: { path: 'ac', maxSize: '512MiB' } } as const;

/** The default Remote Asset association store: disk at `<dataDir>/assets` (256MiB). */
export const DEFAULT_ASSETS = { disk: { path: 'assets', maxSize: '256MiB' } } as const;

const serverSchema = z
  .object({
    listen: listenSchema
      .default('127.0.0.1:8980')
      .describe(
        'host:port the gRPC server listens on; [::]:8980 for all interfaces. Default: 127.0.0.1:8980.',
      ),
    httpListen: httpListenSchema
      .default('auto')
      .describe(
        'host:port of the HTTP server (web UI and /metrics); "auto" uses the gRPC host and port + 1, ' +
          '"off" (or empty) serves no HTTP. Default: auto (127.0.0.1:8981).',
      ),
    dataDir: z
      .string()
      .min(1)
      .default('./kiln-data')
      .describe(
        'Base directory for relative store paths, resolved against the working directory. Default: ./kiln-data.',
      ),
    tls: serverTlsSchema.prefault({}),
    drainTimeout: durationSchema
      .default(60_000)
      .describe(
        'On SIGTERM, how long running actions may take to finish before they are cancelled and the process exits. Default: 60s.',
      ),
  })
  .strict()
  .transform(({ drainTimeout, ...rest }) => ({ ...rest, drainTimeoutMs: drainTimeout }))
  .describe('The server process.');

const storageSchema = z
  .object({
    stores: z
      .record(storeNameSchema, storeNodeSchema)
      .prefault({})
      .describe(
        'Named stores, referenced by name from cas, actionCache and each other; each is built once. Default: none.',
      ),
    cas: storeRefSchema
      .prefault(DEFAULT_CAS)
      .describe(
        'The store that serves the CAS (a name or an inline definition); always verified against the digest. ' +
          'Default: { disk: { path: cas, maxSize: 10GiB } }.',
      ),
    actionCache: storeRefSchema
      .prefault(DEFAULT_ACTION_CACHE)
      .describe(
        'The store that serves the action cache; it must not share stores with the CAS. ' +
          'Default: { disk: { path: ac, maxSize: 512MiB } }.',
      ),
    assets: storeRefSchema
      .prefault(DEFAULT_ASSETS)
      .describe(
        'The store that keeps Remote Asset associations (URI and qualifiers to digest); it must not share stores with the CAS or the action cache. ' +
          'Default: { disk: { path: assets, maxSize: 256MiB } }.',
      ),
  })
  .strict()
  .describe('Blob storage for the CAS, the action cache and Remote Asset associations.');

/** The schema of a whole configuration file. Parse with `kilnConfigSchema.safeParse(value)`. */
export const kilnConfigSchema: z.ZodType<KilnConfig, unknown> = z
  .object({
    server: serverSchema.prefault({}),
    storage: storageSchema.prefault({}),
    execution: executionSchema.prefault({}),
    remoteAsset: remoteAssetSchema.prefault({}),
    auth: authSchema.optional(),
    ui: uiSchema.prefault({}),
    observability: observabilitySchema.prefault({}),
  })
  .strict()
  .describe(
    'Kiln configuration. Every field is optional; an empty file is the zero-configuration setup.',
  );

/**
 * Schemas of the fields that command-line flags override, so the flags are
 * validated exactly like the file.
 */
export const overrideSchemas = {
  listen: listenSchema,
  httpListen: httpListenSchema,
  dataDir: z.string().min(1),
  tlsCert: serverTlsSchema.shape.cert,
  tlsKey: serverTlsSchema.shape.key,
  tlsClientCa: serverTlsSchema.shape.clientCa,
} as const;

/** The JSON Schema (draft 2020-12) of a configuration file, for editors and documentation. */
export function configJsonSchema(): Record<string, unknown> {
  const schema = z.toJSONSchema(kilnConfigSchema, { io: 'input', target: 'draft-2020-12' });
  // Give the recursive store definition a readable name instead of zod's generated one.
  const defs = Object.keys(schema.$defs ?? {});
  if (defs.length !== 1) return schema as Record<string, unknown>;
  const generated = `#/$defs/${defs[0]}`;
  const text = JSON.stringify(schema, (key, value) => {
    if (key === '$ref' && value === generated) return '#/$defs/StoreDefinition';
    if (key === '$defs') return { StoreDefinition: Object.values(value)[0] };
    return value;
  });
  return JSON.parse(text) as Record<string, unknown>;
}

/** A child reference of a store node, with the config path of its field relative to the node. */
export interface StoreChild {
  /** E.g. `readCaching.fast`: appended to the node's path in messages. */
  readonly field: string;
  readonly ref: StoreRef;
}

/** The stores a node refers to, for walking the store graph. */
export function storeChildren(node: StoreConfig): StoreChild[] {
  switch (node.kind) {
    case 'memory':
    case 'disk':
    case 'grpc':
    case 's3':
      return [];
    case 'existenceCache':
      return [{ field: 'existenceCache.backend', ref: node.backend }];
    case 'readCaching':
      return [
        { field: 'readCaching.fast', ref: node.fast },
        { field: 'readCaching.slow', ref: node.slow },
      ];
    case 'sharding':
      return Object.entries(node.shards).map(([key, shard]) => ({
        field: `sharding.shards.${key}.backend`,
        ref: shard.backend,
      }));
    case 'mirrored':
      return [
        { field: 'mirrored.a', ref: node.a },
        { field: 'mirrored.b', ref: node.b },
      ];
    case 'sizePartitioned':
      return [
        { field: 'sizePartitioned.small', ref: node.small },
        { field: 'sizePartitioned.large', ref: node.large },
      ];
    default:
      return assertNever(node);
  }
}

/** The absolute directory of a disk store: its path resolved against `server.dataDir`. */
export function resolveStorePath(config: KilnConfig, path: string): string {
  return resolve(config.server.dataDir, path);
}

/** Compile-time exhaustiveness check for switches over {@link StoreConfig}. */
export function assertNever(node: never): never {
  throw new Error(`unknown store kind: ${JSON.stringify(node)}`);
}
