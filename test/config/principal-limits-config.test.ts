import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError, parseConfigText } from '../../src/config/load-config.ts';
import { resolvePolicy } from '../../src/scheduler/policy.ts';

function problemsOf(text: string): string[] {
  try {
    parseConfigText(text, 'test.yaml', { env: {} });
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return [...err.problems];
  }
  assert.fail('expected the configuration to be rejected');
}

describe('execution.principalLimits', () => {
  it('reads a default and per-principal quotas, and the scheduler accepts them', () => {
    const config = parseConfigText(
      [
        'execution:',
        '  principalLimits:',
        '    default: { maxQueued: 500, maxExecuting: 20 }',
        '    principals:',
        '      ci: { maxQueued: "5000" }',
        '      release: {}',
      ].join('\n'),
      'test.yaml',
      { env: {} },
    );
    const limits = config.execution.principalLimits;
    assert.deepEqual(limits, {
      default: { maxQueued: 500, maxExecuting: 20 },
      principals: { ci: { maxQueued: 5000 }, release: {} },
    });
    assert.deepEqual(resolvePolicy({ principalLimits: limits }).principalLimits, limits);
  });

  it('has no limits by default', () => {
    assert.deepEqual(parseConfigText('', 'none').execution.principalLimits, { principals: {} });
  });

  it('rejects zero, unknown keys and misspelt fields, naming where', () => {
    const zero = problemsOf('execution:\n  principalLimits:\n    default: { maxExecuting: 0 }\n');
    assert.ok(
      zero.some((p) => p.includes('execution.principalLimits.default.maxExecuting')),
      zero.join('\n'),
    );
    const typo = problemsOf(
      'execution:\n  principalLimits:\n    principals:\n      ci: { maxQueue: 5 }\n',
    );
    assert.ok(
      typo.some((p) => p.includes('execution.principalLimits.principals.ci')),
      typo.join('\n'),
    );
  });
});
