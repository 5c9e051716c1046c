import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { bytesHeld, detachBytes, detachBytesHeld } from '../../src/util/detach-bytes.ts';

describe('detachBytes', () => {
  it('copies pooled and view bytes fields into one buffer of exactly their size', () => {
    const message = {
      name: 'x',
      salt: Buffer.from('salt'),
      nested: {
        items: [{ value: Buffer.from('one') }, { value: new Uint8Array(10).subarray(2, 5) }],
      },
      empty: Buffer.alloc(0),
    };
    assert.ok(message.salt.buffer.byteLength > 4, 'Buffer.from of a short string is pooled');

    const copy = detachBytes(message);

    assert.notEqual(copy, message);
    assert.equal(copy.name, 'x');
    assert.equal(copy.salt.toString(), 'salt');
    assert.ok(Buffer.isBuffer(copy.salt));
    assert.equal(Buffer.from(copy.nested.items[0]?.value ?? []).toString(), 'one');
    const view = copy.nested.items[1]?.value;
    assert.ok(view instanceof Uint8Array && !Buffer.isBuffer(view));
    assert.deepEqual([...(view ?? [])], [0, 0, 0]);
    assert.equal(copy.salt.buffer.byteLength, 4 + 3 + 3);
    assert.equal(copy.salt.buffer, view?.buffer);
    assert.equal(copy.empty.byteLength, 0);
    // The original is untouched.
    assert.equal(message.salt.toString(), 'salt');
    assert.notEqual(message.salt.buffer, copy.salt.buffer);
  });

  it('returns the message itself when no field shares its buffer', () => {
    const message = { a: 1, data: Buffer.allocUnsafeSlow(8), list: ['s'] };
    assert.equal(detachBytes(message), message);
    assert.equal(detachBytes(undefined), undefined);
  });

  it('detaches and counts the bytes in one call, as detachBytes and bytesHeld do in two', () => {
    const shared = { salt: Buffer.from('salt'), items: [{ value: Buffer.from('one') }] };
    const kept = detachBytesHeld(shared);
    assert.notEqual(kept.message, shared);
    assert.equal(kept.message.salt.buffer.byteLength, 7);
    assert.equal(kept.bytes, 7);
    assert.equal(kept.bytes, bytesHeld(detachBytes(shared)));

    const own = { data: Buffer.allocUnsafeSlow(8) };
    assert.deepEqual(detachBytesHeld(own), { message: own, bytes: 8 });
  });
});
