/**
 * The AWS SDK is heavy: a server without an s3 store must never load it.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { it } from 'node:test';
import { promisify } from 'node:util';
import { NODE24, ROOT } from '../support/kiln-process.ts';

const run = promisify(execFile);

/** Builds the stores of `config` in a fresh Node process; returns whether the AWS SDK was loaded. */
async function loadsSdk(storage: object): Promise<boolean> {
  const script = `
    import { registerHooks } from 'node:module';
    import { mkdtempSync } from 'node:fs';
    import { tmpdir } from 'node:os';
    import { join } from 'node:path';
    let sdk = false;
    registerHooks({
      resolve(specifier, context, next) {
        if (specifier.startsWith('@aws-sdk/')) sdk = true;
        return next(specifier, context);
      },
    });
    const { parseConfigText } = await import(${JSON.stringify(join(ROOT, 'src/config/load-config.ts'))});
    const { createStores } = await import(${JSON.stringify(join(ROOT, 'src/storage/create-blob-store.ts'))});
    const dataDir = mkdtempSync(join(tmpdir(), 'kiln-lazy-'));
    const config = parseConfigText(JSON.stringify({ server: { dataDir }, storage: ${JSON.stringify(storage)} }), 'x.json');
    const stores = await createStores(config);
    await stores.close();
    process.stdout.write(String(sdk));
  `;
  const { stdout } = await run(NODE24, ['--input-type=module', '-e', script], { cwd: ROOT });
  return stdout.trim() === 'true';
}

it('loads the AWS SDK only when an s3 store is configured', { timeout: 60_000 }, async () => {
  assert.equal(await loadsSdk({}), false);
  const s3 = {
    s3: { endpoint: 'http://127.0.0.1:9', bucket: 'kiln', forcePathStyle: true, warmUp: false },
  };
  assert.equal(await loadsSdk({ actionCache: s3 }), true);
});
