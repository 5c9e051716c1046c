import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { status } from '@grpc/grpc-js';
import { makeDigest } from '../../src/digest/digest.ts';
import { BLAKE3, SHA1, SHA256 } from '../../src/digest/digest-function.ts';
import {
  formatReadResourceName,
  formatWriteResourceName,
  parseReadResourceName,
  parseWriteResourceName,
} from '../../src/digest/resource-name.ts';
import { KilnError } from '../../src/errors.ts';

const H256 = 'a'.repeat(64);
const invalid = (err: unknown) => err instanceof KilnError && err.code === status.INVALID_ARGUMENT;

describe('ByteStream resource names', () => {
  it('parse reads with and without an instance name', () => {
    const r = parseReadResourceName(`blobs/${H256}/42`);
    assert.equal(r.instanceName, '');
    assert.equal(r.digest.fn, SHA256);
    assert.equal(r.digest.size, 42);
    assert.equal(r.compressor, 'identity');
    const n = parseReadResourceName(`my/instance/blobs/${H256}/42`);
    assert.equal(n.instanceName, 'my/instance');
  });

  it('infer SHA-1 from the hash length and take BLAKE3 from its segment', () => {
    assert.equal(parseReadResourceName(`blobs/${'b'.repeat(40)}/1`).digest.fn, SHA1);
    const b = parseReadResourceName(`x/blobs/blake3/${H256}/7`);
    assert.equal(b.digest.fn, BLAKE3);
    assert.equal(b.instanceName, 'x');
  });

  it('parse compressed reads and writes', () => {
    const r = parseReadResourceName(`compressed-blobs/zstd/${H256}/9`);
    assert.equal(r.compressor, 'zstd');
    const w = parseWriteResourceName(`i/uploads/u-1/compressed-blobs/zstd/blake3/${H256}/9`);
    assert.equal(w.compressor, 'zstd');
    assert.equal(w.uploadId, 'u-1');
    assert.equal(w.digest.fn, BLAKE3);
  });

  it('ignore optional metadata after the size of a write', () => {
    const w = parseWriteResourceName(`uploads/u/blobs/${H256}/5/some/metadata`);
    assert.equal(w.digest.size, 5);
  });

  it('reject names that are malformed', () => {
    for (const bad of [
      '',
      `blobs/${H256}`,
      `blobs/${H256}/`,
      `blobs/${H256}/1/extra`,
      `blobs/${H256}/+1`,
      `blobs/${'a'.repeat(10)}/1`,
      `compressed-blobs/gzip/${H256}/1`,
      `blobs/sha1/${H256}/1`,
      `a//blobs/${H256}/1`,
    ]) {
      assert.throws(() => parseReadResourceName(bad), invalid, bad);
    }
    for (const bad of [
      `blobs/${H256}/1`,
      `uploads//blobs/${H256}/1`,
      `uploads/u/things/${H256}/1`,
    ]) {
      assert.throws(() => parseWriteResourceName(bad), invalid, bad);
    }
  });

  it('round-trip through the formatters', () => {
    const d = makeDigest(BLAKE3, H256, 3);
    const read = formatReadResourceName('inst', d, 'zstd');
    assert.equal(read, `inst/compressed-blobs/zstd/blake3/${H256}/3`);
    assert.deepEqual(parseReadResourceName(read).digest, d);
    const write = formatWriteResourceName('', 'uuid', makeDigest(SHA256, H256, 3));
    assert.equal(write, `uploads/uuid/blobs/${H256}/3`);
  });
});
