import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError, parseConfigText } from '../../src/config/load-config.ts';

function problemsOf(text: string): string[] {
  try {
    parseConfigText(text, 'test.yaml', { env: {} });
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return [...err.problems];
  }
  assert.fail('expected the configuration to be rejected');
}

describe('execution.scheduler', () => {
  it('is memory by default', () => {
    assert.equal(parseConfigText('', 'none').execution.scheduler, 'memory');
    assert.equal(
      parseConfigText('execution:\n  scheduler: memory\n', 'x', { env: {} }).execution.scheduler,
      'memory',
    );
  });

  it('reads a PostgreSQL database with its defaults, the URL from the environment', () => {
    const config = parseConfigText(
      // biome-ignore lint/suspicious/noTemplateCurlyInString: the configuration's ${ENV} syntax.
      'execution:\n  scheduler:\n    postgres:\n      url: ${KILN_PG_URL}\n',
      'test.yaml',
      { env: { KILN_PG_URL: 'postgresql://kiln:secret@db:5432/kiln' } },
    );
    assert.deepEqual(config.execution.scheduler, {
      postgres: { url: 'postgresql://kiln:secret@db:5432/kiln', poolSize: 10, schema: 'kiln' },
    });
    const tuned = parseConfigText(
      'execution:\n  scheduler: { postgres: { url: "postgres://h/db", poolSize: "4", schema: build_farm } }\n',
      'test.yaml',
      { env: {} },
    );
    assert.deepEqual(tuned.execution.scheduler, {
      postgres: { url: 'postgres://h/db', poolSize: 4, schema: 'build_farm' },
    });
  });

  it('rejects a bad URL, schema, unknown keys and unknown kinds, naming where', () => {
    const url = problemsOf('execution:\n  scheduler: { postgres: { url: "mysql://h/db" } }\n');
    assert.ok(
      url.some((p) => p.includes('execution.scheduler') && p.includes('postgresql://')),
      url.join('\n'),
    );
    const schema = problemsOf(
      'execution:\n  scheduler: { postgres: { url: "postgres://h/db", schema: "Drop Table" } }\n',
    );
    assert.ok(
      schema.some((p) => p.includes('execution.scheduler') && p.includes('identifier')),
      schema.join('\n'),
    );
    const typo = problemsOf(
      'execution:\n  scheduler: { postgres: { url: "postgres://h/db", poolsize: 3 } }\n',
    );
    assert.ok(
      typo.some((p) => p.includes('poolsize')),
      typo.join('\n'),
    );
    const kind = problemsOf('execution:\n  scheduler: redis\n');
    assert.ok(
      kind.some((p) => p.includes('execution.scheduler') && p.includes('memory or { postgres')),
      kind.join('\n'),
    );
  });
});
