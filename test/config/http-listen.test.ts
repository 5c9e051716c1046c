import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { ConfigError, loadConfig, parseConfigText } from '../../src/config/load-config.ts';
import { KILN_BIN, NODE24, ROOT } from '../support/kiln-process.ts';

function problems(run: () => unknown): string[] {
  try {
    run();
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return [...err.problems];
  }
  assert.fail('expected the configuration to be rejected');
}

describe('server.httpListen', () => {
  it('defaults to auto, with public /metrics and the ui.access default left to the mode', () => {
    const config = parseConfigText('', 'empty');
    assert.equal(config.server.httpListen, 'auto');
    assert.equal(config.ui.access, undefined);
    assert.equal(config.ui.metricsAccess, 'public');
  });

  it('accepts host:port, auto, off and empty in the file', () => {
    for (const value of ['0.0.0.0:9090', '"[::1]:8081"', 'auto', 'off', '""']) {
      const config = parseConfigText(`server:\n  httpListen: ${value}\n`, 'test.yaml');
      assert.equal(
        config.server.httpListen,
        JSON.parse(value.startsWith('"') ? value : `"${value}"`),
      );
    }
  });

  it('rejects anything else, naming the field', () => {
    assert.deepEqual(
      problems(() => parseConfigText('server:\n  httpListen: "localhost"\n', 'test.yaml')),
      [
        'server.httpListen: invalid address "localhost" (expected host:port, e.g. 127.0.0.1:8981, "auto" or "off")',
      ],
    );
  });

  it('lets --http-listen override the file, validated the same way', async () => {
    const config = await loadConfig({ overrides: { httpListen: '127.0.0.1:0' } });
    assert.equal(config.server.httpListen, '127.0.0.1:0');
    assert.equal((await loadConfig({ overrides: { httpListen: 'off' } })).server.httpListen, 'off');
    await assert.rejects(loadConfig({ overrides: { httpListen: 'web:99999' } }), (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.match(err.message, /server\.httpListen: invalid address "web:99999".*command line/);
      return true;
    });
  });

  it('kiln serve reports a bad --http-listen and exits 1 without starting', () => {
    const res = spawnSync(NODE24, [KILN_BIN, 'serve', '--http-listen', 'nonsense'], {
      cwd: ROOT,
      encoding: 'utf8',
    });
    assert.equal(res.status, 1);
    assert.match(res.stderr, /server\.httpListen: invalid address "nonsense"/);
  });

  it('kiln serve --help documents --http-listen', () => {
    const res = spawnSync(NODE24, [KILN_BIN, 'serve', '--help'], { encoding: 'utf8' });
    assert.equal(res.status, 0);
    assert.match(res.stdout, /--http-listen HOST:PORT/);
  });
});
