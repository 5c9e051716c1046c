import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { describe, it } from 'node:test';
import { MessageReader } from '../../src/rpc/message-reader.ts';

/** An object-mode stream fed by hand, as grpc-js feeds a client stream. */
function feed(): Readable {
  return new Readable({ objectMode: true, read() {} });
}

describe('MessageReader', () => {
  it('yields messages buffered before and pushed after each next(), then undefined at the end', async () => {
    const stream = feed();
    stream.push({ n: 1 });
    const reader = new MessageReader<{ n: number }>(stream);
    assert.deepEqual(await reader.next(), { n: 1 });
    const pending = reader.next();
    setImmediate(() => stream.push({ n: 2 }));
    assert.deepEqual(await pending, { n: 2 });
    const last = reader.next();
    setImmediate(() => stream.push(null));
    assert.equal(await last, undefined);
    assert.equal(await reader.next(), undefined);
    reader.close();
  });

  it('rejects with a premature close when the stream is destroyed before its end (a cancelled call)', async () => {
    const stream = feed();
    const reader = new MessageReader(stream);
    const pending = reader.next();
    stream.destroy();
    await assert.rejects(pending, { code: 'ERR_STREAM_PREMATURE_CLOSE' });
    await assert.rejects(reader.next(), { code: 'ERR_STREAM_PREMATURE_CLOSE' });
  });

  it("rejects with the stream's own error", async () => {
    const stream = feed();
    const reader = new MessageReader(stream);
    const pending = reader.next();
    stream.destroy(new Error('broken'));
    await assert.rejects(pending, /broken/);
  });

  it('leaves the stream open and without its listeners when closed early', async () => {
    const stream = feed();
    const before = ['readable', 'end', 'error', 'close'].map((e) => stream.listenerCount(e));
    stream.push({ n: 1 });
    stream.push({ n: 2 });
    const reader = new MessageReader<{ n: number }>(stream);
    assert.deepEqual(await reader.next(), { n: 1 });
    reader.close();
    assert.equal(stream.destroyed, false);
    assert.deepEqual(
      ['readable', 'end', 'error', 'close'].map((e) => stream.listenerCount(e)),
      before,
    );
    // What was not read is still there for whoever reads next.
    assert.deepEqual(stream.read(), { n: 2 });
  });
});
