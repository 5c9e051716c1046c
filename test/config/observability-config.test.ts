/** The `observability` section: tracing is off by default and checked when configured. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError, parseConfigText } from '../../src/config/load-config.ts';
import { otlpTracesUrl } from '../../src/config/observability-schema.ts';

function problems(text: string): string[] {
  try {
    parseConfigText(text, 'test.yaml', { env: {} });
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return [...err.problems];
  }
  assert.fail('expected the configuration to be rejected');
}

describe('observability configuration', () => {
  it('has tracing off (no endpoint) by default', () => {
    const { tracing } = parseConfigText('', 'none').observability;
    assert.deepEqual(tracing, { serviceName: 'kiln', sampleRatio: 1 });
  });

  it('takes an endpoint, a service name and a sample ratio', () => {
    const text =
      'observability:\n  tracing:\n    endpoint: https://otel.example.com:4318\n' +
      '    serviceName: kiln-frontend\n    sampleRatio: 0.1\n';
    assert.deepEqual(parseConfigText(text, 'x').observability.tracing, {
      endpoint: 'https://otel.example.com:4318',
      serviceName: 'kiln-frontend',
      sampleRatio: 0.1,
    });
  });

  it('says what is wrong with an endpoint without a scheme, a ratio over 1, a misspelt key', () => {
    const found = problems(
      'observability:\n  tracing:\n    endpoint: otel:4318\n    sampleRatio: 1.5\n    servicename: x\n',
    );
    assert.ok(
      found.some((p) => /endpoint: expected an http:\/\/ or https:\/\/ URL/.test(p)),
      found.join('\n'),
    );
    assert.ok(
      found.some((p) => /sampleRatio: expected a ratio from 0 to 1/.test(p)),
      found.join('\n'),
    );
    assert.ok(
      found.some((p) => /did you mean "serviceName"/.test(p)),
      found.join('\n'),
    );
  });

  it('sends to /v1/traces unless the URL names a path', () => {
    assert.equal(otlpTracesUrl('http://127.0.0.1:4318'), 'http://127.0.0.1:4318/v1/traces');
    assert.equal(otlpTracesUrl('http://127.0.0.1:4318/'), 'http://127.0.0.1:4318/v1/traces');
    assert.equal(
      otlpTracesUrl('https://gw.example.com/otlp/traces'),
      'https://gw.example.com/otlp/traces',
    );
  });
});
