/**
 * Keeps docs/configuration.md honest: every example in it must be a valid
 * configuration, the zero-configuration example must equal the defaults, and
 * every field of the schema must be documented there.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { describe, it } from 'node:test';
import { parseConfigText } from '../../src/config/load-config.ts';
import { configJsonSchema } from '../../src/config/schema.ts';

const DOC = new URL('../../docs/configuration.md', import.meta.url);
const README = new URL('../../README.md', import.meta.url);

interface Example {
  readonly lang: string;
  readonly text: string;
  readonly line: number;
}

async function examples(file: URL = DOC): Promise<Example[]> {
  const doc = await readFile(file, 'utf8');
  return [...doc.matchAll(/^```(yaml|json)\n([\s\S]*?)^```$/gm)].map((m) => ({
    lang: m[1] ?? '',
    text: m[2] ?? '',
    line: doc.slice(0, m.index).split('\n').length,
  }));
}

/** Every property name anywhere in the JSON Schema. */
function fieldNames(schema: unknown, into = new Set<string>()): Set<string> {
  if (schema === null || typeof schema !== 'object') return into;
  const props = (schema as { properties?: Record<string, unknown> }).properties;
  for (const name of Object.keys(props ?? {})) into.add(name);
  for (const value of Object.values(schema)) fieldNames(value, into);
  return into;
}

describe('docs/configuration.md', () => {
  it('has a YAML example for the zero configuration and for a memory tier', async () => {
    const yaml = (await examples()).filter((e) => e.lang === 'yaml');
    assert.ok(yaml.length >= 3, `found ${yaml.length} yaml examples`);
  });

  it('every example parses and validates', async () => {
    for (const example of await examples()) {
      const source = `docs/configuration.md:${example.line}`;
      // A fixed, empty environment: examples must work through their ${VAR:-default}s.
      assert.doesNotThrow(() => parseConfigText(example.text, source, { env: {} }), source);
    }
  });

  it('the zero configuration written out equals the defaults', async () => {
    const written = (await examples()).filter((e) =>
      e.text.includes('# The zero configuration, written out.'),
    );
    assert.equal(written.length, 1);
    assert.deepEqual(
      parseConfigText(written[0]?.text ?? '', 'docs', { env: {} }),
      parseConfigText('', 'none'),
    );
  });

  it('documents every field of the schema', async () => {
    const doc = await readFile(DOC, 'utf8');
    const undocumented = [...fieldNames(configJsonSchema())].filter(
      (name) => !doc.includes(`\`${name}\``),
    );
    assert.deepEqual(undocumented, []);
  });

  it('the README configuration examples parse and validate too', async () => {
    const yaml = (await examples(README)).filter((e) => e.lang === 'yaml');
    assert.ok(yaml.length >= 1);
    for (const example of yaml) {
      const source = `README.md:${example.line}`;
      assert.doesNotThrow(() => parseConfigText(example.text, source, { env: {} }), source);
    }
  });
});
