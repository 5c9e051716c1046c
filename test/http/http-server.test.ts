import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { resolveHttpListen, startHttpServer } from '../../src/http/http-server.ts';
import { metricsRoute } from '../../src/http/metrics-route.ts';
import { KilnMetrics } from '../../src/observe/metrics.ts';
import { silentLogger } from '../../src/util/logger.ts';
import { parsePrometheusText, sampleValue } from '../observe/prometheus-text.ts';

describe('startHttpServer', () => {
  it('serves /metrics in Prometheus text format and stops on close', async () => {
    const metrics = new KilnMetrics();
    metrics.bytesWritten(42);
    const http = await startHttpServer({
      listen: '127.0.0.1:0',
      routes: [metricsRoute(metrics)],
      log: silentLogger(),
    });
    assert.match(http.address, /^127\.0\.0\.1:\d+$/);
    assert.notEqual(http.port, 0);
    assert.equal(http.url, `http://${http.address}/`);

    const res = await fetch(`${http.url}metrics`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
    const parsed = parsePrometheusText(await res.text());
    assert.equal(sampleValue(parsed, 'kiln_cas_written_bytes_total'), 42);

    await http.close();
    await assert.rejects(fetch(`${http.url}metrics`), 'nothing listens after close');
  });

  it('mounts every registrar, in order, before it listens', async () => {
    const order: string[] = [];
    const http = await startHttpServer({
      listen: '127.0.0.1:0',
      routes: [
        async (app) => {
          order.push('first');
          app.get('/hello', async () => ({ hello: 'world' }));
        },
        () => {
          order.push('second');
        },
      ],
      log: silentLogger(),
    });
    try {
      assert.deepEqual(order, ['first', 'second']);
      const res = await fetch(`${http.url}hello`);
      assert.deepEqual(await res.json(), { hello: 'world' });
      assert.equal((await fetch(`${http.url}nothing-here`)).status, 404);
    } finally {
      await http.close();
    }
  });

  it('fails to start on a port that is taken', async () => {
    const first = await startHttpServer({ listen: '127.0.0.1:0', routes: [], log: silentLogger() });
    try {
      await assert.rejects(
        startHttpServer({ listen: first.address, routes: [], log: silentLogger() }),
        /EADDRINUSE/,
      );
    } finally {
      await first.close();
    }
  });
});

describe('resolveHttpListen', () => {
  it('puts "auto" next to the gRPC port, and keeps port 0 for tests', () => {
    assert.equal(
      resolveHttpListen({ listen: '127.0.0.1:8980', httpListen: 'auto' }),
      '127.0.0.1:8981',
    );
    assert.equal(resolveHttpListen({ listen: '[::]:9000', httpListen: 'auto' }), '[::]:9001');
    assert.equal(resolveHttpListen({ listen: '127.0.0.1:0', httpListen: 'auto' }), '127.0.0.1:0');
  });

  it('takes an explicit address as is, and "off" or empty as none', () => {
    assert.equal(
      resolveHttpListen({ listen: '127.0.0.1:8980', httpListen: '0.0.0.0:80' }),
      '0.0.0.0:80',
    );
    assert.equal(resolveHttpListen({ listen: '127.0.0.1:8980', httpListen: 'off' }), undefined);
    assert.equal(resolveHttpListen({ listen: '127.0.0.1:8980', httpListen: '' }), undefined);
  });

  it('refuses "auto" when the gRPC port is the last one', () => {
    assert.throws(
      () => resolveHttpListen({ listen: '127.0.0.1:65535', httpListen: 'auto' }),
      /httpListen/,
    );
  });
});
