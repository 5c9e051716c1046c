/**
 * `kiln config check`, `schema` and `defaults`, run as a user runs them.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parseConfigText } from '../../src/config/load-config.ts';
import { configJsonSchema } from '../../src/config/schema.ts';
import { kiln, oneErrorLine } from './kiln-cli.ts';

describe('kiln config', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kiln-cli-config-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('check prints every problem and exits 1, or says the file is valid', async () => {
    const bad = join(dir, 'bad.yaml');
    await writeFile(
      bad,
      'server:\n  listen: 28980\nstorage:\n  cas: nope\n  stores:\n    m: { memroy: {} }\n',
    );
    const result = await kiln(['config', 'check', bad]);
    assert.equal(result.code, 1);
    assert.equal(result.stdout, '');
    assert.deepEqual(result.stderr.trimEnd().split('\n'), [
      `kiln: invalid configuration (${bad}):`,
      '  server.listen: expected host:port, e.g. 127.0.0.1:28980 or "[::]:28980", got number 28980',
      '  storage.stores.m: unknown key "memroy" (did you mean "memory"?)',
      '  storage.stores.m: a store must name exactly one kind: memory, disk, existenceCache, readCaching, grpc, sharding, mirrored, sizePartitioned, s3',
      '  storage.cas: unknown store "nope" (defined in storage.stores: "m")',
    ]);

    const good = join(dir, 'good.yaml');
    await writeFile(good, 'storage:\n  cas: { memory: { maxSize: 1GiB } }\n');
    const ok = await kiln(['config', 'check', good]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(ok.stdout, `${good}: valid\n`);

    const missing = await kiln(['config', 'check']);
    assert.equal(missing.code, 2);
    assert.match(oneErrorLine(missing), /missing FILE/);
  });

  it('schema prints the JSON Schema of the configuration', async () => {
    const result = await kiln(['config', 'schema']);
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(JSON.parse(result.stdout), configJsonSchema());
  });

  it('defaults prints a file that loads back to the zero configuration', async () => {
    const result = await kiln(['config', 'defaults']);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /^ {6}maxSize: 10GiB$/m);
    assert.match(result.stdout, /^ {2}defaultTimeout: 15m$/m);
    const file = join(dir, 'defaults.yaml');
    await writeFile(file, result.stdout);
    const checked = await kiln(['config', 'check', file]);
    assert.equal(checked.code, 0, checked.stderr);
    assert.deepEqual(
      parseConfigText(result.stdout, 'defaults', { env: {} }),
      parseConfigText('', 'zero', { env: {} }),
    );
  });
});
