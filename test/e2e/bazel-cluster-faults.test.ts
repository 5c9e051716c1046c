// Bazel builds through HAProxy in front of two `kiln serve` processes that
// share a PostgreSQL scheduler and an S3 bucket, with a `kiln worker` on
// each: a kill -9 of one process mid-build, and then a PostgreSQL restart
// mid-build, each leave the build successful, no action run more often than
// maxRetries + 1, and no operation unfinished in the database.
import assert from 'node:assert/strict';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { requireHaproxy } from '../support/haproxy.ts';
import {
  type BazelResult,
  type BazelWorkspace,
  createBazelWorkspace,
  parseRemoteCacheHits,
  requireBazel,
  runBazel,
} from './bazel-harness.ts';
import { type Cluster, MAX_RETRIES, startCluster } from './cluster-harness.ts';

/** The genrule and C++ packages, and twelve one-second actions to be caught in flight. */
const TARGETS = ['//gen/...', '//cc/...', '//remote:all_slow'];

/** Starts a build of {@link TARGETS} through the balancer; `round` makes every action new. */
async function build(ws: BazelWorkspace, cluster: Cluster, round: number): Promise<BazelResult> {
  const result = await runBazel(
    ws,
    [
      'build',
      ...TARGETS,
      `--remote_executor=grpc://${cluster.balancer.address}`,
      '--remote_timeout=120',
      // As docs/operations.md recommends for servers that restart.
      '--remote_retries=10',
      '--jobs=12',
      `--action_env=KILN_E2E_ROUND=${round}`,
    ],
    // A build that hangs fails while the cluster can still tell why.
    { timeoutMs: 150_000 },
  ).catch(async (err: Error) => {
    throw new Error(`${err.message}\n${await cluster.describe()}`);
  });
  if (result.code !== 0) {
    throw new Error(
      `bazel exited with ${result.code}:\n${result.stderr}\n${await cluster.describe()}`,
    );
  }
  return result;
}

/** Waits until at least `count` operations execute (on `worker`, when given). */
async function waitExecuting(cluster: Cluster, count: number, worker?: string): Promise<void> {
  const where = worker === undefined ? '' : ` AND worker = '${worker}'`;
  for (let i = 0; i < 1200; i++) {
    const [row] = await cluster.query<{ n: string }>(
      `SELECT count(*) AS n FROM kiln.operations WHERE stage = 'EXECUTING'${where}`,
    );
    if (Number(row?.n) >= count) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.fail(`fewer than ${count} operations executing${worker ? ` on ${worker}` : ''}`);
}

/**
 * Every operation in the database ends: none is left queued or executing,
 * no execution or lease row remains (at most a few seconds after the build,
 * for leases lost meanwhile and whose actions another request completed).
 */
async function assertAllEnded(cluster: Cluster): Promise<void> {
  let last = '';
  for (let i = 0; i < 100; i++) {
    const rows = await cluster.query<{ what: string; n: string }>(
      `SELECT 'open operations' AS what, count(*) AS n FROM kiln.operations WHERE stage <> 'COMPLETED'
       UNION ALL SELECT 'executions', count(*) FROM kiln.executions
       UNION ALL SELECT 'leases', count(*) FROM kiln.leases`,
    );
    last = rows.map((r) => `${r.what}: ${r.n}`).join(', ');
    if (rows.every((r) => Number(r.n) === 0)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.fail(`operations left unfinished: ${last}`);
}

/** Every action the build ran, ran remotely: none locally. */
function assertRemote(result: BazelResult): void {
  assert.equal(result.code, 0, result.stderr);
  const summary = parseRemoteCacheHits(result.stderr);
  assert.equal(summary.executed, summary.byRunner.remote ?? 0, JSON.stringify(summary));
  assert.ok((summary.byRunner.remote ?? 0) >= 12, JSON.stringify(summary));
}

/** No action was handed to workers more than maxRetries + 1 times; returns the most. */
async function assertRunBound(cluster: Cluster): Promise<number> {
  const taken = await cluster.takeLeaseCounts();
  assert.ok(taken.size >= 12, `leases logged for ${taken.size} actions`);
  const most = Math.max(...taken.values());
  const over = [...taken].filter(([, n]) => n > MAX_RETRIES + 1);
  assert.deepEqual(over, [], `actions run more than ${MAX_RETRIES + 1} times`);
  return most;
}

test('Bazel through a load balancer survives kill -9 of a Kiln process and a PostgreSQL restart', {
  timeout: 6 * 60_000,
}, async (t) => {
  if (requireBazel(t) === undefined || !requireHaproxy(t)) return;
  const dir = await mkdtemp(join(tmpdir(), 'kiln-e2e-cluster-'));
  // Searchable by the users actions run as: the workers' directories are inside.
  await chmod(dir, 0o755);
  let cluster: Cluster | undefined;
  let ws: BazelWorkspace | undefined;
  t.after(async () => {
    await ws?.cleanup();
    await cluster?.close();
    await rm(dir, { recursive: true, force: true });
  });
  cluster = await startCluster(dir);
  const [kiln1, kiln2] = cluster.kilns as [(typeof cluster.kilns)[0], (typeof cluster.kilns)[0]];
  // One worker on each process.
  assert.match(kiln1.stderr(), /"bot":"w1"[^\n]*"bot session created"/);
  assert.match(kiln2.stderr(), /"bot":"w2"[^\n]*"bot session created"/);
  ws = await createBazelWorkspace();
  const workspace = ws;

  await t.test('kill -9 of one process mid-build', async () => {
    await cluster.takeLeaseCounts();
    const started = Date.now();
    const running = build(workspace, cluster, 1);
    // kiln1 dies while its worker runs actions for the build.
    await waitExecuting(cluster, 2, 'w1');
    await cluster.killKiln(0);
    const result = await running;
    assertRemote(result);
    const most = await assertRunBound(cluster);
    await assertAllEnded(cluster);
    // The dead process's worker went on, through the balancer, on the other
    // process: its session resumed there (its leases with it), or a new one
    // (and its leases were lost and their actions retried).
    const survivor = cluster.kilns[1]?.stderr() ?? '';
    assert.match(survivor, /"bot":"w1"[^\n]*"bot session (resumed|created)"/);
    const lost = survivor.match(/"lease lost"/g)?.length ?? 0;
    const down = /"downMs":(\d+)[^\n]*"scheduler reachable again"/.exec(
      cluster.workers[0]?.log() ?? '',
    );
    t.diagnostic(`w1 reconnected after ${down?.[1] ?? '?'} ms; leases lost: ${lost}`);
    t.diagnostic(`build took ${Date.now() - started} ms; most runs of one action: ${most}`);
    await cluster.restartKiln(0);
  });

  await t.test('PostgreSQL restart mid-build', async () => {
    await cluster.takeLeaseCounts();
    const logged = cluster.kilns.map((k) => k.stderr().length);
    const started = Date.now();
    const running = build(workspace, cluster, 2);
    await waitExecuting(cluster, 2);
    const pid = cluster.pg.pid;
    await cluster.pg.restart();
    assert.notEqual(cluster.pg.pid, pid);
    const result = await running;
    assertRemote(result);
    const most = await assertRunBound(cluster);
    await assertAllEnded(cluster);
    // Kiln lost its connections to PostgreSQL, and carried on on new ones.
    const logs = cluster.kilns.map((k, i) => k.stderr().slice(logged[i])).join('');
    assert.match(logs, /connection to PostgreSQL failed|PostgreSQL connection failed/);
    t.diagnostic(`build took ${Date.now() - started} ms; most runs of one action: ${most}`);
  });
});
