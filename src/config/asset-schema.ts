/**
 * The `remoteAsset` section of the configuration: whether Kiln serves the
 * Remote Asset API (Fetch and Push), and the policy for the downloads Fetch
 * makes on behalf of clients (which hosts, through which proxy, how long,
 * how large).
 */
import { isIP } from 'node:net';
import { z } from 'zod';
import { countSchema, durationSchema, flagSchema, sizeSchema } from './values.ts';

/** The validated `remoteAsset` section. */
export interface RemoteAssetConfig {
  /**
   * Serve `build.bazel.remote.asset.v1.Fetch` and `Push` (who may call them
   * is decided by the `asset:fetch` and `asset:push` permissions).
   */
  readonly enabled: boolean;
  /** Download from origins on a miss; when false, Fetch answers only pushed associations. */
  readonly fetchEnabled: boolean;
  /**
   * Report origin failures as RPC errors instead of in the response's
   * `status` field, for clients that ignore the field (Bazel before 5.0).
   */
  readonly originFailuresAsRpcErrors: boolean;
  /** Host patterns downloads may go to; empty allows every host not denied. */
  readonly allowedHosts: readonly string[];
  /** Host patterns downloads never go to; they win over {@link allowedHosts}. */
  readonly deniedHosts: readonly string[];
  /** Networks (CIDR) whose addresses downloads never connect to. */
  readonly deniedNetworks: readonly string[];
  /** Refuse cloud metadata endpoints (link-local addresses, metadata host names). */
  readonly blockMetadataAddresses: boolean;
  /**
   * Download from loopback, private and other special-purpose addresses too
   * (see src/asset/special-addresses.ts); refused by default.
   */
  readonly allowPrivateNetworks: boolean;
  /** Special-purpose networks (CIDR) downloads may connect to nonetheless: local mirrors. */
  readonly allowedPrivateNetworks: readonly string[];
  /** HTTP(S) proxy for every download; absent for direct connections. */
  readonly proxy?: string;
  /** Longest wait for a TCP/TLS connection, in ms. */
  readonly connectTimeoutMs: number;
  /** Time limit of a fetch whose request sets no timeout, in ms. */
  readonly defaultTimeoutMs: number;
  /** Longest time limit a request may ask for, in ms; longer ones are clamped. */
  readonly maxTimeoutMs: number;
  /** Largest download, in bytes. */
  readonly maxDownloadSize: number;
  /** Most redirects followed for one URI. */
  readonly maxRedirects: number;
  /** Most files (and directories and symlinks) an archive may unpack to. */
  readonly maxArchiveFiles: number;
  /** Most bytes an archive may unpack to. */
  readonly maxArchiveSize: number;
  /** Directory for downloads in progress, relative to `server.dataDir`. */
  readonly tempDir: string;
}

const hostPattern = z
  .string()
  .regex(/^(\*\.)?[A-Za-z0-9._:[\]-]+$|^\*$/, {
    error: 'expected a host name, an IP address, "*.example.com" or "*"',
  })
  .describe('A host pattern: "example.com", "*.example.com" (subdomains only), an IP, or "*".');

const cidr = z
  .string()
  .refine(isCidr, { error: 'expected a network in CIDR form, e.g. 10.0.0.0/8 or fd00::/8' })
  .describe('A network in CIDR form, e.g. 10.0.0.0/8 or fd00::/8.');

function isCidr(value: string): boolean {
  const slash = value.indexOf('/');
  const family = isIP(value.slice(0, slash));
  const bits = value.slice(slash + 1);
  return (
    slash > 0 && family !== 0 && /^\d{1,3}$/.test(bits) && Number(bits) <= (family === 4 ? 32 : 128)
  );
}

const proxyUrl = z
  .string()
  .regex(/^https?:\/\/[^\s/]+\/?$/, { error: 'expected http://host:port or https://host:port' })
  .describe('Proxy URL, http://host:port or https://host:port.');

const nonNegativeCount = countSchema.or(z.literal(0));

/** Schema of the `remoteAsset` section. */
export const remoteAssetSchema = z
  .object({
    enabled: flagSchema
      .default(true)
      .describe(
        'Serve the Remote Asset API (Fetch and Push; callers need asset:fetch or asset:push). Default: true.',
      ),
    fetchEnabled: flagSchema
      .default(true)
      .describe(
        'Download from origins on a miss; false serves pushed associations only. Default: true.',
      ),
    originFailuresAsRpcErrors: flagSchema
      .default(false)
      .describe(
        'Report origin failures (404, checksum mismatch, …) as RPC errors rather than in the response status, for clients that ignore the status (Bazel before 5.0). Default: false.',
      ),
    allowedHosts: z
      .array(hostPattern)
      .default([])
      .describe('Hosts downloads may go to; empty allows every host not denied. Default: none.'),
    deniedHosts: z
      .array(hostPattern)
      .default([])
      .describe('Hosts downloads never go to; wins over allowedHosts. Default: none.'),
    deniedNetworks: z
      .array(cidr)
      .default([])
      .describe(
        'Networks (CIDR) downloads never connect to, checked on the resolved address. Default: none.',
      ),
    blockMetadataAddresses: flagSchema
      .default(true)
      .describe(
        'Refuse cloud metadata endpoints (169.254.0.0/16, fe80::/10, fd00:ec2::254, 100.100.100.200, metadata.google.internal). Default: true.',
      ),
    allowPrivateNetworks: flagSchema
      .default(false)
      .describe(
        'Download from loopback, private (RFC 1918, fc00::/7), carrier-grade NAT, link-local, multicast and other special-purpose addresses too. ' +
          'Without an auth section (protected mode) loopback is allowed anyway. Default: false.',
      ),
    allowedPrivateNetworks: z
      .array(cidr)
      .default([])
      .describe(
        'Special-purpose networks (CIDR) downloads may connect to although allowPrivateNetworks is false, e.g. a local mirror at 10.1.2.3/32. Default: none.',
      ),
    proxy: proxyUrl.optional().describe('HTTP(S) proxy for every download. Default: none.'),
    connectTimeout: durationSchema
      .default(10_000)
      .describe('Longest wait for a connection to an origin. Default: 10s.'),
    defaultTimeout: durationSchema
      .default(5 * 60_000)
      .describe('Time limit of a fetch whose request sets no timeout. Default: 5m.'),
    maxTimeout: durationSchema
      .default(60 * 60_000)
      .describe('Longest time limit a request may ask for; longer ones are clamped. Default: 1h.'),
    maxDownloadSize: sizeSchema
      .default(4 * 2 ** 30)
      .describe('Largest download; larger ones fail with RESOURCE_EXHAUSTED. Default: 4GiB.'),
    maxRedirects: nonNegativeCount
      .default(10)
      .describe('Most redirects followed for one URI. Default: 10.'),
    maxArchiveFiles: countSchema
      .default(100_000)
      .describe('Most entries an archive unpacked by FetchDirectory may hold. Default: 100000.'),
    maxArchiveSize: sizeSchema
      .default(8 * 2 ** 30)
      .describe('Most bytes an archive unpacked by FetchDirectory may expand to. Default: 8GiB.'),
    tempDir: z
      .string()
      .min(1)
      .default('tmp/assets')
      .describe(
        'Directory for downloads in progress, relative to server.dataDir. Default: tmp/assets.',
      ),
  })
  .strict()
  .check((ctx) => {
    if (ctx.value.defaultTimeout > ctx.value.maxTimeout) {
      ctx.issues.push({
        code: 'custom',
        input: ctx.value.defaultTimeout,
        path: ['defaultTimeout'],
        message: `defaultTimeout (${ctx.value.defaultTimeout} ms) exceeds maxTimeout (${ctx.value.maxTimeout} ms)`,
      });
    }
  })
  .transform(
    (r): RemoteAssetConfig => ({
      enabled: r.enabled,
      fetchEnabled: r.fetchEnabled,
      originFailuresAsRpcErrors: r.originFailuresAsRpcErrors,
      allowedHosts: r.allowedHosts,
      deniedHosts: r.deniedHosts,
      deniedNetworks: r.deniedNetworks,
      blockMetadataAddresses: r.blockMetadataAddresses,
      allowPrivateNetworks: r.allowPrivateNetworks,
      allowedPrivateNetworks: r.allowedPrivateNetworks,
      ...(r.proxy === undefined ? {} : { proxy: r.proxy }),
      connectTimeoutMs: r.connectTimeout,
      defaultTimeoutMs: r.defaultTimeout,
      maxTimeoutMs: r.maxTimeout,
      maxDownloadSize: r.maxDownloadSize,
      maxRedirects: r.maxRedirects,
      maxArchiveFiles: r.maxArchiveFiles,
      maxArchiveSize: r.maxArchiveSize,
      tempDir: r.tempDir,
    }),
  )
  .describe('The Remote Asset API: downloads on behalf of clients, and pushed associations.');

/** The defaults, for code that builds the Remote Asset services without a configuration file. */
export function defaultRemoteAssetConfig(): RemoteAssetConfig {
  return remoteAssetSchema.parse({});
}
