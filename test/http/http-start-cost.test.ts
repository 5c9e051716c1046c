// Starting Kiln's HTTP server loads no schema compiler: its routes declare
// no schemas, and Fastify would otherwise load Ajv and the serializer
// compiler on every start, before `kiln serve` listens.
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { test } from 'node:test';
import { startHttpServer } from '../../src/http/http-server.ts';
import { silentLogger } from '../../src/util/logger.ts';

test('the HTTP server starts and answers without loading a schema compiler', async () => {
  const server = await startHttpServer({
    listen: '127.0.0.1:0',
    log: silentLogger(),
    routes: [(app) => void app.get('/hello', async () => ({ hello: 'world' }))],
  });
  try {
    const response = await fetch(`${server.url}hello`);
    assert.deepEqual(await response.json(), { hello: 'world' });
    const missing = await fetch(`${server.url}nowhere`);
    assert.equal(missing.status, 404);
    const loaded = Object.keys(createRequire(import.meta.url).cache);
    assert.ok(
      loaded.some((path) => path.includes('/fastify/')),
      'Fastify is loaded through require',
    );
    const compilers = loaded.filter((path) => /ajv|fast-json-stringify-compiler/.test(path));
    assert.deepEqual(compilers, []);
  } finally {
    await server.close();
  }
});
