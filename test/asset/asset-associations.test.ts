import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  AssetAssociations,
  type AssociationRecord,
  associationKey,
  decodeRecord,
  encodeRecord,
} from '../../src/asset/asset-associations.ts';
import { parseQualifiers } from '../../src/asset/qualifiers.ts';
import { digestOf } from '../../src/digest/digest.ts';
import { BLAKE3, SHA256 } from '../../src/digest/digest-function.ts';
import { MemoryBlobStore } from '../../src/storage/memory-blob-store.ts';

const URI = 'https://example.com/a.tar.gz';
const SRI = { name: 'checksum.sri', value: `sha256-${Buffer.alloc(32).toString('base64')}` };

describe('AssetAssociations', () => {
  it('keys do not depend on qualifier order or URL spelling, but on everything else', () => {
    const a = parseQualifiers([SRI, { name: 'bazel.canonical_id', value: 'x' }], 1);
    const b = parseQualifiers([{ name: 'bazel.canonical_id', value: 'x' }, SRI], 1);
    const key = (
      q = a,
      uri = URI,
      kind: 'blob' | 'directory' = 'blob',
      fn = SHA256,
      instance = '',
    ) => AssetAssociations.keyOf(associationKey(kind, instance, fn, q, uri, 0)).hash;
    assert.equal(key(a), key(b));
    assert.equal(key(a, 'HTTPS://EXAMPLE.com:443/a.tar.gz'), key(a));
    assert.notEqual(key(a, `${URI}?v=2`), key(a));
    assert.notEqual(key(a, URI, 'directory'), key(a));
    assert.notEqual(key(a, URI, 'blob', BLAKE3), key(a));
    assert.notEqual(key(a, URI, 'blob', SHA256, 'other'), key(a));
    assert.notEqual(key(parseQualifiers([SRI], 1)), key(a));
  });

  it('keys include headers only when no checksum pins the content', () => {
    const withAuth = (token: string, sri: boolean) =>
      parseQualifiers(
        [...(sri ? [SRI] : []), { name: 'http_header:Authorization', value: token }],
        1,
      );
    const key = (q: ReturnType<typeof parseQualifiers>) =>
      AssetAssociations.keyOf(associationKey('blob', '', SHA256, q, URI, 0)).hash;
    assert.equal(key(withAuth('one', true)), key(withAuth('two', true)));
    assert.notEqual(key(withAuth('one', false)), key(withAuth('two', false)));
    assert.notEqual(key(withAuth('one', false)), key(parseQualifiers([], 1)));
  });

  it('stores and reads records; unreadable records and other kinds are misses', async () => {
    const store = new MemoryBlobStore({ maxBytes: 1 << 20 });
    const associations = new AssetAssociations({ store });
    const q = parseQualifiers([SRI], 1);
    const key = associationKey('blob', '', SHA256, q, URI, 0);
    const record: AssociationRecord = {
      kind: 'blob',
      uri: URI,
      digest: await digestOf(SHA256, Buffer.from('content')),
      qualifiers: q.identifying,
      createdAtMs: 1_700_000_000_000,
      expiresAtMs: undefined,
      source: 'fetch',
    };
    assert.equal(await associations.get(key), undefined);
    await associations.put(key, record);
    assert.deepEqual(await associations.get(key), record);
    assert.equal(await associations.get({ ...key, kind: 'directory' }), undefined);
    assert.deepEqual(decodeRecord(encodeRecord(record)), record);
    assert.equal(decodeRecord(Buffer.from('{"v":2}')), undefined);
    assert.equal(decodeRecord(Buffer.from('not json')), undefined);
    await store.close();
  });
});
