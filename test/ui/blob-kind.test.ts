import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { digestOf } from '../../src/digest/digest.ts';
import { SHA256 } from '../../src/digest/digest-function.ts';
import { decodeBlob } from '../../src/ui/blob-kind.ts';

test('random bytes and text are never taken for REAPI messages', async () => {
  const samples = [
    ...Array.from({ length: 300 }, (_, i) => randomBytes(1 + (i % 200))),
    Buffer.from('#!/bin/sh\necho hello\n'),
    Buffer.from('{"json": true}'),
  ];
  for (const data of samples) {
    const decoded = decodeBlob(await digestOf(SHA256, data), data);
    assert.equal(decoded?.kind, 'file', data.toString('hex'));
  }
});

test('the empty blob is an empty Directory', async () => {
  const empty = Buffer.alloc(0);
  assert.equal(decodeBlob(await digestOf(SHA256, empty), empty)?.kind, 'directory');
});
