/**
 * The S3 store's suite against a real S3 server: a throwaway single-node
 * Ceph cluster with the RADOS Gateway (test/support/ceph-rgw.ts), behind
 * the same fault proxy as the emulator. Skipped when Ceph is not installed,
 * except in CI, where that fails.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { describe, it } from 'node:test';
import {
  CreateBucketCommand,
  HeadObjectCommand,
  PutBucketLifecycleConfigurationCommand,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { status } from '@grpc/grpc-js';
import type { Digest } from '../../src/digest/digest.ts';
import { hasCode } from '../../src/errors.ts';
import { putBuffer, readAll } from '../../src/storage/blob-store.ts';
import { cephUnavailable, RGW_LIFECYCLE_DAY_MS, startCephRgw } from '../support/ceph-rgw.ts';
import type { S3Server } from '../support/s3-server.ts';
import { randomBlob } from './blob-store-contract.ts';
import { proxiedS3 } from './s3-fixture.ts';
import { runS3StoreSuite } from './s3-store-suite.ts';

const unavailable = cephUnavailable();
const MiB = 1024 * 1024;
const DAY = 24 * 60 * 60 * 1000;

/** Process ids whose command line mentions `text`. */
async function processesMentioning(text: string): Promise<number[]> {
  const found: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if ((await readFile(`/proc/${entry}/cmdline`, 'utf8')).includes(text))
        found.push(Number(entry));
    } catch {}
  }
  return found;
}

/** Fails unless no process (not even a zombie) has id `pid`. */
async function assertGone(pid: number): Promise<void> {
  await assert.rejects(readFile(`/proc/${pid}/stat`), { code: 'ENOENT' }, `process ${pid} is left`);
}

/** An SDK client straight to the server (not through the proxy), as another writer would be. */
function directClient(server: S3Server): S3Client {
  return new S3Client({
    endpoint: server.endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: server.accessKeyId, secretAccessKey: server.secretAccessKey },
  });
}

/** Reads a stream to its end or first error; `between` runs after the first chunk. */
async function readAcross(
  stream: AsyncIterable<Uint8Array>,
  between: () => Promise<void>,
): Promise<{ bytes: Buffer; error: unknown }> {
  const chunks: Buffer[] = [];
  try {
    for await (const chunk of stream) {
      if (chunks.length === 0) await between();
      chunks.push(Buffer.from(chunk));
    }
    return { bytes: Buffer.concat(chunks), error: undefined };
  } catch (error) {
    return { bytes: Buffer.concat(chunks), error };
  }
}

describe('S3BlobStore on Ceph RGW', { skip: unavailable }, () => {
  const rgw = proxiedS3(() => startCephRgw());
  runS3StoreSuite('S3BlobStore on Ceph RGW', rgw);

  // What the emulator cannot show: it checks no signature, ignores If-Match,
  // keeps Last-Modified on a copy, and fills in error messages RGW leaves empty.
  describe('what only a real server checks', () => {
    it('names the code of a rejection whose message the server left empty', async () => {
      const store = await rgw.open({ bucket: 'no-such-bucket' });
      try {
        const { digest } = await randomBlob(10);
        await assert.rejects(store.get(digest), (err: unknown) => {
          assert.ok(hasCode(err, status.INTERNAL), String(err));
          assert.match((err as Error).message, /404 NoSuchBucket \(create the bucket/);
          assert.doesNotMatch((err as Error).message, /UnknownError/);
          return true;
        });
      } finally {
        await store.close();
      }
    });

    it('rejects a wrong secret key with the credentials hint', async () => {
      const store = await rgw.open({ secretAccessKey: 'not-the-secret' });
      try {
        const { digest, data } = await randomBlob(10);
        await assert.rejects(putBuffer(store, digest, data), (err: unknown) => {
          assert.ok(hasCode(err, status.INTERNAL), String(err));
          assert.match(
            (err as Error).message,
            /403 SignatureDoesNotMatch \(check the store credentials/,
          );
          return true;
        });
      } finally {
        await store.close();
      }
    });

    it('a touch gives the object a new Last-Modified, keeping its bytes and ETag', async () => {
      let now = Date.now();
      const prefix = `touch-${randomUUID()}/`;
      const store = await rgw.open({
        prefix,
        expireAfterMs: 30 * DAY,
        knownTtlMs: 365 * DAY,
        clock: () => now,
      });
      const client = directClient(rgw.server);
      try {
        const { digest, data } = await randomBlob(1000);
        await putBuffer(store, digest, data);
        const head = { Bucket: rgw.server.bucket, Key: `${prefix}${digest.key}` };
        const before = await client.send(new HeadObjectCommand(head));
        // Last-Modified counts whole seconds.
        await new Promise((resolve) => setTimeout(resolve, 1_100));
        now += 16 * DAY;
        assert.deepEqual(await store.findMissing([digest]), []);
        for (let i = 0; i < 500 && store.counters.touches < 1; i++) {
          await new Promise((resolve) => setTimeout(resolve, 10));
        }
        assert.equal(store.counters.touches, 1);
        const after = await client.send(new HeadObjectCommand(head));
        assert.ok(
          (after.LastModified?.getTime() ?? 0) > (before.LastModified?.getTime() ?? 0),
          `${before.LastModified?.toISOString()} -> ${after.LastModified?.toISOString()}`,
        );
        assert.equal(after.ETag, before.ETag);
        assert.deepEqual(await readAll(store, digest), data);
      } finally {
        client.destroy();
        await store.close();
      }
    });

    it('a lifecycle rule expires a blob nobody uses and keeps one that builds read', async () => {
      // Objects expire four lifecycle days (four seconds here) after their last write.
      const bucket = `lifecycle-${randomUUID().slice(0, 8)}`;
      const prefix = `cas-${randomUUID()}/`;
      const client = directClient(rgw.server);
      await client.send(new CreateBucketCommand({ Bucket: bucket }));
      await client.send(
        new PutBucketLifecycleConfigurationCommand({
          Bucket: bucket,
          LifecycleConfiguration: {
            Rules: [
              {
                ID: 'kiln-expire',
                Status: 'Enabled',
                Filter: { Prefix: '' },
                Expiration: { Days: 4 },
              },
            ],
          },
        }),
      );
      const store = await rgw.open({
        bucket,
        prefix,
        expireAfterMs: 4 * RGW_LIFECYCLE_DAY_MS,
        knownTtlMs: 365 * DAY,
      });
      const exists = async (digest: Digest): Promise<boolean> => {
        try {
          await client.send(
            new HeadObjectCommand({ Bucket: bucket, Key: `${prefix}${digest.key}` }),
          );
          return true;
        } catch (err) {
          if ((err as { name?: string }).name === 'NotFound') return false;
          throw err;
        }
      };
      try {
        const cold = await randomBlob(100);
        const hot = await randomBlob(100);
        await putBuffer(store, cold.digest, cold.data);
        await putBuffer(store, hot.digest, hot.data);
        // Builds keep reading `hot`: the store rewrites it whenever it is older than half the expiry.
        const deadline = Date.now() + 30_000;
        while (await exists(cold.digest)) {
          assert.ok(Date.now() < deadline, 'the lifecycle rule never expired the unused blob');
          assert.deepEqual(await readAll(store, hot.digest), hot.data);
          await new Promise((resolve) => setTimeout(resolve, 250));
        }
        assert.ok(await exists(hot.digest), 'the blob in use expired');
        assert.ok(store.counters.touches >= 1);
        assert.deepEqual(await readAll(store, hot.digest), hot.data);
      } finally {
        client.destroy();
        await store.close();
      }
    });

    it('learns a prefix longer than one listing page (the server caps a page at 1000 keys)', async () => {
      const prefix = `paged-${randomUUID()}/`;
      const client = directClient(rgw.server);
      const blobs = await Promise.all(
        Array.from({ length: 1005 }, (_, i) => randomBlob(8 + (i % 5))),
      );
      try {
        // Written by "another process": straight to the server, 32 at a time.
        for (let i = 0; i < blobs.length; i += 32) {
          await Promise.all(
            blobs.slice(i, i + 32).map(({ digest, data }) =>
              client.send(
                new PutObjectCommand({
                  Bucket: rgw.server.bucket,
                  Key: `${prefix}${digest.key}`,
                  Body: data,
                }),
              ),
            ),
          );
        }
      } finally {
        client.destroy();
      }
      rgw.proxy.resetCounts();
      const store = await rgw.open({ prefix, warmUp: true });
      try {
        await store.warmedUp;
        assert.equal(store.counters.listed, blobs.length);
        assert.equal(rgw.proxy.counts.LIST, 2);
        assert.deepEqual(await store.findMissing(blobs.map((b) => b.digest)), []);
        assert.equal(rgw.proxy.total(), 2, JSON.stringify(rgw.proxy.counts));
      } finally {
        await store.close();
      }
    });

    it('resumes a broken read of a blob re-uploaded meanwhile under another ETag', async () => {
      const prefix = `resume-${randomUUID()}/`;
      const store = await rgw.open({ prefix });
      const client = directClient(rgw.server);
      try {
        // 12 MiB goes up as a multipart upload; one PUT of the same bytes has another ETag.
        const { digest, data } = await randomBlob(12 * MiB);
        await putBuffer(store, digest, data);
        const object = { Bucket: rgw.server.bucket, Key: `${prefix}${digest.key}` };
        rgw.proxy.failNext(1, { kind: 'resetMidBody', afterBytes: MiB }, 'GET');
        const { bytes, error } = await readAcross(await store.get(digest), async () => {
          await client.send(new PutObjectCommand({ ...object, Body: data }));
        });
        assert.equal(error, undefined);
        assert.ok(bytes.equals(data), 'bytes differ from the blob');
        assert.equal(store.counters.resumes, 1);
      } finally {
        client.destroy();
        await store.close();
      }
    });

    it('an action result replaced during a broken read fails UNAVAILABLE, never spliced', async () => {
      const prefix = `ac-${randomUUID()}/`;
      const store = await rgw.open({ prefix, contentAddressed: false });
      const client = directClient(rgw.server);
      try {
        const { digest, data } = await randomBlob(2 * MiB);
        await putBuffer(store, digest, data);
        const object = { Bucket: rgw.server.bucket, Key: `${prefix}${digest.key}` };
        rgw.proxy.failNext(1, { kind: 'resetMidBody', afterBytes: 256 * 1024 }, 'GET');
        const { bytes, error } = await readAcross(await store.get(digest), async () => {
          await client.send(
            new PutObjectCommand({ ...object, Body: Buffer.alloc(data.length, 0x5a) }),
          );
        });
        assert.ok(hasCode(error, status.UNAVAILABLE), String(error));
        assert.match(String(error), /changed in .* while it was read/);
        assert.ok(bytes.length < data.length);
        assert.ok(
          bytes.equals(data.subarray(0, bytes.length)),
          'a served byte is not the first version',
        );
      } finally {
        client.destroy();
        await store.close();
      }
    });
  });
});

describe('Ceph RGW test cluster', { skip: unavailable }, () => {
  it('starts within a minute and leaves no process behind when stopped', async () => {
    const cluster = await startCephRgw();
    const mine = await processesMentioning(cluster.directory);
    await cluster.stop();
    assert.ok(cluster.startMs < 60_000, `started in ${cluster.startMs} ms`);
    assert.equal(cluster.pids.length, 3);
    assert.deepEqual(mine.sort(), [...cluster.pids].sort());
    // Killed and waited for: not even a zombie is left.
    for (const pid of cluster.pids) await assertGone(pid);
  });

  it('kills the daemons it started when the start fails', async () => {
    // The bucket is created last, once all three daemons run.
    let message = '';
    await assert.rejects(startCephRgw({ bucket: 'Not_A_Valid_Bucket' }), (err: unknown) => {
      message = (err as Error).message;
      return true;
    });
    assert.match(message, /InvalidBucketName/);
    const [, dir = '', pids = ''] =
      /cluster in (\S+) did not start \(daemons ([\d, ]+) killed\)/.exec(message) ?? [];
    const killed = pids.split(', ').map(Number);
    assert.equal(killed.length, 3, message);
    for (const pid of killed) await assertGone(pid);
    assert.deepEqual(await processesMentioning(dir), []);
  });
});
