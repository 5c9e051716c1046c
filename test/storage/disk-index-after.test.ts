/**
 * `indexAfter`: a disk store opened with its index built in the background
 * starts reading its packs only once the given promise settles (`kiln
 * serve`: once it listens), and can be closed before that without waiting.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { putBuffer } from '../../src/storage/blob-store.ts';
import { randomBlob } from './blob-store-contract.ts';
import { storeFixture } from './disk-store-fixture.ts';

describe('DiskBlobStore indexAfter', () => {
  const fixture = storeFixture();
  const { open } = fixture;

  it('builds the index only once indexAfter settles, answering lookups correctly then', async () => {
    const blob = await randomBlob(500);
    const first = await open();
    await putBuffer(first, blob.digest, blob.data);
    await first.close();

    let go = (): void => {};
    const gate = new Promise<void>((resolve) => {
      go = resolve;
    });
    const store = await open({ indexInBackground: true, indexAfter: gate });
    let answer: unknown;
    const lookup = store.findMissing([blob.digest]).then((missing) => {
      answer = missing;
    });
    // Long enough for a store of one blob to be indexed many times over.
    await sleep(200);
    assert.equal(answer, undefined, 'the lookup was answered before the index was built');
    assert.equal(store.indexing, true);
    go();
    await lookup;
    assert.deepEqual(answer, [], 'the blob on disk was found once the index was built');
    assert.equal(store.indexing, false);
  });

  it('closes without waiting for an indexAfter that never settles', async () => {
    const never = new Promise<void>(() => {});
    const store = await open({ indexInBackground: true, indexAfter: never });
    // The fixture closes it again afterwards; a second close must not wait either.
    await store.close();
  });
});
