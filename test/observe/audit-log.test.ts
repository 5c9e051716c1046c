/**
 * The audit log counts every refused call and every administrative action,
 * and logs refusals at a bounded rate: a flood of bad calls costs a counter
 * increment each, not a log line each.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { AuditLog } from '../../src/observe/audit-log.ts';

function capture(): { log: pino.Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const log = pino({ level: 'info' }, { write: (s: string) => lines.push(JSON.parse(s)) });
  return { log, lines };
}

const denial = {
  method: '/build.bazel.remote.execution.v2.ActionCache/UpdateActionResult',
  code: 'PERMISSION_DENIED',
  details: 'UpdateActionResult needs permission ac:write on instance ""',
  principal: 'reader',
  peer: '10.0.0.7:40000',
} as const;

test('a flood of denials is counted in full but logged within the rate limit', async () => {
  const { log, lines } = capture();
  const registry = new Registry();
  let now = 0;
  const audit = new AuditLog({
    log,
    registry,
    denialLinesPerSecond: 10,
    denialBurst: 5,
    now: () => now,
  });
  for (let i = 0; i < 1000; i++) audit.denied(denial);
  assert.equal(lines.length, 5);
  assert.equal(lines[0]?.event, 'denied');
  assert.equal(lines[0]?.principal, 'reader');
  assert.equal(lines[0]?.peer, '10.0.0.7:40000');
  assert.equal(lines[0]?.code, 'PERMISSION_DENIED');
  const metrics = await registry.metrics();
  assert.match(
    metrics,
    /kiln_auth_denials_total\{code="PERMISSION_DENIED",method="\/build\.bazel\.remote\.execution\.v2\.ActionCache\/UpdateActionResult"\} 1000/,
  );
  // A second later there is room again, and the line says how many were left out.
  now = 1000;
  audit.denied(denial);
  assert.equal(lines.length, 6);
  assert.equal(lines[5]?.suppressed, 995);
  assert.match(String(lines[5]?.msg), /995 earlier refusals not logged/);
});

test('administrative actions are always logged and counted', async () => {
  const { log, lines } = capture();
  const registry = new Registry();
  const audit = new AuditLog({ log, registry, denialBurst: 1 });
  for (let i = 0; i < 3; i++) {
    audit.admin({
      action: 'action-cache.purge',
      principal: 'root',
      peer: '127.0.0.1:1',
      detail: { removed: i },
    });
  }
  assert.equal(lines.length, 3);
  assert.deepEqual(
    lines.map((l) => [l.event, l.action, l.principal, l.removed]),
    [0, 1, 2].map((i) => ['admin', 'action-cache.purge', 'root', i]),
  );
  assert.match(
    await registry.metrics(),
    /kiln_admin_actions_total\{action="action-cache.purge"\} 3/,
  );
});
