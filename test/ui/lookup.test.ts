import assert from 'node:assert/strict';
import { test } from 'node:test';
import { digestOf, toDigestMessage } from '../../src/digest/digest.ts';
import { SHA256 } from '../../src/digest/digest-function.ts';
import { ActionResult } from '../../src/gen/build/bazel/remote/execution/v2/remote_execution.js';
import { parseDigestText } from '../../src/ui/digest-input.ts';
import { createUiFixture, putBlob, submit, uploadTestAction } from './ui-fixture.ts';

const HASH = 'a'.repeat(64);

test('digests are accepted in the forms Bazel and REAPI tools print them', () => {
  const forms = [
    `${HASH}/123`,
    `${HASH}-123`,
    `${HASH}_123`,
    `  ${HASH.toUpperCase()}/123 `,
    `sha256/${HASH}/123`,
    `blobs/${HASH}/123`,
    `my/instance/blobs/sha256/${HASH}/123`,
    `bytestream://remote.example:443/blobs/${HASH}/123`,
    `{"hash": "${HASH}", "sizeBytes": "123", "hashFunctionName": "SHA-256"}`,
    `hash: "${HASH}"\nsize_bytes: 123`,
  ];
  for (const form of forms) {
    const d = parseDigestText(form);
    assert.equal(d.hash, HASH, form);
    assert.equal(d.size, 123, form);
    assert.equal(d.fn.name, 'sha256', form);
  }
  assert.equal(parseDigestText(`${HASH}/5`, 'blake3').fn.name, 'blake3');
  assert.equal(parseDigestText(`blake3/${HASH}/5`).fn.name, 'blake3');
  assert.equal(parseDigestText(`${'b'.repeat(40)}/5`).fn.name, 'sha1');
});

test('unparseable or inconsistent digests are rejected with a clear message', () => {
  assert.throws(() => parseDigestText(''), /enter a digest/);
  assert.throws(() => parseDigestText('not a digest'), /is not a digest; expected HASH\/SIZE/);
  assert.throws(() => parseDigestText(`${'c'.repeat(50)}/1`), /cannot infer the digest function/);
  assert.throws(() => parseDigestText(`sha1/${HASH}/1`), /not a valid SHA1 hash/);
  assert.throws(
    () => parseDigestText(`blake3/${HASH}/1`, 'sha256'),
    /names blake3 but the form asks for sha256/,
  );
  assert.throws(() => parseDigestText(`${HASH}/1`, 'crc32'), /unknown digest function "crc32"/);
});

test('a lookup redirects to the action page for actions and to the CAS view otherwise', async (t) => {
  const f = await createUiFixture();
  t.after(() => f.close());
  const a = await uploadTestAction(f.cas, { args: ['/bin/true'] });
  const file = await putBlob(f.cas, 'some file\n');
  const go = async (query: string) => {
    const res = await f.app.inject(`/lookup?${query}`);
    return { code: res.statusCode, location: res.headers.location, body: res.body };
  };
  assert.deepEqual(
    (await go(`digest=${a.digest.hash}/${a.digest.size}`)).location,
    `/action/sha256/${a.digest.hash}/${a.digest.size}`,
  );
  const toFile = await go(`digest=${encodeURIComponent(`blobs/${file.hash}/${file.size}`)}`);
  assert.equal(toFile.code, 303);
  assert.equal(toFile.location, `/cas/sha256/${file.hash}/${file.size}`);
  assert.equal((await go(`digest=${file.hash}-${file.size}&fn=sha256`)).location, toFile.location);
});

test('a lookup finds actions only the action cache knows, operations and builds', async (t) => {
  const f = await createUiFixture();
  t.after(() => f.close());
  const stdout = await putBlob(f.cas, 'x');
  const onlyInCache = await digestOf(SHA256, Buffer.from('an action evicted from the CAS'));
  await f.deps.actionCache.put(
    'ci',
    onlyInCache,
    ActionResult.fromPartial({ stdoutDigest: toDigestMessage(stdout) }),
  );
  const res = await f.app.inject(
    `/lookup?digest=${onlyInCache.hash}/${onlyInCache.size}&instance=ci`,
  );
  assert.equal(
    res.headers.location,
    `/action/sha256/${onlyInCache.hash}/${onlyInCache.size}?instance=ci`,
  );

  const op = await submit(f, await uploadTestAction(f.cas, { args: ['/bin/true'] }), 'inv-lookup');
  const toOp = await f.app.inject(`/lookup?digest=${encodeURIComponent(op.name)}`);
  assert.equal(toOp.headers.location, '/operations/1');
  const toBuild = await f.app.inject('/lookup?digest=inv-lookup');
  assert.equal(toBuild.headers.location, '/builds/inv-lookup');
  const uuid = '1bcd5207-0335-4018-ad4e-ef002e4d9bbf';
  const toUuid = await f.app.inject(`/lookup?digest=${uuid}`);
  assert.equal(toUuid.headers.location, `/builds/${uuid}`);
});

test('a lookup of garbage is a 400 page and of an unknown digest a 404 page', async (t) => {
  const f = await createUiFixture();
  t.after(() => f.close());
  const bad = await f.app.inject('/lookup?digest=hello');
  assert.equal(bad.statusCode, 400);
  assert.match(bad.body, /&quot;hello&quot; is not a digest/);
  const unknown = await f.app.inject(`/lookup?digest=${HASH}/10`);
  assert.equal(unknown.statusCode, 404);
  assert.match(unknown.body, /neither a blob in the CAS nor an action in the action cache/);
  // The form's value is not echoed into the page unescaped.
  const evil = await f.app.inject(`/lookup?digest=${encodeURIComponent('<script>x</script>')}`);
  assert.equal(evil.statusCode, 400);
  assert.doesNotMatch(evil.body, /<script>x/);
});
