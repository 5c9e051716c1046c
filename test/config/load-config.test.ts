import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ConfigError, loadConfig, parseConfigText } from '../../src/config/load-config.ts';
import { configJsonSchema, type KilnConfig, STORE_KINDS } from '../../src/config/schema.ts';
import { parseDuration, parseSize } from '../../src/config/values.ts';

const GiB = 2 ** 30;
const MiB = 2 ** 20;

/** The problems a text is rejected with. */
function problemsOf(text: string, env: Record<string, string> = {}): string[] {
  try {
    parseConfigText(text, 'test.yaml', { env });
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return [...err.problems];
  }
  assert.fail('expected the configuration to be rejected');
}

const ZERO_CONFIG: KilnConfig = {
  server: {
    listen: '127.0.0.1:8980',
    httpListen: 'auto',
    dataDir: './kiln-data',
    tls: {},
    drainTimeoutMs: 60_000,
  },
  storage: {
    stores: {},
    cas: { kind: 'disk', path: 'cas', maxSize: 10 * GiB, fsync: false, directIo: true },
    actionCache: { kind: 'disk', path: 'ac', maxSize: 512 * MiB, fsync: false, directIo: true },
    assets: { kind: 'disk', path: 'assets', maxSize: 256 * MiB, fsync: false, directIo: true },
  },
  execution: {
    enabled: true,
    localWorkers: availableParallelism(),
    localPrefetch: availableParallelism(),
    workDir: 'worker',
    workerCacheSize: 10 * GiB,
    platform: [],
    defaultTimeoutMs: 15 * 60_000,
    maxTimeoutMs: 3 * 3_600_000,
    workerTimeoutMs: 60_000,
    unschedulableTimeoutMs: 30_000,
    maxRetries: 2,
    actionUsers: 'auto',
    sandbox: 'auto',
    actionMemoryLimit: 0,
    principalLimits: { principals: {} },
    scheduler: 'memory',
  },
  ui: { metricsAccess: 'public', sessionLifetimeMs: 12 * 3_600_000 },
  remoteAsset: {
    enabled: true,
    fetchEnabled: true,
    originFailuresAsRpcErrors: false,
    allowedHosts: [],
    deniedHosts: [],
    deniedNetworks: [],
    blockMetadataAddresses: true,
    allowPrivateNetworks: false,
    allowedPrivateNetworks: [],
    connectTimeoutMs: 10_000,
    defaultTimeoutMs: 300_000,
    maxTimeoutMs: 3_600_000,
    maxDownloadSize: 4 * GiB,
    maxRedirects: 10,
    maxArchiveFiles: 100_000,
    maxArchiveSize: 8 * GiB,
    tempDir: 'tmp/assets',
  },
  observability: { tracing: { serviceName: 'kiln', sampleRatio: 1 } },
};

describe('loadConfig', () => {
  it('without a file yields the documented zero-configuration defaults', async () => {
    assert.deepEqual(await loadConfig({}), ZERO_CONFIG);
    assert.deepEqual(parseConfigText('', 'empty.yaml'), ZERO_CONFIG);
    assert.deepEqual(parseConfigText('{}', 'empty.json'), ZERO_CONFIG);
  });

  it('reads a file and lets command-line overrides win', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kiln-config-'));
    try {
      const file = join(dir, 'kiln.yaml');
      await writeFile(file, 'server:\n  listen: 0.0.0.0:9000\n  dataDir: /var/lib/kiln\n');
      const fromFile = await loadConfig({ file });
      assert.equal(fromFile.server.listen, '0.0.0.0:9000');
      assert.equal(fromFile.server.dataDir, '/var/lib/kiln');

      const overridden = await loadConfig({
        file,
        overrides: { listen: '[::]:8981', httpListen: '[::]:9090', dataDir: dir },
      });
      assert.deepEqual(overridden.server, {
        listen: '[::]:8981',
        httpListen: '[::]:9090',
        dataDir: dir,
        tls: {},
        drainTimeoutMs: 60_000,
      });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('rejects an invalid override, naming the field', async () => {
    await assert.rejects(loadConfig({ overrides: { listen: 'nonsense' } }), (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.match(err.message, /server\.listen: invalid address "nonsense".*command line/);
      return true;
    });
  });

  it('reports a missing file by name', async () => {
    await assert.rejects(loadConfig({ file: '/nonexistent/kiln.yaml' }), (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.match(err.message, /\/nonexistent\/kiln\.yaml: ENOENT/);
      return true;
    });
  });

  it('parses the store tree from the design notes', () => {
    const config = parseConfigText(
      `
storage:
  stores:
    cas-disk: { disk: { path: cas, maxSize: 10GiB, fsync: true } }
    cas-memory: { memory: { maxSize: 256MiB } }
    cas: { readCaching: { fast: cas-memory, slow: cas-disk } }
    ac: { disk: { path: ac, maxSize: 512MiB } }
  cas: cas
  actionCache: ac
`,
      'tree.yaml',
    );
    assert.deepEqual(config.storage.stores['cas-disk'], {
      kind: 'disk',
      path: 'cas',
      maxSize: 10 * GiB,
      fsync: true,
      directIo: true,
    });
    assert.deepEqual(config.storage.stores.cas, {
      kind: 'readCaching',
      fast: 'cas-memory',
      slow: 'cas-disk',
    });
    assert.equal(config.storage.cas, 'cas');
    assert.equal(config.storage.actionCache, 'ac');
  });

  it('rejects unknown keys at every level, with their path', () => {
    const problems = problemsOf(`
serve: {}
server: { port: 1 }
storage:
  stores:
    x: { dsik: { path: x } }
    y: { disk: { path: y, size: 1 } }
`);
    assert.ok(
      problems.includes('(top level): unknown key "serve" (did you mean "server"?)'),
      problems.join('\n'),
    );
    assert.ok(problems.includes('server: unknown key "port"'), problems.join('\n'));
    assert.ok(
      problems.includes('storage.stores.x: unknown key "dsik" (did you mean "disk"?)'),
      problems.join('\n'),
    );
    assert.ok(problems.includes('storage.stores.y.disk: unknown key "size"'), problems.join('\n'));
  });

  it('requires a store to name exactly one kind', () => {
    const problems = problemsOf(`
storage:
  stores:
    none: {}
    two: { memory: {}, disk: { path: d } }
`);
    assert.match(
      problems.join('\n'),
      /storage\.stores\.none: a store must name exactly one kind: memory, disk/,
    );
    assert.match(problems.join('\n'), /storage\.stores\.two: .*found memory and disk/);
  });

  it('rejects a bad size, and lists every problem of the file', () => {
    const problems = problemsOf(`
server: { listen: localhost }
storage:
  stores:
    cas-disk: { disk: { path: cas, maxSize: 10QB } }
    mem: { memory: { maxSize: -5 } }
    cache: { existenceCache: { backend: mem, ttl: soon } }
`);
    assert.equal(problems.length, 4, problems.join('\n'));
    assert.match(problems[0] ?? '', /^server\.listen: invalid address "localhost"/);
    assert.match(
      problems[1] ?? '',
      /^storage\.stores\.cas-disk\.disk\.maxSize: invalid size "10QB"/,
    );
    assert.match(problems[2] ?? '', /^storage\.stores\.mem\.memory\.maxSize: invalid size -5/);
    assert.match(
      problems[3] ?? '',
      /^storage\.stores\.cache\.existenceCache\.ttl: invalid duration "soon"/,
    );
    assert.match(
      problemsOf(
        'storage: { cas: { existenceCache: { backend: { memory: { maxSize: 0 } }, maxEntries: 1.5 } } }',
      ).join('\n'),
      /memory\.maxSize: invalid size 0 .*\n.*existenceCache\.maxEntries: invalid count 1\.5/,
    );
    assert.deepEqual(problemsOf('storage: { cas: { disk: { path: d, fsync: 1 } } }'), [
      'storage.cas.disk.fsync: expected true or false, got number 1',
    ]);
  });

  it('reports problems inside an inline store at their path', () => {
    const problems = problemsOf(
      'storage:\n  cas: { readCaching: { fast: { memory: { maxSize: x } }, slow: 5 } }\n',
    );
    assert.deepEqual(problems, [
      'storage.cas.readCaching.fast.memory.maxSize: invalid size "x" (expected positive bytes, or a number with a unit: B, KB, MB, GB, TB, PB, KiB, MiB, GiB, TiB, PiB)',
      `storage.cas.readCaching.slow: expected a store name or a store definition (an object with one key: ${STORE_KINDS.join(', ')}), got number 5`,
    ]);
  });

  it('reports a missing required field', () => {
    assert.deepEqual(problemsOf('storage: { cas: { disk: {} } }'), [
      'storage.cas.disk.path: required field is missing',
    ]);
  });

  it('reports YAML syntax errors with their line', () => {
    const problems = problemsOf('server:\n  listen: [unclosed\n');
    assert.match(problems[0] ?? '', /^test\.yaml:\d+:\d+: /);
  });

  it(`expands \${VAR} and \${VAR:-default} from the environment`, () => {
    const config = parseConfigText(
      `
server:
  listen: \${HOST:-127.0.0.1}:\${PORT}
  dataDir: \${DATA:-/srv/kiln}
storage:
  cas:
    disk: { path: "\${CAS_DIR}", maxSize: "\${CAS_SIZE:-1GiB}", fsync: "\${FSYNC}" }
`,
      'env.yaml',
      { env: { PORT: '9999', CAS_DIR: 'blobs', FSYNC: 'true', DATA: '' } },
    );
    assert.equal(config.server.listen, '127.0.0.1:9999');
    assert.equal(config.server.dataDir, '/srv/kiln', 'an empty variable takes the default');
    assert.deepEqual(config.storage.cas, {
      kind: 'disk',
      path: 'blobs',
      maxSize: GiB,
      fsync: true,
      directIo: true,
    });
  });

  it('reads process.env by default', () => {
    process.env.KILN_TEST_LISTEN = '127.0.0.2:1234';
    try {
      const config = parseConfigText(`server: { listen: "\${KILN_TEST_LISTEN}" }`, 'env.yaml');
      assert.equal(config.server.listen, '127.0.0.2:1234');
    } finally {
      delete process.env.KILN_TEST_LISTEN;
    }
  });

  it('rejects an unset variable without default, naming it and the path', () => {
    assert.deepEqual(problemsOf(`server: { dataDir: "/data/\${KILN_UNSET_VAR}" }`), [
      `server.dataDir: environment variable KILN_UNSET_VAR is not set (write \${KILN_UNSET_VAR:-default} to give a default)`,
    ]);
  });

  it(`keeps $\${ as a literal \${ and rejects a malformed reference`, () => {
    const config = parseConfigText(`server: { dataDir: "/x/$\${HOME}" }`, 'env.yaml', { env: {} });
    assert.equal(config.server.dataDir, `/x/\${HOME}`);
    assert.match(
      problemsOf(`server: { dataDir: "\${1BAD}" }`)[0] ?? '',
      /^server\.dataDir: invalid variable reference/,
    );
  });

  it('rejects a reference to an unknown store, with its path', () => {
    assert.deepEqual(problemsOf('storage: { cas: { readCaching: { fast: mem, slow: dsk } } }'), [
      'storage.cas.readCaching.fast: unknown store "mem" (defined in storage.stores: none)',
      'storage.cas.readCaching.slow: unknown store "dsk" (defined in storage.stores: none)',
    ]);
  });

  it('rejects a reference cycle, naming the stores in it', () => {
    const problems = problemsOf(`
storage:
  stores:
    a: { existenceCache: { backend: b } }
    b: { readCaching: { fast: { memory: {} }, slow: a } }
    self: { existenceCache: { backend: self } }
  cas: a
`);
    assert.deepEqual(problems, [
      'storage.stores.b.readCaching.slow: reference cycle a → b → a',
      'storage.stores.self.existenceCache.backend: reference cycle self → self',
    ]);
  });

  it('rejects two disk stores on the same directory', () => {
    const problems = problemsOf(`
server: { dataDir: /data }
storage:
  stores:
    one: { disk: { path: blobs } }
    two: { disk: { path: /data/blobs } }
    three: { disk: { path: blobs/inner } }
  cas: one
`);
    assert.deepEqual(problems, [
      'storage.stores.two.disk.path: disk path "/data/blobs" is also used by storage.stores.one.disk.path',
      'storage.stores.three.disk.path: disk path "/data/blobs/inner" is inside the directory of storage.stores.one.disk.path',
      'storage.stores.three.disk.path: disk path "/data/blobs/inner" is inside the directory of storage.stores.two.disk.path',
    ]);
  });

  it('rejects a store shared by the CAS and the action cache', () => {
    const problems = problemsOf(`
storage:
  stores:
    shared: { memory: {} }
  cas: shared
  actionCache: { existenceCache: { backend: shared } }
`);
    assert.equal(problems.length, 1);
    assert.match(
      problems[0] ?? '',
      /^storage\.actionCache: store "shared" is also used by the CAS/,
    );
  });
});

describe('units', () => {
  it('parses sizes in bytes, decimal and binary units', () => {
    assert.equal(parseSize(4096), 4096);
    assert.equal(parseSize('4096'), 4096);
    assert.equal(parseSize('512MiB'), 512 * MiB);
    assert.equal(parseSize('10GiB'), 10 * GiB);
    assert.equal(parseSize('1.5GB'), 1_500_000_000);
    assert.equal(parseSize('2 kb'), 2000);
    for (const bad of ['10QB', '', 'GiB', '-1', '1e3', '1.5.2MB'])
      assert.equal(parseSize(bad), undefined, bad);
    assert.equal(parseSize(1.5), undefined);
  });

  it('parses durations in milliseconds or with a unit', () => {
    assert.equal(parseDuration(250), 250);
    assert.equal(parseDuration('30s'), 30_000);
    assert.equal(parseDuration('500ms'), 500);
    assert.equal(parseDuration('1.5m'), 90_000);
    assert.equal(parseDuration('2h'), 7_200_000);
    assert.equal(parseDuration('soon'), undefined);
  });
});

describe('configJsonSchema', () => {
  it('describes every field, rejects unknown keys, and names the store definition', () => {
    const schema = configJsonSchema() as {
      additionalProperties: boolean;
      $defs: Record<string, { properties: Record<string, unknown> }>;
    };
    assert.equal(schema.additionalProperties, false);
    const store = schema.$defs.StoreDefinition;
    assert.ok(store, 'StoreDefinition is defined');
    assert.deepEqual(Object.keys(store.properties), STORE_KINDS);
    assert.deepEqual(STORE_KINDS.slice(0, 4), ['memory', 'disk', 'existenceCache', 'readCaching']);
    const text = JSON.stringify(schema);
    assert.ok(!text.includes('__schema'), 'no generated names left');
    // Every property in the schema carries a description.
    const undocumented: string[] = [];
    const walk = (node: unknown, path: string): void => {
      if (node === null || typeof node !== 'object') return;
      const props = (node as { properties?: Record<string, { description?: string }> }).properties;
      for (const [key, value] of Object.entries(props ?? {})) {
        if (typeof value.description !== 'string') undocumented.push(`${path}.${key}`);
      }
      for (const [key, value] of Object.entries(node)) walk(value, `${path}.${key}`);
    };
    walk(schema, '');
    assert.deepEqual(undocumented, []);
  });
});
