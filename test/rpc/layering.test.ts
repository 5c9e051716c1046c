// The gRPC plumbing (src/rpc: handler wrappers, interceptors, codecs) sits
// below the services and the server: it imports neither, services never
// import the server, and nothing below the server imports it.
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { test } from 'node:test';

const SRC = join(import.meta.dirname, '..', '..', 'src');

/** Directories under src/ that each directory must not import from. */
const FORBIDDEN: Readonly<Record<string, readonly string[]>> = {
  rpc: ['services', 'server', 'cli', 'http', 'ui'],
  auth: ['rpc', 'services', 'server', 'cli', 'http', 'ui'],
  services: ['server', 'cli', 'http', 'ui'],
  storage: ['rpc', 'services', 'server', 'scheduler', 'cli', 'http', 'ui'],
  scheduler: ['rpc', 'services', 'server', 'cli', 'http', 'ui'],
};

async function sourceFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await sourceFiles(path)));
    else if (/\.(ts|mjs)$/.test(entry.name)) out.push(path);
  }
  return out;
}

test('src/rpc, src/auth, services, storage and the scheduler import only downwards', async () => {
  const violations: string[] = [];
  for (const [layer, forbidden] of Object.entries(FORBIDDEN)) {
    for (const file of await sourceFiles(join(SRC, layer))) {
      const text = await readFile(file, 'utf8');
      // Static imports, re-exports and dynamic imports with a relative specifier.
      for (const match of text.matchAll(/(?:from|import\()\s*['"](\.{1,2}\/[^'"]+)['"]/g)) {
        const target = relative(SRC, resolve(dirname(file), match[1] as string));
        const top = target.split('/')[0] ?? '';
        if (forbidden.includes(top)) violations.push(`${relative(SRC, file)} imports ${target}`);
      }
    }
  }
  assert.deepEqual(violations, []);
});
