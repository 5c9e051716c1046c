import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { makeDigest } from '../../src/digest/digest.ts';
import { SHA256 } from '../../src/digest/digest-function.ts';
import { UploadRegistry } from '../../src/services/upload-registry.ts';
import type { BlobWriter } from '../../src/storage/blob-store.ts';

class FakeWriter implements BlobWriter {
  aborted = false;
  written = 0;
  async write(chunk: Uint8Array): Promise<void> {
    this.written += chunk.byteLength;
  }
  async commit(): Promise<void> {}
  async abort(): Promise<void> {
    this.aborted = true;
  }
}

const digest = makeDigest(SHA256, 'a'.repeat(64), 10);

describe('UploadRegistry', () => {
  it('keeps at most maxIdleUploads idle uploads, abandoning the one idle the longest', async () => {
    let now = 0;
    const registry = new UploadRegistry({ maxIdleUploads: 2, now: () => now });
    const writers = [new FakeWriter(), new FakeWriter(), new FakeWriter()];
    const uploads = writers.map((w, i) => registry.start(`uploads/${i}/blobs/x/10`, digest, w));
    for (const upload of uploads) {
      now += 1000;
      registry.release(upload);
    }
    await new Promise((resolve) => setImmediate(resolve));

    assert.deepEqual(
      writers.map((w) => w.aborted),
      [true, false, false],
    );
    assert.equal(registry.size, 2);
    assert.equal(registry.abandoned, 1);
    assert.equal(registry.resume('uploads/0/blobs/x/10'), undefined);
    // The others stay resumable.
    assert.equal(registry.resume('uploads/1/blobs/x/10'), uploads[1]);
    await registry.close();
  });

  it('uploads being written do not count against the cap, and a resumed one is idle anew', async () => {
    const registry = new UploadRegistry({ maxIdleUploads: 1 });
    const active = registry.start('uploads/a/blobs/x/10', digest, new FakeWriter());
    const idle = new FakeWriter();
    const first = registry.start('uploads/b/blobs/x/10', digest, idle);
    registry.release(first);
    assert.equal(registry.resume('uploads/b/blobs/x/10'), first);
    registry.release(first);
    await new Promise((resolve) => setImmediate(resolve));

    assert.equal(idle.aborted, false);
    assert.equal(registry.size, 2);
    assert.equal(active.active, true);
    await registry.close();
  });
});
