/**
 * The outbound policy refuses loopback, private and other special-purpose
 * addresses as Fetch origins unless configured (server-side request
 * forgery), however the address is spelled and whether it comes literally
 * or from a name's lookup.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { status } from '@grpc/grpc-js';
import { OriginError } from '../../src/asset/origin-error.ts';
import { OutboundPolicy, type OutboundPolicyOptions } from '../../src/asset/outbound-policy.ts';
import { embeddedIpv4, specialNetworkOf } from '../../src/asset/special-addresses.ts';

const policy = (options: Partial<OutboundPolicyOptions> = {}) =>
  new OutboundPolicy({
    allowedHosts: [],
    deniedHosts: [],
    deniedNetworks: [],
    blockMetadataAddresses: true,
    allowPrivateNetworks: false,
    allowedPrivateNetworks: [],
    ...options,
  });

/** The refusal message for `url`, or undefined when the policy lets it through. */
function refusal(p: OutboundPolicy, url: string): string | undefined {
  try {
    p.checkUrl(new URL(url));
    return undefined;
  } catch (err) {
    assert.ok(err instanceof OriginError, String(err));
    assert.equal(err.code, status.PERMISSION_DENIED);
    return err.message;
  }
}

function lookup(p: OutboundPolicy, host: string): Promise<unknown> {
  return new Promise((resolve, reject) =>
    p.lookup(host, { all: true }, (err, addresses) => (err ? reject(err) : resolve(addresses))),
  );
}

/** Special-purpose origins, however spelled, and the kind each message must name. */
const REFUSED: ReadonlyArray<readonly [string, RegExp]> = [
  ['http://127.0.0.1:8080/x', /127\.0\.0\.1 is a loopback address \(127\.0\.0\.0\/8\)/],
  ['http://127.255.255.254/', /loopback/],
  ['http://0x7f000001/', /127\.0\.0\.1 is a loopback address/],
  ['http://2130706433/', /127\.0\.0\.1 is a loopback address/],
  ['http://0177.0.0.1/', /127\.0\.0\.1 is a loopback address/],
  ['http://0.0.0.0/', /unspecified/],
  ['http://0/', /unspecified/],
  ['http://10.1.2.3/', /10\.1\.2\.3 is a private \(RFC 1918\) address \(10\.0\.0\.0\/8\)/],
  ['http://172.16.0.1/', /private \(RFC 1918\)/],
  ['http://172.31.255.255/', /private \(RFC 1918\)/],
  ['http://192.168.1.1/', /private \(RFC 1918\)/],
  ['http://100.64.0.1/', /carrier-grade NAT/],
  ['http://100.127.255.255/', /carrier-grade NAT/],
  ['http://169.254.169.254/latest/meta-data/', /cloud metadata/],
  ['http://224.0.0.1/', /multicast/],
  ['http://239.255.255.250/', /multicast/],
  ['http://240.0.0.1/', /reserved/],
  ['http://255.255.255.255/', /reserved/],
  ['http://198.18.0.1/', /benchmarking/],
  ['http://192.0.2.1/', /documentation/],
  ['http://[::1]:8080/x', /::1 is a loopback address \(::1\/128\)/],
  ['http://[::]/', /unspecified/],
  ['http://[fd12:3456::1]/', /unique local/],
  ['http://[fc00::1]/', /unique local/],
  ['http://[fe80::1]/', /cloud metadata or link-local/],
  ['http://[fec0::1]/', /site-local/],
  ['http://[ff02::1]/', /multicast/],
  ['http://[2001:db8::1]/', /documentation/],
  ['http://[::ffff:127.0.0.1]/', /::ffff:7f00:1 is a loopback address/],
  ['http://[0:0:0:0:0:ffff:7f00:0001]/', /loopback/],
  ['http://[::ffff:10.0.0.1]/', /private \(RFC 1918\)/],
  ['http://[::ffff:169.254.169.254]/', /cloud metadata/],
  ['http://[::127.0.0.1]/', /loopback/],
  ['http://[::ffff:0:127.0.0.1]/', /loopback/],
  ['http://[64:ff9b::10.0.0.1]/', /private \(RFC 1918\)/],
  ['http://[64:ff9b:1::1]/', /NAT64/],
  ['http://[2002:7f00:1::1]/', /loopback/],
  ['http://[2002:c0a8:101::1]/', /private \(RFC 1918\)/],
];

/** Public addresses next to the special ranges, which stay allowed. */
const ALLOWED: readonly string[] = [
  'http://11.0.0.1/',
  'http://172.32.0.1/',
  'http://172.15.255.255/',
  'http://192.169.0.1/',
  'http://100.128.0.1/',
  'http://100.63.255.255/',
  'http://223.255.255.255/',
  'http://93.184.215.14/',
  'http://[2606:4700::1111]/',
  'http://[::ffff:93.184.215.14]/',
  'http://[64:ff9b::8.8.8.8]/',
  'http://[2002:808:808::1]/',
  'https://mirror.example.com/x',
];

describe('Fetch origins on special-purpose networks', () => {
  it('are refused by default, naming the address, its range and the keys that allow it', () => {
    const p = policy();
    for (const [url, kind] of REFUSED) {
      const message = refusal(p, url);
      assert.ok(message !== undefined, `${url} was allowed`);
      assert.match(message, kind, url);
    }
    const message = refusal(p, 'http://127.0.0.1:8080/x?token=secret') ?? '';
    assert.match(message, /^http:\/\/127\.0\.0\.1:8080\/x\?…: /);
    assert.match(message, /remoteAsset\.allowedPrivateNetworks \(e\.g\. \[127\.0\.0\.1\/32\]\)/);
    assert.match(message, /remoteAsset\.allowPrivateNetworks: true/);
    assert.doesNotMatch(message, /secret/);
  });

  it('leave public addresses alone, including their IPv6 forms', () => {
    const p = policy();
    for (const url of ALLOWED) assert.equal(refusal(p, url), undefined, url);
  });

  it('are refused when a host name resolves to one, at lookup time', async () => {
    await assert.rejects(lookup(policy(), 'localhost'), (err: unknown) => {
      assert.ok(err instanceof OriginError);
      assert.match(
        err.message,
        /^localhost resolves to (127\.0\.0\.1|::1), which is a loopback address .*remoteAsset\.allowedPrivateNetworks/,
      );
      return true;
    });
    // The connected peer is checked too (the last line in the connector).
    assert.throws(
      () => policy().checkAddress('::ffff:10.9.8.7', 'mirror.example.com'),
      /mirror\.example\.com resolves to ::ffff:10\.9\.8\.7, which is a private \(RFC 1918\) address/,
    );
  });

  it('are allowed one network at a time by allowedPrivateNetworks, in either spelling', async () => {
    const p = policy({ allowedPrivateNetworks: ['10.1.0.0/16', '127.0.0.1/32', 'fd00:1::/32'] });
    for (const url of [
      'http://10.1.2.3/',
      'http://[::ffff:10.1.2.3]/',
      'http://127.0.0.1:8080/',
      'http://[::ffff:127.0.0.1]/',
      'http://[fd00:1::5]/',
    ]) {
      assert.equal(refusal(p, url), undefined, url);
    }
    for (const url of [
      'http://10.2.0.1/',
      'http://127.0.0.2/',
      'http://[::1]/',
      'http://[fd00:2::1]/',
    ]) {
      assert.ok(refusal(p, url) !== undefined, url);
    }
    assert.ok(Array.isArray(await lookup(p, 'localhost')));
    // deniedNetworks and the metadata rule still win.
    const denied = policy({
      allowedPrivateNetworks: ['10.0.0.0/8'],
      deniedNetworks: ['10.1.2.0/24'],
    });
    assert.match(refusal(denied, 'http://10.1.2.3/') ?? '', /deniedNetworks/);
    const metadata = policy({ allowedPrivateNetworks: ['169.254.0.0/16'] });
    assert.match(refusal(metadata, 'http://169.254.169.254/') ?? '', /metadata/);
  });

  it('are all allowed by allowPrivateNetworks, except metadata endpoints and denied networks', () => {
    const p = policy({ allowPrivateNetworks: true, deniedNetworks: ['192.168.0.0/16'] });
    for (const [url] of REFUSED) {
      const message = refusal(p, url);
      if (/169\.254|fe80|192\.168|c0a8/.test(url)) assert.ok(message !== undefined, url);
      else assert.equal(message, undefined, url);
    }
  });

  it('allow only loopback in protected mode (allowLoopback)', async () => {
    const p = policy({ allowLoopback: true });
    for (const url of [
      'http://127.0.0.1:8080/',
      'http://[::1]/',
      'http://[::ffff:127.0.0.1]/',
      'http://127.1.2.3/',
    ]) {
      assert.equal(refusal(p, url), undefined, url);
    }
    assert.ok(Array.isArray(await lookup(p, 'localhost')));
    for (const url of [
      'http://10.0.0.1/',
      'http://[fd00::1]/',
      'http://169.254.169.254/',
      'http://0.0.0.0/',
      'http://[::]/',
    ]) {
      assert.ok(refusal(p, url) !== undefined, url);
    }
  });
});

describe('specialNetworkOf and embeddedIpv4', () => {
  it('read the IPv4 address inside mapped, compatible, NAT64 and 6to4 IPv6 addresses', () => {
    assert.equal(embeddedIpv4('::ffff:127.0.0.1'), '127.0.0.1');
    assert.equal(embeddedIpv4('::ffff:7f00:1'), '127.0.0.1');
    assert.equal(embeddedIpv4('0:0:0:0:0:FFFF:0A00:0001'), '10.0.0.1');
    assert.equal(embeddedIpv4('::10.0.0.1'), '10.0.0.1');
    assert.equal(embeddedIpv4('64:ff9b::a9fe:a9fe'), '169.254.169.254');
    assert.equal(embeddedIpv4('2002:a00:1::'), '10.0.0.1');
    assert.equal(embeddedIpv4('::1'), undefined);
    assert.equal(embeddedIpv4('::'), undefined);
    assert.equal(embeddedIpv4('2606:4700::1111'), undefined);
    assert.equal(embeddedIpv4('127.0.0.1'), undefined);
  });

  it('names the range, and marks only loopback as loopback', () => {
    assert.deepEqual(specialNetworkOf('127.0.0.1'), {
      cidr: '127.0.0.0/8',
      kind: 'a loopback address',
      loopback: true,
    });
    assert.equal(specialNetworkOf('::1')?.loopback, true);
    assert.equal(specialNetworkOf('fe80::1%eth0')?.cidr, 'fe80::/10');
    assert.equal(specialNetworkOf('10.0.0.1')?.loopback, false);
    assert.equal(specialNetworkOf('8.8.8.8'), undefined);
  });
});
