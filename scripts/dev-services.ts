/**
 * Starts the services a Kiln cluster needs, for development and tests: a
 * throwaway PostgreSQL cluster and an S3-compatible server (the s3rver
 * emulator), both on free loopback ports with their data under DIR. Prints
 * `KILN_PG_URL=…`, `KILN_S3_ENDPOINT=…`, `KILN_S3_BUCKET=…`,
 * `KILN_S3_ACCESS_KEY_ID=…` and `KILN_S3_SECRET_ACCESS_KEY=…` once both
 * accept connections (lines a shell can `export`), then runs until SIGINT or
 * SIGTERM, which stop both.
 *
 * Usage: npm run dev:services -- --dir DIR
 */
import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { type PostgresServer, startPostgres } from '../test/support/postgres-server.ts';
import { type S3Server, startS3Server } from '../test/support/s3-server.ts';

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { dir: { type: 'string' } } });
  if (values.dir === undefined || values.dir === '') {
    process.stderr.write('usage: npm run dev:services -- --dir DIR\n');
    process.exit(2);
  }
  const dir = resolve(values.dir);
  await mkdir(join(dir, 's3'), { recursive: true });
  let pg: PostgresServer | undefined;
  let s3: S3Server | undefined;
  let stopping = false;
  const stop = async (code: number): Promise<never> => {
    if (!stopping) {
      stopping = true;
      await Promise.allSettled([pg?.stop(), s3?.stop()]);
    }
    process.exit(code);
  };
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => void stop(0));
  try {
    [pg, s3] = await Promise.all([startPostgres({ dir }), startS3Server({ dir: join(dir, 's3') })]);
  } catch (err) {
    process.stderr.write(`dev services failed to start: ${(err as Error).message}\n`);
    await stop(1);
    return;
  }
  process.stdout.write(
    [
      `KILN_PG_URL=${pg.url}`,
      `KILN_S3_ENDPOINT=${s3.endpoint}`,
      `KILN_S3_BUCKET=${s3.bucket}`,
      `KILN_S3_ACCESS_KEY_ID=${s3.accessKeyId}`,
      `KILN_S3_SECRET_ACCESS_KEY=${s3.secretAccessKey}`,
      '',
    ].join('\n'),
  );
}

await main();
