import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError, parseConfigText } from '../../src/config/load-config.ts';

function problemsOf(text: string, env: NodeJS.ProcessEnv = {}): string[] {
  try {
    parseConfigText(text, 'test.yaml', { env });
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return [...err.problems];
  }
  assert.fail('expected the configuration to be rejected');
}

const HEX = 'ab'.repeat(32);

describe('auth configuration', () => {
  it('no auth section means protected mode (auth absent)', () => {
    assert.equal(parseConfigText('', 'test.yaml', { env: {} }).auth, undefined);
  });

  it('parses the documented shape, expanding environment variables in tokens', () => {
    const config = parseConfigText(
      [
        'auth:',
        '  anonymous: [cas:read]',
        '  tokens:',
        '    - principal: ci',
        // biome-ignore lint/suspicious/noTemplateCurlyInString: the configuration's ${ENV} syntax.
        '      token: ${KILN_CI_TOKEN}',
        '      permissions: [cas:read, cas:write, ac:read, ac:write, execute]',
        '      instances: [""]',
        '    - principal: workers',
        `      sha256: ${HEX.toUpperCase()}`,
        '      permissions: [worker, cas:read, cas:write]',
        '',
      ].join('\n'),
      'test.yaml',
      { env: { KILN_CI_TOKEN: 's3cret' } },
    );
    assert.deepEqual(config.auth, {
      anonymous: ['cas:read'],
      tokens: [
        {
          principal: 'ci',
          token: 's3cret',
          permissions: ['cas:read', 'cas:write', 'ac:read', 'ac:write', 'execute'],
          instances: [''],
        },
        {
          principal: 'workers',
          sha256: HEX,
          permissions: ['worker', 'cas:read', 'cas:write'],
          instances: [''],
        },
      ],
    });
  });

  it('rejects unknown permission names, naming the valid ones', () => {
    const problems = problemsOf('auth:\n  anonymous: [cas:reed]\n');
    assert.equal(problems.length, 1);
    assert.match(
      problems[0] as string,
      /auth\.anonymous\[0\].*unknown permission "cas:reed".*cas:read/,
    );
    assert.match(
      problemsOf(
        'auth:\n  tokens:\n    - {principal: a, token: t, permissions: [root]}\n',
      )[0] as string,
      /auth\.tokens\[0\]\.permissions\[0\].*unknown permission "root"/,
    );
  });

  it('a token needs exactly one of token and sha256, and sha256 is 64 hex digits', () => {
    assert.match(
      problemsOf('auth:\n  tokens:\n    - {principal: a, permissions: []}\n')[0] as string,
      /exactly one of token and sha256/,
    );
    assert.match(
      problemsOf(
        `auth:\n  tokens:\n    - {principal: a, token: t, sha256: ${HEX}, permissions: []}\n`,
      )[0] as string,
      /exactly one of token and sha256/,
    );
    assert.match(
      problemsOf(
        'auth:\n  tokens:\n    - {principal: a, sha256: abc, permissions: []}\n',
      )[0] as string,
      /sha256.*64 hex digits/,
    );
  });

  it('rejects the same token twice, also once as a token and once as its digest', () => {
    const digest = '9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08'; // sha256("test")
    const problems = problemsOf(
      `auth:\n  tokens:\n    - {principal: a, token: test, permissions: []}\n    - {principal: b, sha256: ${digest}, permissions: []}\n`,
    );
    assert.equal(problems.length, 1);
    assert.match(
      problems[0] as string,
      /auth\.tokens\[1\].*same token as auth\.tokens\[0\] \(principal "a"\)/,
    );
  });

  it('rejects unknown keys and a missing principal', () => {
    assert.ok(problemsOf('auth:\n  users: []\n').some((p) => /users/.test(p)));
    assert.ok(
      problemsOf('auth:\n  tokens:\n    - {token: t, permissions: []}\n').some((p) =>
        /principal/.test(p),
      ),
    );
  });
});
