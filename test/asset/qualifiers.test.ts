import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { status } from '@grpc/grpc-js';
import { parseQualifiers, unsupportedQualifiersError } from '../../src/asset/qualifiers.ts';
import { parseSri, toSri } from '../../src/asset/sri.ts';
import { SHA256, SHA384, SHA512 } from '../../src/digest/digest-function.ts';
import { KilnError } from '../../src/errors.ts';

const b64 = (alg: string, text: string) => createHash(alg).update(text).digest('base64');
const hex = (alg: string, text: string) => createHash(alg).update(text).digest('hex');

const invalid = (fn: () => unknown, re: RegExp) =>
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof KilnError);
    assert.equal(err.code, status.INVALID_ARGUMENT);
    assert.match(err.message, re);
    return true;
  });

describe('checksum.sri', () => {
  it('parses sha256, sha384 and sha512 into hexadecimal hashes, ignoring options', () => {
    assert.deepEqual(parseSri(`sha256-${b64('sha256', 'x')}`), [
      { fn: SHA256, hex: hex('sha256', 'x') },
    ]);
    assert.deepEqual(parseSri(` sha384-${b64('sha384', 'x')}?opt  sha512-${b64('sha512', 'x')} `), [
      { fn: SHA384, hex: hex('sha384', 'x') },
      { fn: SHA512, hex: hex('sha512', 'x') },
    ]);
  });

  it('rejects other algorithms, bad base64 and wrong lengths, naming the token', () => {
    invalid(() => parseSri(''), /checksum\.sri is empty/);
    invalid(
      () => parseSri('md5-1B2M2Y8AsgTpgAmY7PhCfg=='),
      /"md5-1B2M2Y8AsgTpgAmY7PhCfg==": unsupported algorithm "md5"/,
    );
    invalid(() => parseSri('sha256-!!!'), /base64 of a 32-byte sha256 hash/);
    invalid(() => parseSri(`sha256-${b64('sha384', 'x')}`), /32-byte sha256/);
  });

  it('converts back to SRI', () => {
    assert.equal(toSri(SHA256, hex('sha256', 'x')), `sha256-${b64('sha256', 'x')}`);
  });
});

describe('parseQualifiers', () => {
  it('sorts identifying qualifiers and keeps headers out of them', () => {
    const q = parseQualifiers(
      [
        { name: 'resource_type', value: 'Application/X-Tar' },
        { name: 'http_header:Authorization', value: 'Bearer t' },
        { name: 'bazel.canonical_id', value: 'id' },
      ],
      1,
    );
    assert.deepEqual(
      q.identifying.map((x) => x.name),
      ['bazel.canonical_id', 'resource_type'],
    );
    assert.equal(q.resourceType, 'application/x-tar');
    assert.deepEqual(q.unsupported, []);
    assert.equal(q.sri, undefined);
  });

  it('merges headers: per-URI qualifiers win over bazel.auth_headers, which win over common ones', () => {
    const uris = ['https://a.example/f', 'https://b.example/f'];
    const q = parseQualifiers(
      [
        { name: 'http_header:Authorization', value: 'common' },
        { name: 'http_header:X-Trace', value: '1' },
        {
          name: 'bazel.auth_headers',
          value: JSON.stringify({
            'https://A.example:443/f': { Authorization: 'legacy-a' },
            'https://b.example/f': { Authorization: ['legacy-b1', 'legacy-b2'] },
          }),
        },
        { name: 'http_header_url:1:authorization', value: 'per-uri-b' },
      ],
      uris.length,
    );
    assert.deepEqual(q.headersFor(0, uris[0] as string), {
      authorization: ['legacy-a'],
      'x-trace': ['1'],
    });
    assert.deepEqual(q.headersFor(1, uris[1] as string), {
      authorization: ['per-uri-b'],
      'x-trace': ['1'],
    });
  });

  it('collects unsupported names instead of rejecting them', () => {
    const q = parseQualifiers([{ name: 'vcs.branch', value: 'main' }], 1);
    assert.deepEqual(q.unsupported, ['vcs.branch']);
    assert.deepEqual(q.identifying, [{ name: 'vcs.branch', value: 'main' }]);
  });

  it('rejects duplicates, bad header names and values, and malformed bazel.auth_headers', () => {
    invalid(() => parseQualifiers([{ name: '', value: '' }], 1), /qualifiers\[0\]\.name is empty/);
    invalid(
      () => parseQualifiers([{ name: 'http_header:Bad Name', value: 'x' }], 1),
      /invalid header name/,
    );
    invalid(
      () => parseQualifiers([{ name: 'http_header:X', value: 'a\r\nInjected: 1' }], 1),
      /CR, LF or NUL/,
    );
    invalid(() => parseQualifiers([{ name: 'http_header:Host', value: 'x' }], 1), /cannot be set/);
    invalid(
      () => parseQualifiers([{ name: 'bazel.auth_headers', value: '{' }], 1),
      /not valid JSON/,
    );
    invalid(
      () => parseQualifiers([{ name: 'bazel.auth_headers', value: '{"u": {"h": 1}}' }], 1),
      /expected \{"<url>"/,
    );
    invalid(
      () => parseQualifiers([{ name: 'http_header_url:x:Authorization', value: 'x' }], 1),
      /http_header_url:INDEX:NAME/,
    );
  });

  it('builds the BadRequest error the Remote Asset API asks for', () => {
    const err = unsupportedQualifiersError(['vcs.commit']);
    assert.equal(err.code, status.INVALID_ARGUMENT);
    assert.match(err.message, /unsupported qualifier "vcs\.commit"/);
    assert.equal(err.details[0]?.typeUrl, 'type.googleapis.com/google.rpc.BadRequest');
  });
});
