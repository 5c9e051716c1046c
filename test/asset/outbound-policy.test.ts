import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { status } from '@grpc/grpc-js';
import { OriginError } from '../../src/asset/origin-error.ts';
import { matchesHost, OutboundPolicy, redact } from '../../src/asset/outbound-policy.ts';

const policy = (options: Partial<ConstructorParameters<typeof OutboundPolicy>[0]> = {}) =>
  new OutboundPolicy({
    allowedHosts: [],
    deniedHosts: [],
    deniedNetworks: [],
    blockMetadataAddresses: true,
    allowPrivateNetworks: false,
    allowedPrivateNetworks: [],
    ...options,
  });

const refused = (fn: () => unknown, re: RegExp) =>
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof OriginError);
    assert.equal(err.code, status.PERMISSION_DENIED);
    assert.match(err.message, re);
    return true;
  });

function lookup(p: OutboundPolicy, host: string): Promise<unknown> {
  return new Promise((resolve, reject) =>
    p.lookup(host, { all: true }, (err, addresses) => (err ? reject(err) : resolve(addresses))),
  );
}

describe('OutboundPolicy', () => {
  it('matches host patterns: exact, subdomains only for *., everything for *', () => {
    assert.ok(matchesHost('example.com', 'example.com'));
    assert.ok(!matchesHost('example.com', 'a.example.com'));
    assert.ok(matchesHost('*.example.com', 'a.b.example.com'));
    assert.ok(!matchesHost('*.example.com', 'example.com'));
    assert.ok(!matchesHost('*.example.com', 'badexample.com'));
    assert.ok(matchesHost('*', 'anything'));
  });

  it('allows public addresses and ordinary hosts, only over http and https', () => {
    const p = policy();
    p.checkUrl(new URL('https://mirror.example.com/x'));
    p.checkUrl(new URL('http://93.184.215.14/x'));
    p.checkUrl(new URL('http://[2606:2800:21f:cb07:6820:80da:af6b:8b2c]/x'));
    p.checkUrl(new URL('http://[::ffff:93.184.215.14]/x'));
    refused(() => p.checkUrl(new URL('file:///etc/passwd')), /scheme file: is not supported/);
  });

  it('refuses metadata endpoints by name and address, however they are spelled', () => {
    const p = policy();
    for (const url of [
      'http://169.254.169.254/latest',
      'http://169.254.1.2/',
      'http://0xa9fea9fe/',
      'http://[::ffff:169.254.169.254]/',
      'http://[fd00:ec2::254]/',
      'http://[fe80::1]/',
      'http://100.100.100.200/',
      'http://METADATA.google.internal./computeMetadata',
    ]) {
      refused(() => p.checkUrl(new URL(url)), /metadata/);
    }
    // Without the metadata rule they are still link-local, refused as private.
    refused(
      () => policy({ blockMetadataAddresses: false }).checkUrl(new URL('http://169.254.169.254/')),
      /169\.254\.169\.254 is a link-local address/,
    );
    policy({ blockMetadataAddresses: false, allowPrivateNetworks: true }).checkUrl(
      new URL('http://169.254.169.254/'),
    );
    // Allowing private networks does not open the metadata endpoints.
    refused(
      () => policy({ allowPrivateNetworks: true }).checkUrl(new URL('http://169.254.169.254/')),
      /metadata/,
    );
  });

  it('applies denied hosts before allowed hosts', () => {
    const p = policy({ allowedHosts: ['*.example.com'], deniedHosts: ['secret.example.com'] });
    p.checkUrl(new URL('https://www.example.com/'));
    refused(() => p.checkUrl(new URL('https://secret.example.com/')), /deniedHosts/);
    refused(() => p.checkUrl(new URL('https://example.org/')), /allowedHosts/);
  });

  it('checks every address a name resolves to at lookup time', async () => {
    const open = await lookup(policy({ allowLoopback: true }), 'localhost');
    assert.ok(Array.isArray(open) && open.length > 0);
    await assert.rejects(
      lookup(
        policy({ allowLoopback: true, deniedNetworks: ['127.0.0.0/8', '::1/128'] }),
        'localhost',
      ),
      (err: unknown) => err instanceof OriginError && /localhost resolves to/.test(err.message),
    );
  });

  it('redacts credentials and queries from URLs in messages', () => {
    assert.equal(
      redact('https://user:pw@host.example/path?token=secret'),
      'https://host.example/path?…',
    );
  });
});
