import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ConfigError, parseConfigText } from '../../src/config/load-config.ts';
import { createStores } from '../../src/storage/create-blob-store.ts';

function problemsOf(text: string): string[] {
  try {
    parseConfigText(text, 'test.yaml', { env: {} });
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return [...err.problems];
  }
  assert.fail('expected the configuration to be rejected');
}

describe('remoteAsset configuration', () => {
  it('defaults to enabled fetch, refusing metadata and private addresses, allowing any host', () => {
    const { remoteAsset, storage } = parseConfigText('', 'empty.yaml');
    assert.equal(remoteAsset.enabled, true);
    assert.equal(remoteAsset.fetchEnabled, true);
    assert.equal(remoteAsset.blockMetadataAddresses, true);
    assert.equal(remoteAsset.allowPrivateNetworks, false);
    assert.deepEqual(remoteAsset.allowedPrivateNetworks, []);
    assert.deepEqual(remoteAsset.allowedHosts, []);
    assert.equal(remoteAsset.proxy, undefined);
    assert.equal(remoteAsset.maxDownloadSize, 4 * 2 ** 30);
    assert.equal(remoteAsset.defaultTimeoutMs, 300_000);
    assert.ok(typeof storage.assets === 'object' && storage.assets.kind === 'disk');
    assert.equal(storage.assets.path, 'assets');
    assert.equal(storage.assets.maxSize, 256 * 2 ** 20);
  });

  it('parses sizes, durations and lists', () => {
    const { remoteAsset } = parseConfigText(
      [
        'remoteAsset:',
        '  allowPrivateNetworks: "true"',
        '  allowedPrivateNetworks: [127.0.0.0/8, "fd00::/8", 10.1.2.3/32]',
        '  allowedHosts: ["*.example.com", mirror.internal]',
        '  deniedNetworks: [10.0.0.0/8, "fd00::/8"]',
        '  proxy: http://proxy.internal:3128',
        '  defaultTimeout: 30s',
        '  maxTimeout: 10m',
        '  maxDownloadSize: 512MiB',
      ].join('\n'),
      'test.yaml',
      { env: {} },
    );
    assert.equal(remoteAsset.allowPrivateNetworks, true);
    assert.deepEqual(remoteAsset.allowedPrivateNetworks, [
      '127.0.0.0/8',
      'fd00::/8',
      '10.1.2.3/32',
    ]);
    assert.deepEqual(remoteAsset.allowedHosts, ['*.example.com', 'mirror.internal']);
    assert.deepEqual(remoteAsset.deniedNetworks, ['10.0.0.0/8', 'fd00::/8']);
    assert.equal(remoteAsset.proxy, 'http://proxy.internal:3128');
    assert.equal(remoteAsset.defaultTimeoutMs, 30_000);
    assert.equal(remoteAsset.maxTimeoutMs, 600_000);
    assert.equal(remoteAsset.maxDownloadSize, 512 * 2 ** 20);
  });

  it('rejects bad networks, proxies, host patterns and unknown keys, naming each field', () => {
    const problems = problemsOf(
      [
        'remoteAsset:',
        '  deniedNetworks: [10.0.0.0/33, example.com/8]',
        '  allowedPrivateNetworks: [localhost]',
        '  proxy: socks5://proxy:1080',
        '  deniedHosts: ["exa mple.com"]',
        '  unknownField: 1',
      ].join('\n'),
    );
    const joined = problems.join('\n');
    assert.match(joined, /remoteAsset\.deniedNetworks\[0\]: expected a network in CIDR form/);
    assert.match(joined, /remoteAsset\.deniedNetworks\[1\]/);
    assert.match(joined, /remoteAsset\.allowedPrivateNetworks\[0\]: expected a network in CIDR/);
    assert.match(joined, /remoteAsset\.proxy: expected http:\/\/host:port/);
    assert.match(joined, /remoteAsset\.deniedHosts\[0\]: expected a host name/);
    assert.match(joined, /remoteAsset: unknown key "unknownField"/);
  });

  it('rejects the removed pushEnabled, naming the asset:push permission that replaced it', () => {
    const problems = problemsOf('remoteAsset:\n  pushEnabled: false\n  fetchEnabled: true\n');
    assert.equal(problems.length, 1, problems.join('\n'));
    assert.match(
      problems[0] ?? '',
      /^remoteAsset\.pushEnabled: removed: who may push is now the asset:push permission .*docs\/security\.md$/,
    );
    // Other unknown keys still read as unknown.
    assert.match(
      problemsOf('remoteAsset:\n  pushEnabld: false\n').join('\n'),
      /unknown key "pushEnabld"/,
    );
  });

  it('rejects a default timeout above the maximum', () => {
    const problems = problemsOf('remoteAsset:\n  defaultTimeout: 2h\n  maxTimeout: 1h\n');
    assert.match(
      problems.join('\n'),
      /remoteAsset\.defaultTimeout: defaultTimeout .* exceeds maxTimeout/,
    );
  });
});

describe('storage.assets', () => {
  it('is built as its own store, and may not share a store or directory with the CAS', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kiln-assets-config-'));
    try {
      const ok = parseConfigText(`server:\n  dataDir: ${dir}\n`, 'test.yaml', { env: {} });
      const stores = await createStores(ok);
      assert.ok(stores.assets !== stores.cas);
      await stores.close();

      const shared = parseConfigText(
        [
          `server:\n  dataDir: ${dir}`,
          'storage:',
          '  stores:',
          '    mem:',
          '      memory: {}',
          '  cas: mem',
          '  assets: mem',
        ].join('\n'),
        'test.yaml',
        { env: {} },
      );
      await assert.rejects(
        createStores(shared),
        /storage\.assets: store "mem" is also used by storage\.cas/,
      );

      const sameDir = parseConfigText(
        `server:\n  dataDir: ${dir}\nstorage:\n  assets:\n    disk:\n      path: ac/assets\n`,
        'test.yaml',
        { env: {} },
      );
      await assert.rejects(
        createStores(sameDir),
        /storage\.assets\.disk\.path: disk path .* overlaps storage\.actionCache\.disk\.path/,
      );

      const unknown = parseConfigText('storage:\n  assets: nope\n', 'test.yaml', { env: {} });
      await assert.rejects(createStores(unknown), /storage\.assets: unknown store "nope"/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
