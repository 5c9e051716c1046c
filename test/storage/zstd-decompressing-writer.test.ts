import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { zstdCompressSync } from 'node:zlib';
import { status } from '@grpc/grpc-js';
import { resourceExhausted } from '../../src/errors.ts';
import type { BlobWriter } from '../../src/storage/blob-store.ts';
import { ZstdDecompressingWriter } from '../../src/storage/zstd-decompressing-writer.ts';
import { randomBlob, textBlob } from '../support/blobs.ts';
import { zstdZeros } from '../support/zstd-frames.ts';

const MiB = 1024 * 1024;

/** An inner writer that records what reaches it; `gate` holds every write until it resolves. */
class RecordingWriter implements BlobWriter {
  readonly chunks: Buffer[] = [];
  writes = 0;
  committed = false;
  aborted = false;
  gate: Promise<void> = Promise.resolve();
  failWith: Error | undefined;

  get written(): number {
    return this.chunks.reduce((n, c) => n + c.byteLength, 0);
  }
  async write(chunk: Uint8Array): Promise<void> {
    this.writes++;
    await this.gate;
    if (this.failWith) throw this.failWith;
    this.chunks.push(Buffer.from(chunk));
  }
  async commit(): Promise<void> {
    this.committed = true;
  }
  async abort(): Promise<void> {
    this.aborted = true;
  }
}

function writerFor(declaredSize: number) {
  const inner = new RecordingWriter();
  return { inner, writer: new ZstdDecompressingWriter({ inner, declaredSize }) };
}

/** Writes, then commits; resolves with the error either one rejected with. */
async function failure(
  writer: BlobWriter,
  chunks: Buffer[],
): Promise<{ code: number; message: string }> {
  try {
    for (const c of chunks) await writer.write(c);
    await writer.commit();
  } catch (err) {
    return err as { code: number; message: string };
  }
  assert.fail('the upload was accepted');
}

describe('ZstdDecompressingWriter', () => {
  it('stores valid data written in small pieces, counting compressed bytes', async () => {
    const data = Buffer.concat([randomBlob(300_000), textBlob(2 * MiB, 'pieces')]);
    const compressed = zstdCompressSync(data);
    const { inner, writer } = writerFor(data.byteLength);
    for (let at = 0; at < compressed.byteLength; at += 777) {
      await writer.write(compressed.subarray(at, at + 777));
    }
    assert.equal(writer.written, compressed.byteLength);
    await writer.commit();
    assert.equal(inner.committed, true);
    assert.deepEqual(Buffer.concat(inner.chunks), data);
  });

  it('decompresses only as fast as the inner writer takes the output', async (ctx) => {
    const { inner, writer } = writerFor(256 * MiB);
    let open = (): void => undefined;
    inner.gate = new Promise((resolve) => {
      open = resolve;
    });
    const before = process.memoryUsage().external;
    // 8 KiB that expand to 256 MiB; the inner writer takes none of it yet.
    const writing = writer.write(zstdZeros(256 * MiB));
    await sleep(300);
    const growth = process.memoryUsage().external - before;
    ctx.diagnostic(`${(growth / MiB).toFixed(2)} MiB decompressed ahead of the inner writer`);
    assert.ok(growth < 16 * MiB, `${growth} bytes were decompressed ahead of the inner writer`);
    assert.equal(inner.writes, 1);
    open();
    await writing;
    await writer.abort();
  });

  it('stops at the first chunk past the declared size and aborts the inner writer', async () => {
    const { inner, writer } = writerFor(1024);
    const started = performance.now();
    // 64 KiB that expand to 2 GiB.
    const err = await failure(writer, [zstdZeros(2048 * MiB)]);
    assert.ok(performance.now() - started < 200);
    assert.equal(err.code, status.INVALID_ARGUMENT);
    assert.match(err.message, /beyond the declared size of 1024 bytes/);
    assert.ok(inner.written <= 1024);
    assert.equal(inner.aborted, true);
    assert.equal(inner.committed, false);
  });

  it('rejects input that is not zstd at once, on write or commit, and never hangs', async () => {
    for (const size of [10, 300_000]) {
      const { inner, writer } = writerFor(size);
      const err = await failure(writer, [textBlob(size, 'plain')]);
      assert.equal(err.code, status.INVALID_ARGUMENT);
      assert.match(err.message, /zstd data is corrupt/);
      assert.equal(inner.aborted, true);
      await assert.rejects(writer.write(Buffer.from('more')), /zstd data is corrupt/);
      await writer.abort();
    }
  });

  it('rejects output that ends short of the declared size', async () => {
    const { inner, writer } = writerFor(2 * MiB);
    const err = await failure(writer, [zstdZeros(MiB)]);
    assert.equal(err.code, status.INVALID_ARGUMENT);
    assert.match(err.message, /expands to 1048576 bytes, but the digest declares 2097152/);
    assert.equal(inner.aborted, true);
    assert.equal(inner.committed, false);
  });

  it("keeps the inner writer's error code", async () => {
    const { inner, writer } = writerFor(MiB);
    inner.failWith = resourceExhausted('disk full');
    const err = await failure(writer, [zstdZeros(MiB)]);
    assert.equal(err.code, status.RESOURCE_EXHAUSTED);
    assert.equal(inner.aborted, true);
  });
});
