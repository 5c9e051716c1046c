/**
 * Configuration of the `grpc`, `sharding`, `mirrored` and `sizePartitioned`
 * stores: defaults, every validation with its path, the graph checks that
 * see through the new kinds, and the factory building them.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError, parseConfigText } from '../../src/config/load-config.ts';
import { putBuffer, readAll } from '../../src/storage/blob-store.ts';
import { createStores } from '../../src/storage/create-blob-store.ts';
import { randomBlob } from '../storage/blob-store-contract.ts';

function parse(text: string) {
  return parseConfigText(text, 'test.yaml', { env: {} });
}

function problemsOf(text: string): string[] {
  try {
    parse(text);
  } catch (err) {
    if (err instanceof ConfigError) return [...err.problems];
    throw err;
  }
  return [];
}

function assertProblem(text: string, expected: string): void {
  const problems = problemsOf(text);
  assert.ok(problems.includes(expected), `expected "${expected}" among:\n${problems.join('\n')}`);
}

describe('composite and remote store configuration', () => {
  it('applies the defaults of every new kind', () => {
    const config = parse(`
storage:
  stores:
    remote: { grpc: { endpoint: "grpcs://storage.example.com:443" } }
    a: { memory: {} }
    b: { memory: {} }
    spread: { sharding: { shards: { one: { backend: a }, two: { backend: b, weight: 3 } } } }
    both: { mirrored: { a: spread, b: remote } }
  cas: { sizePartitioned: { small: { memory: {} }, large: both } }
`);
    assert.deepEqual(config.storage.stores.remote, {
      kind: 'grpc',
      endpoint: 'grpcs://storage.example.com:443',
      instanceName: '',
      concurrency: 256,
      timeout: 60_000,
    });
    assert.deepEqual(config.storage.stores.spread, {
      kind: 'sharding',
      shards: { one: { backend: 'a', weight: 1 }, two: { backend: 'b', weight: 3 } },
    });
    assert.deepEqual(config.storage.stores.both, { kind: 'mirrored', a: 'spread', b: 'remote' });
    assert.deepEqual(config.storage.cas, {
      kind: 'sizePartitioned',
      small: { kind: 'memory', maxSize: 256 * 1024 * 1024 },
      large: 'both',
      maxSmallSize: 64 * 1024,
    });
  });

  it('rejects malformed grpc options at their paths', () => {
    assertProblem(
      'storage:\n  cas: { grpc: { endpoint: "http://x:1" } }',
      'storage.cas.grpc.endpoint: invalid endpoint "http://x:1" (expected grpc://HOST:PORT, or grpcs://HOST:PORT for TLS)',
    );
    assertProblem(
      'storage:\n  cas: { grpc: { endpoint: "grpc://x:1", tls: { ca: ca.pem } } }',
      'storage.cas.grpc.tls: tls needs a grpcs:// endpoint (endpoint is "grpc://x:1")',
    );
    assertProblem(
      'storage:\n  cas: { grpc: { endpoint: "grpcs://x:1", tls: { cert: c.pem } } }',
      'storage.cas.grpc.tls: cert and key go together (a client certificate and its private key)',
    );
    assertProblem(
      'storage:\n  cas: { grpc: { endpoint: "grpc://x:1", token: t, tokenFile: /t } }',
      'storage.cas.grpc.tokenFile: set token or tokenFile, not both',
    );
    assertProblem(
      'storage:\n  cas: { grpc: { endpoint: "grpc://x:1", token: "two words" } }',
      'storage.cas.grpc.token: a bearer token is one word, without white space',
    );
  });

  it('an empty token (an unset variable with an empty default) means no token', () => {
    const config = parse(
      // biome-ignore lint/suspicious/noTemplateCurlyInString: the config syntax, literally.
      'storage:\n  cas: { grpc: { endpoint: "grpc://x:1", token: "${KILN_STORAGE_TOKEN:-}" } }',
    );
    assert.ok(config.storage.cas !== undefined && typeof config.storage.cas !== 'string');
    assert.equal('token' in config.storage.cas ? config.storage.cas.token : 'absent', undefined);
  });

  it('rejects a grpc store that points at this very server', () => {
    assertProblem(
      'server: { listen: "0.0.0.0:8980" }\nstorage:\n  cas: { grpc: { endpoint: "grpc://127.0.0.1:8980" } }',
      "storage.cas.grpc.endpoint: grpc://127.0.0.1:8980 is this server's own address (server.listen 0.0.0.0:8980); a grpc store must point at another server",
    );
  });

  it('rejects empty shard sets, bad weights and bad shard keys', () => {
    assertProblem(
      'storage:\n  cas: { sharding: { shards: {} } }',
      'storage.cas.sharding.shards: a sharding store needs a shard',
    );
    assertProblem(
      'storage:\n  cas: { sharding: { shards: { a: { backend: { memory: {} }, weight: 0 } } } }',
      'storage.cas.sharding.shards.a.weight: weight must be a positive number, got 0',
    );
    assert.ok(
      problemsOf('storage:\n  cas: { sharding: { shards: { "-a": { backend: { memory: {} } } } } }')
        .join('\n')
        .includes('shard keys use letters'),
    );
  });

  it('finds unknown names and cycles through the new kinds', () => {
    assertProblem(
      'storage:\n  stores:\n    a: { memory: {} }\n  cas: { sharding: { shards: { one: { backend: a }, two: { backend: nope } } } }',
      'storage.cas.sharding.shards.two.backend: unknown store "nope" (defined in storage.stores: "a")',
    );
    assertProblem(
      'storage:\n  stores:\n    x: { mirrored: { a: y, b: { memory: {} } } }\n    y: { sizePartitioned: { small: x, large: { memory: {} } } }\n  cas: x',
      'storage.stores.y.sizePartitioned.small: reference cycle x → y → x',
    );
  });

  it('rejects a mirror, a partition or shards that use one store twice', () => {
    assertProblem(
      'storage:\n  stores:\n    m: { memory: {} }\n  cas: { mirrored: { a: m, b: m } }',
      'storage.cas.mirrored.b: store "m" is also storage.cas.mirrored.a; a mirrored store needs distinct stores',
    );
    assertProblem(
      'storage:\n  stores:\n    m: { memory: {} }\n  cas: { sharding: { shards: { x: { backend: m }, y: { backend: m } } } }',
      'storage.cas.sharding.shards.y.backend: store "m" is also storage.cas.sharding.shards.x.backend; a sharding store needs distinct stores',
    );
  });

  it('finds disk directories shared between shards', () => {
    const problems = problemsOf(
      'storage:\n  cas: { sharding: { shards: { x: { backend: { disk: { path: d } } }, y: { backend: { disk: { path: d } } } } } }',
    );
    assert.ok(
      problems.some((p) => p.startsWith('storage.cas.sharding.shards.y.backend.disk.path:')),
      problems.join('\n'),
    );
  });

  it('builds a tree of the new kinds that stores and serves blobs', async () => {
    const config = parse(`
storage:
  stores:
    small: { memory: { maxSize: 1MiB } }
    big-1: { memory: { maxSize: 16MiB } }
    big-2: { memory: { maxSize: 16MiB } }
  cas:
    sizePartitioned:
      maxSmallSize: 1KiB
      small: small
      large:
        sharding:
          shards:
            one: { backend: big-1 }
            two: { backend: { mirrored: { a: big-2, b: { memory: {} } } }, weight: 2 }
  actionCache: { memory: {} }
  assets: { memory: {} }
`);
    const stores = await createStores(config);
    try {
      const blobs = await Promise.all([10, 2000, 3000, 4000].map((n) => randomBlob(n)));
      for (const b of blobs) await putBuffer(stores.cas, b.digest, b.data);
      for (const b of blobs) assert.deepEqual(await readAll(stores.cas, b.digest), b.data);
      assert.deepEqual(await stores.cas.findMissing(blobs.map((b) => b.digest)), []);
    } finally {
      await stores.close();
    }
  });

  it('a grpc store whose token file is missing fails to build, naming its path and the file', async () => {
    const config = parse(
      'storage:\n  cas: { grpc: { endpoint: "grpc://127.0.0.1:1", tokenFile: /nonexistent/token } }',
    );
    await assert.rejects(
      createStores(config),
      /storage\.cas\.grpc: cannot read tokenFile \/nonexistent\/token: no such file/,
    );
  });
});
