/**
 * Several processes sharing one s3 store tell each other what they wrote
 * (the write log), so FindMissingBlobs of blobs another process uploaded
 * costs one LIST and one GET per published segment instead of a HEAD per
 * blob; the log never makes a blob look present that is not readable; and
 * FindMissingBlobs never waits out the retries of a throttled log read.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { putBuffer, readAll } from '../../src/storage/blob-store.ts';
import { randomBlob, runBlobStoreContract } from './blob-store-contract.ts';
import { proxiedS3 } from './s3-fixture.ts';

const emulator = proxiedS3();

runBlobStoreContract('S3BlobStore with a write log', async () => ({
  store: await emulator.open({ writeLogIntervalMs: 50 }),
  cleanup: async () => {},
}));

/** More than the write log interval of {@link pair}'s stores. */
const INTERVAL = 61_000;

/** Two processes' stores on one prefix, both with a write log, on a clock the test moves. */
async function pair(extra: { expireAfterMs?: number; writeLogWaitMs?: number } = {}) {
  const clock = { now: Date.now() };
  const options = {
    prefix: `log-${Math.random().toString(36).slice(2)}/`,
    // Long enough that no segment goes out on its own: the tests publish with flushWriteLog.
    writeLogIntervalMs: 60_000,
    clock: () => clock.now,
    ...extra,
  };
  const a = await emulator.open(options);
  const b = await emulator.open(options);
  return { a, b, clock };
}

/**
 * A promise the fault proxy holds a response on until `letGo`; after 10 s it
 * lets go by itself and sets `heldTooLong`, only a safety net so that a wrong
 * implementation fails instead of hanging.
 */
function holdBack(): {
  released: Promise<void>;
  letGo: () => void;
  heldTooLong: boolean;
  safety: NodeJS.Timeout;
} {
  let letGo = (): void => {};
  const released = new Promise<void>((resolve) => {
    letGo = resolve;
  });
  const hold = {
    released,
    letGo: () => letGo(),
    heldTooLong: false,
    safety: setTimeout(() => {
      hold.heldTooLong = true;
      letGo();
    }, 10_000),
  };
  return hold;
}

describe('S3BlobStore write log', () => {
  it('FindMissingBlobs of blobs another process wrote costs one LIST and one GET, no HEAD', async () => {
    const { a, b, clock } = await pair();
    try {
      const written = await Promise.all(Array.from({ length: 40 }, (_, i) => randomBlob(60 + i)));
      const absent = await Promise.all([1, 2, 3].map((n) => randomBlob(n * 7)));
      for (const { digest, data } of written) await putBuffer(a, digest, data);
      clock.now += INTERVAL;
      await a.flushWriteLog();
      emulator.proxy.resetCounts();
      const all = [...written, ...absent].map((x) => x.digest);
      const missing = await b.findMissing(all);
      assert.deepEqual(missing.map((d) => d.key).sort(), absent.map((x) => x.digest.key).sort());
      // Without the log: 43 HEADs. With it: the absent ones only, after one listing and one segment.
      assert.deepEqual(
        {
          HEAD: emulator.proxy.counts.HEAD,
          LIST: emulator.proxy.counts.LIST,
          GET: emulator.proxy.counts.GET,
        },
        { HEAD: 3, LIST: 1, GET: 1 },
      );
      assert.equal(emulator.proxy.total(), 5, JSON.stringify(emulator.proxy.counts));
      assert.equal(b.counters.learnt, written.length);
      // What the log vouched for is readable.
      for (const { digest, data } of written.slice(0, 3)) {
        assert.deepEqual(await readAll(b, digest), data);
      }
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('reads the log at most once per interval, and skips its own segments', async () => {
    const { a, b, clock } = await pair();
    try {
      const mine = await randomBlob(100);
      await putBuffer(a, mine.digest, mine.data);
      await a.flushWriteLog();
      const [first, second] = await Promise.all([1, 2].map((n) => randomBlob(n * 11)));
      if (first === undefined || second === undefined) throw new Error('two blobs');
      clock.now += INTERVAL;
      emulator.proxy.resetCounts();
      // Its own segment is listed but not fetched: a LIST and a HEAD, no GET.
      assert.equal((await a.findMissing([first.digest])).length, 1);
      assert.deepEqual(
        [emulator.proxy.counts.LIST, emulator.proxy.counts.GET, emulator.proxy.counts.HEAD],
        [1, 0, 1],
      );
      emulator.proxy.resetCounts();
      // Within the interval: no second listing.
      assert.equal((await a.findMissing([second.digest])).length, 1);
      assert.deepEqual([emulator.proxy.counts.LIST, emulator.proxy.counts.HEAD], [0, 1]);
      // The same segment, once the interval passed, is not fetched again by b either.
      clock.now += INTERVAL;
      emulator.proxy.resetCounts();
      assert.deepEqual(await b.findMissing([mine.digest]), []);
      clock.now += INTERVAL;
      assert.equal((await b.findMissing([first.digest])).length, 1);
      assert.deepEqual([emulator.proxy.counts.LIST, emulator.proxy.counts.GET], [2, 1]);
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('names a blob only once its upload committed', async () => {
    const { a, b, clock } = await pair();
    try {
      const { digest, data } = await randomBlob(300);
      const other = await randomBlob(30);
      const writer = await a.put(digest);
      await writer.write(data);
      await putBuffer(a, other.digest, other.data);
      await a.flushWriteLog();
      clock.now += INTERVAL;
      // The segment names the committed blob, not the one still being written.
      assert.deepEqual(
        (await b.findMissing([digest, other.digest])).map((d) => d.key),
        [digest.key],
      );
      assert.equal(b.counters.learnt, 1);
      await writer.commit();
      await a.flushWriteLog();
      clock.now += INTERVAL;
      emulator.proxy.resetCounts();
      assert.deepEqual(await b.findMissing([digest]), []);
      assert.equal(emulator.proxy.counts.HEAD, 0);
      assert.deepEqual(await readAll(b, digest), data);
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('does not vouch for a peer blob past half the lifecycle expiry', async () => {
    const DAY = 24 * 60 * 60 * 1000;
    const { a, b, clock } = await pair({ expireAfterMs: 2 * DAY });
    try {
      const { digest, data } = await randomBlob(80);
      await putBuffer(a, digest, data);
      await a.flushWriteLog();
      clock.now += INTERVAL;
      assert.deepEqual(await b.findMissing([digest]), []);
      // A day later the log's word is spent: b asks S3 (and touches the old object).
      clock.now += DAY;
      emulator.proxy.resetCounts();
      assert.deepEqual(await b.findMissing([digest]), []);
      assert.equal(emulator.proxy.counts.HEAD, 1);
    } finally {
      await a.close();
      await b.close();
    }
  });

  // S3 throttles the log's request; its retry is held back by the proxy until the test lets it go.
  for (const throttled of ['LIST', 'GET'] as const) {
    it(`FindMissingBlobs does not wait out a throttled write log ${throttled}: unknown digests get HEADs at once`, async () => {
      const { a, b, clock } = await pair();
      const hold = holdBack();
      const { released, letGo } = hold;
      try {
        const written = await Promise.all(Array.from({ length: 20 }, (_, i) => randomBlob(90 + i)));
        const absent = await Promise.all([1, 2, 3].map((n) => randomBlob(n * 5)));
        for (const { digest, data } of written) await putBuffer(a, digest, data);
        clock.now += INTERVAL;
        await a.flushWriteLog();
        let seen = 0;
        emulator.proxy.setFault(({ operation }) => {
          if (operation !== throttled) return undefined;
          return ++seen === 1
            ? { kind: 'status', status: 503, code: 'SlowDown' }
            : { kind: 'hold', until: released };
        });
        emulator.proxy.resetCounts();
        const asked = [...written.slice(0, 10), ...absent].map((x) => x.digest);
        const missing = await b.findMissing(asked);
        assert.equal(
          hold.heldTooLong,
          false,
          'FindMissingBlobs waited for the throttled write log',
        );
        assert.deepEqual(missing.map((d) => d.key).sort(), absent.map((x) => x.digest.key).sort());
        // One HEAD per digest it could not confirm, with the log's retry still held back.
        assert.equal(emulator.proxy.counts.HEAD, asked.length);
        // Let the retry through: the log read ends in the background and helps the next call.
        letGo();
        for (let i = 0; i < 500 && b.counters.learnt < 10; i++) {
          await new Promise((resolve) => setTimeout(resolve, 10));
        }
        assert.equal(b.counters.learnt, 10);
        emulator.proxy.resetCounts();
        assert.deepEqual(await b.findMissing(written.slice(10).map((x) => x.digest)), []);
        assert.equal(emulator.proxy.total(), 0, JSON.stringify(emulator.proxy.counts));
      } finally {
        clearTimeout(hold.safety);
        letGo();
        emulator.proxy.setFault(undefined);
        await a.close();
        await b.close();
      }
    });
  }

  it('FindMissingBlobs waits for a write log read that S3 is slow to answer at most writeLogWaitMs', async () => {
    const { a, b, clock } = await pair({ writeLogWaitMs: 50 });
    const hold = holdBack();
    const { released, letGo } = hold;
    try {
      const written = await Promise.all(Array.from({ length: 5 }, (_, i) => randomBlob(70 + i)));
      for (const { digest, data } of written) await putBuffer(a, digest, data);
      clock.now += INTERVAL;
      await a.flushWriteLog();
      // The listing gets no answer (and no error) until the test lets it through.
      emulator.proxy.failNext(1, { kind: 'hold', until: released }, 'LIST');
      emulator.proxy.resetCounts();
      assert.deepEqual(await b.findMissing(written.map((x) => x.digest)), []);
      assert.equal(hold.heldTooLong, false, 'FindMissingBlobs waited for the held write log LIST');
      assert.deepEqual([emulator.proxy.counts.LIST, emulator.proxy.counts.HEAD], [1, 5]);
    } finally {
      clearTimeout(hold.safety);
      letGo();
      await a.close();
      await b.close();
    }
  });

  it('without a write log each blob another process wrote costs a HEAD', async () => {
    const options = { prefix: `nolog-${Date.now()}/` };
    const a = await emulator.open(options);
    const b = await emulator.open(options);
    try {
      const written = await Promise.all(Array.from({ length: 10 }, (_, i) => randomBlob(20 + i)));
      for (const { digest, data } of written) await putBuffer(a, digest, data);
      emulator.proxy.resetCounts();
      assert.deepEqual(await b.findMissing(written.map((x) => x.digest)), []);
      assert.deepEqual([emulator.proxy.counts.HEAD, emulator.proxy.total()], [10, 10]);
    } finally {
      await a.close();
      await b.close();
    }
  });
});
