/**
 * Configuration messages that help a newcomer fix a file in one round:
 * unknown store names reported with the schema's problems, the closest key
 * suggested for a typo, `host:port` asked for where a bare port was given,
 * and every accepted size unit listed.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError, parseConfigText } from '../../src/config/load-config.ts';
import { parseSize } from '../../src/config/values.ts';
import { closestName, editDistance } from '../../src/util/closest-name.ts';

function problemsOf(text: string): string[] {
  try {
    parseConfigText(text, 'test.yaml', { env: {} });
  } catch (err) {
    if (err instanceof ConfigError) return [...err.problems];
    throw err;
  }
  assert.fail('the configuration was accepted');
}

describe('configuration messages', () => {
  it('reports unknown store names together with the schema problems', () => {
    const problems = problemsOf(`
server:
  listen: nonsense
storage:
  cas:
    readCaching:
      fast: mem
      slow: cas-dsik
  stores:
    mem: { memory: { maxSize: 1GiB } }
    cas-disk: { disk: { path: cas, maxSize: 10QB } }
    shards:
      sharding:
        shards:
          one: { backend: gone, weight: 1 }
`);
    assert.deepEqual(problems, [
      'server.listen: invalid address "nonsense" (expected host:port, e.g. 127.0.0.1:8980 or [::]:8980)',
      'storage.stores.cas-disk.disk.maxSize: invalid size "10QB" (expected positive bytes, or a number with a unit: B, KB, MB, GB, TB, PB, KiB, MiB, GiB, TiB, PiB)',
      'storage.stores.shards.sharding.shards.one.backend: unknown store "gone" (defined in storage.stores: "mem", "cas-disk", "shards")',
      'storage.cas.readCaching.slow: unknown store "cas-dsik" (defined in storage.stores: "mem", "cas-disk", "shards"; did you mean "cas-disk"?)',
    ]);
  });

  it('suggests the closest key for a typo', () => {
    const problems = problemsOf(`
serve: {}
storage:
  stores:
    a: { memroy: { maxSize: 1GiB } }
    b: { memory: { maxsize: 1GiB } }
    c: { disk: { path: c, maxSise: 1GiB } }
execution:
  localWorker: 2
  zzzzzzzz: 1
`);
    for (const expected of [
      '(top level): unknown key "serve" (did you mean "server"?)',
      'storage.stores.a: unknown key "memroy" (did you mean "memory"?)',
      'storage.stores.b.memory: unknown key "maxsize" (did you mean "maxSize"?)',
      'storage.stores.c.disk: unknown key "maxSise" (did you mean "maxSize"?)',
      'execution: unknown key "localWorker" (did you mean "localWorkers"?)',
      'execution: unknown key "zzzzzzzz"',
    ]) {
      assert.ok(problems.includes(expected), `${expected}\nnot in:\n${problems.join('\n')}`);
    }
  });

  it('asks for host:port when listen is a bare port', () => {
    assert.deepEqual(problemsOf('server:\n  listen: 28980\n'), [
      'server.listen: expected host:port, e.g. 127.0.0.1:28980 or "[::]:28980", got number 28980',
    ]);
    assert.deepEqual(problemsOf('server:\n  httpListen: 8981\n'), [
      'server.httpListen: expected host:port, e.g. 127.0.0.1:8981 or "[::]:8981", got number 8981',
    ]);
  });

  it('lists PB and PiB among the size units, which are accepted', () => {
    assert.equal(parseSize('1PiB'), 2 ** 50);
    assert.equal(parseSize('2PB'), 2e15);
    const [problem] = problemsOf('storage:\n  cas: { memory: { maxSize: 1XB } }\n');
    assert.match(problem ?? '', /TB, PB, KiB, MiB, GiB, TiB, PiB\)$/);
  });

  it('finds near names only', () => {
    assert.equal(editDistance('memroy', 'memory'), 1);
    assert.equal(editDistance('kitten', 'sitting'), 3);
    assert.equal(closestName('memroy', ['disk', 'memory', 's3']), 'memory');
    assert.equal(closestName('maxsize', ['maxSize', 'path']), 'maxSize');
    assert.equal(closestName('s4', ['s3', 'disk']), undefined, 'too short to guess');
    assert.equal(closestName('xyz', ['memory']), undefined);
  });
});
