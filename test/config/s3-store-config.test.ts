import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError, parseConfigText } from '../../src/config/load-config.ts';

function problemsOf(text: string): string[] {
  try {
    parseConfigText(text, 'test.yaml');
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return [...err.problems];
  }
  assert.fail('expected the configuration to be rejected');
}

describe('s3 store configuration', () => {
  it('fills in the defaults and takes credentials from the environment', () => {
    const config = parseConfigText(
      [
        'storage:',
        '  cas:',
        '    s3:',
        '      endpoint: http://127.0.0.1:9000',
        '      bucket: builds',
        '      prefix: cas/',
        // biome-ignore lint/suspicious/noTemplateCurlyInString: the configuration's ${ENV} syntax.
        '      accessKeyId: ${KEY}',
        // biome-ignore lint/suspicious/noTemplateCurlyInString: the configuration's ${ENV} syntax.
        '      secretAccessKey: ${SECRET}',
        '      forcePathStyle: true',
        '      expireAfter: 720h',
      ].join('\n'),
      'test.yaml',
      { env: { KEY: 'id', SECRET: 'secret' } },
    );
    assert.deepEqual(config.storage.cas, {
      kind: 's3',
      endpoint: 'http://127.0.0.1:9000',
      region: 'us-east-1',
      bucket: 'builds',
      prefix: 'cas/',
      accessKeyId: 'id',
      secretAccessKey: 'secret',
      forcePathStyle: true,
      partSize: 8 * 1024 * 1024,
      partsInFlight: 2,
      maxAttempts: 5,
      requestTimeout: 30_000,
      maxConnections: 64,
      existenceTtl: 3_600_000,
      existenceMaxEntries: 1_000_000,
      headConcurrency: 32,
      warmUp: true,
      expireAfter: 720 * 3_600_000,
      writeLogInterval: 2_000,
    });
  });

  it('turns the write log off with writeLogInterval 0', () => {
    const config = parseConfigText(
      ['storage:', '  cas:', '    s3:', '      bucket: builds', '      writeLogInterval: 0'].join(
        '\n',
      ),
      'test.yaml',
    );
    assert.equal((config.storage.cas as { writeLogInterval: number }).writeLogInterval, 0);
  });

  it('rejects half a key pair, a part below 5MiB and an endpoint that is not a URL', () => {
    const problems = problemsOf(
      [
        'storage:',
        '  cas:',
        '    s3:',
        '      endpoint: 127.0.0.1:9000',
        '      bucket: builds',
        '      accessKeyId: id',
        '      partSize: 1MiB',
      ].join('\n'),
    );
    const text = problems.join('\n');
    assert.match(text, /storage\.cas\.s3\.endpoint/);
    assert.match(text, /accessKeyId and secretAccessKey go together/);
    assert.match(text, /storage\.cas\.s3\.partSize: partSize 1048576 is below S3's minimum/);
  });
});
