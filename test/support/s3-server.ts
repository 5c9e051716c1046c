/**
 * An S3-compatible server for tests and development: the `s3rver` emulator
 * (a devDependency), in this process, on a free loopback port, keeping its
 * objects as files in a directory. It knows one fixed key pair but checks
 * only the access key id, never a SigV4 signature; it serves ranges and
 * implements multipart uploads. test/support/ceph-rgw.ts is the real server
 * the S3 store's suite also runs against (s3-rgw.test.ts lists what only
 * that one checks).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** The only key pair s3rver accepts. */
export const S3_ACCESS_KEY_ID = 'S3RVER';
export const S3_SECRET_ACCESS_KEY = 'S3RVER';
/** The bucket every emulator starts with. */
export const S3_BUCKET = 'kiln';

/** A running emulator. */
export interface S3Server {
  /** `http://127.0.0.1:PORT`. */
  readonly endpoint: string;
  readonly port: number;
  readonly bucket: string;
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  /** The directory holding the objects. */
  readonly directory: string;
  /** Stops serving (dropping open connections); safe to call twice. */
  stop(): Promise<void>;
}

/** Options of {@link startS3Server}. */
export interface S3ServerOptions {
  /** Directory for the objects (created if missing); a fresh temporary one, removed on stop, when absent. */
  readonly dir?: string;
  /** Buckets to create; `[S3_BUCKET]` by default. */
  readonly buckets?: readonly string[];
}

/** The part of s3rver's class this module uses (the package ships no types). */
interface S3rverInstance {
  run(): Promise<AddressInfo>;
  httpServer?: Server;
}
type S3rverClass = new (options: Record<string, unknown>) => S3rverInstance;

/** Starts the emulator; resolves once it accepts connections. */
export async function startS3Server(options: S3ServerOptions = {}): Promise<S3Server> {
  const owned = options.dir === undefined;
  const directory = options.dir ?? (await mkdtemp(join(tmpdir(), 'kiln-s3-')));
  // The package ships no types: the module name is a variable so it is loaded untyped.
  const moduleName = 's3rver';
  const { default: S3rver } = (await import(moduleName)) as { default: S3rverClass };
  const buckets = options.buckets ?? [S3_BUCKET];
  const server = new S3rver({
    address: '127.0.0.1',
    port: 0,
    silent: true,
    directory,
    vhostBuckets: false,
    configureBuckets: buckets.map((name) => ({ name, configs: [] })),
  });
  const { port } = await server.run();
  let stopping: Promise<void> | undefined;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    port,
    bucket: buckets[0] ?? S3_BUCKET,
    accessKeyId: S3_ACCESS_KEY_ID,
    secretAccessKey: S3_SECRET_ACCESS_KEY,
    directory,
    stop: () => {
      stopping ??= (async () => {
        const http = server.httpServer;
        if (http !== undefined) {
          const closed = new Promise<void>((resolve) => http.close(() => resolve()));
          http.closeAllConnections();
          await closed;
        }
        if (owned) await rm(directory, { recursive: true, force: true });
      })();
      return stopping;
    },
  };
}
