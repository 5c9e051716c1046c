/**
 * `kiln serve` configurations for the tests of several Kiln processes
 * sharing one S3 bucket: each node keeps a local disk tier in front of the
 * bucket's `cas/` prefix and keeps its action cache and Remote Asset
 * associations in the bucket (`ac/`, `assets/`).
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type KilnProcess, startKiln } from '../support/kiln-process.ts';
import type { S3Server } from '../support/s3-server.ts';

/** Options of {@link startS3Kiln}. */
export interface S3KilnOptions {
  /** Directory for the node's configuration and data. */
  readonly dir: string;
  readonly name: string;
  readonly s3: S3Server;
  /** Where the node sends S3 requests (the emulator, or a proxy in front of it). */
  readonly endpoint: string;
  /** Keys in the configuration when true; from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY otherwise. */
  readonly keysInConfig: boolean;
}

/** Starts a `kiln serve` (no execution, no HTTP) whose storage lives in the bucket. */
export async function startS3Kiln(options: S3KilnOptions): Promise<KilnProcess> {
  const { dir, name, s3, endpoint, keysInConfig } = options;
  const node = (prefix: string) => ({
    s3: {
      endpoint,
      bucket: s3.bucket,
      prefix,
      ...(keysInConfig ? { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey } : {}),
      forcePathStyle: true,
    },
  });
  const config = {
    server: { httpListen: 'off', dataDir: join(dir, name) },
    storage: {
      stores: { local: { disk: { path: 'cas', maxSize: '1GiB' } }, shared: node('cas/') },
      cas: { readCaching: { fast: 'local', slow: 'shared' } },
      actionCache: node('ac/'),
      assets: node('assets/'),
    },
    execution: { enabled: false },
  };
  const file = join(dir, `${name}.json`);
  await writeFile(file, JSON.stringify(config));
  const env = keysInConfig
    ? {}
    : { AWS_ACCESS_KEY_ID: s3.accessKeyId, AWS_SECRET_ACCESS_KEY: s3.secretAccessKey };
  return startKiln(['--config', file, '--listen', '127.0.0.1:0'], { env });
}
