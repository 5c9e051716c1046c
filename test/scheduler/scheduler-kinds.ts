/**
 * Runs scheduler scenario suites against every implementation: the
 * in-memory scheduler, and the PostgreSQL one on a throwaway cluster
 * started once per test file. Each PostgreSQL scenario gets a schema of
 * its own on that cluster, so scenarios never see each other's rows.
 * Under CI=true a missing PostgreSQL fails the suite instead of skipping it.
 */
import { after, afterEach, before } from 'node:test';
import { FakeClock } from '../../src/scheduler/clock.ts';
import { SequentialIds } from '../../src/scheduler/ids.ts';
import type { SchedulerPolicy } from '../../src/scheduler/policy.ts';
import { PostgresScheduler } from '../../src/scheduler/postgres/postgres-scheduler.ts';
import type { Scheduler } from '../../src/scheduler/scheduler.ts';
import { findPostgresBin, type PostgresServer, startPostgres } from '../support/postgres-server.ts';
import { RecordingActionCache, type Scenario, type ScenarioOptions, scenario } from './scenario.ts';

/** The scheduler implementations. */
export type SchedulerKind = 'memory' | 'postgres';

/** Opens a fresh scenario of one implementation. */
export type OpenScenario = (
  policy?: Partial<SchedulerPolicy>,
  options?: ScenarioOptions,
) => Promise<Scenario<Scheduler>>;

let server: Promise<PostgresServer> | undefined;
let schemas = 0;

/** The file's PostgreSQL cluster, started on first use (stopped after the file's suites). */
export function sharedPostgres(): Promise<PostgresServer> {
  server ??= startPostgres();
  return server;
}

/** A schema name no other scenario of this process uses. */
export function freshSchema(): string {
  schemas++;
  return `s${process.pid}_${schemas}`;
}

/** Whether the PostgreSQL suites run: always under CI, else when the server is installed. */
export async function postgresAvailable(): Promise<boolean> {
  return process.env.CI === 'true' || (await findPostgresBin()) !== undefined;
}

const hasPostgres = await postgresAvailable();

/**
 * Calls `suite` once per implementation with a function that opens a fresh
 * scenario of it; every scheduler it opened is closed after each test.
 * Without PostgreSQL installed (and outside CI) only the in-memory suite runs.
 */
export function forEachScheduler(
  suite: (kind: SchedulerKind, open: OpenScenario) => void,
  kinds: readonly SchedulerKind[] = ['memory', 'postgres'],
): void {
  const opened: Scheduler[] = [];
  afterEach(async () => {
    for (const s of opened.splice(0)) await s.close();
  });
  if (kinds.includes('memory')) {
    suite('memory', async (policy, options) => {
      const s = scenario(policy, options);
      opened.push(s.scheduler);
      return s;
    });
  }
  if (kinds.includes('postgres') && hasPostgres) {
    before(() => sharedPostgres().then(() => undefined));
    after(async () => {
      await (await server?.catch(() => undefined))?.stop();
    });
    suite('postgres', async (policy = {}) => {
      const clock = new FakeClock();
      const cache = new RecordingActionCache();
      const scheduler = await PostgresScheduler.open({
        url: (await sharedPostgres()).url,
        schema: freshSchema(),
        poolSize: 4,
        actionCache: cache,
        clock,
        ids: new SequentialIds(),
        policy,
        awaitMaintenance: true,
      });
      opened.push(scheduler);
      return { clock, cache, scheduler };
    });
  }
}
