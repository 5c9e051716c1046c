/**
 * A web UI on real objects for page tests: a verifying memory CAS, an action
 * cache, an in-memory scheduler on a FakeClock, build tracking, recent errors
 * and metrics, behind a Fastify app that tests drive with `app.inject`.
 */
import { status as Code } from '@grpc/grpc-js';
import fastify, { type FastifyInstance } from 'fastify';
import { type Authenticator, createAuthenticator } from '../../src/auth/authenticator.ts';
import { ActionCache } from '../../src/cache/action-cache.ts';
import type { AuthConfig } from '../../src/config/auth-schema.ts';
import type { UiConfig } from '../../src/config/ui-schema.ts';
import { type Digest, digestOf, toDigestMessage } from '../../src/digest/digest.ts';
import { SHA256 } from '../../src/digest/digest-function.ts';
import {
  Action,
  type ActionResult,
  Command,
  Directory,
} from '../../src/gen/build/bazel/remote/execution/v2/remote_execution.js';
import { metricsRoute } from '../../src/http/metrics-route.ts';
import { WebAccess } from '../../src/http/web-access.ts';
import { AuditLog } from '../../src/observe/audit-log.ts';
import { BuildTracker } from '../../src/observe/build-tracker.ts';
import { KilnMetrics } from '../../src/observe/metrics.ts';
import { RecentErrors } from '../../src/observe/recent-errors.ts';
import { FakeClock } from '../../src/scheduler/clock.ts';
import { SequentialIds } from '../../src/scheduler/ids.ts';
import { InMemoryScheduler } from '../../src/scheduler/in-memory-scheduler.ts';
import type { OperationState } from '../../src/scheduler/types.ts';
import { type BlobStore, putBuffer } from '../../src/storage/blob-store.ts';
import { MemoryBlobStore } from '../../src/storage/memory-blob-store.ts';
import { VerifyingBlobStore } from '../../src/storage/verifying-blob-store.ts';
import { registerUi, uiAccessRegistrar } from '../../src/ui/register-ui.ts';
import type { UiDeps } from '../../src/ui/ui-deps.ts';
import { silentLogger } from '../../src/util/logger.ts';

/** A running UI and the objects behind it. */
export interface UiFixture {
  readonly app: FastifyInstance;
  readonly deps: UiDeps;
  readonly cas: BlobStore;
  readonly scheduler: InMemoryScheduler;
  readonly clock: FakeClock;
  readonly builds: BuildTracker;
  readonly recentErrors: RecentErrors;
  close(): Promise<void>;
}

/** Options for {@link createUiFixture}. */
export interface UiFixtureOptions {
  /** The `auth` section; absent: protected mode (inject's callers are loopback). */
  readonly auth?: AuthConfig;
  /** The authenticator of `auth`; by default `createAuthenticator(auth)`. */
  readonly authenticator?: Authenticator;
  /** `ui` settings over the defaults. */
  readonly ui?: Partial<UiConfig>;
  /** As under TLS: cookies get `Secure`. */
  readonly secure?: boolean;
  /** The access layer's clock (session expiry). */
  readonly now?: () => number;
  /** Start without a scheduler, as with execution disabled. */
  readonly noScheduler?: boolean;
  /** Where the scheduler's fake clock starts (epoch ms); now by default. */
  readonly clockStartMs?: number;
}

/** Builds the objects and the app; the caller closes it. */
export async function createUiFixture(options: UiFixtureOptions = {}): Promise<UiFixture> {
  const cas = new VerifyingBlobStore({ backend: new MemoryBlobStore({ maxBytes: 64 << 20 }) });
  const actionCache = new ActionCache({ store: new MemoryBlobStore({ maxBytes: 8 << 20 }), cas });
  const clock = new FakeClock(options.clockStartMs ?? Date.now());
  const scheduler = new InMemoryScheduler({ actionCache, clock, ids: new SequentialIds() });
  const builds = new BuildTracker();
  const recentErrors = new RecentErrors();
  const metrics = new KilnMetrics({ stores: { cas }, processMetrics: false });
  const access = new WebAccess({
    auth: options.auth,
    authenticator: options.authenticator ?? createAuthenticator(options.auth),
    ui: { metricsAccess: 'public', sessionLifetimeMs: 3600_000, ...options.ui },
    secure: options.secure ?? false,
    log: silentLogger(),
    ...(options.now === undefined ? {} : { now: options.now }),
  });
  const deps: UiDeps = {
    scheduler: options.noScheduler ? undefined : scheduler,
    cas,
    actionCache,
    builds,
    recentErrors,
    metrics,
    access,
    log: silentLogger(),
    audit: new AuditLog({ log: silentLogger(), registry: metrics.registry }),
  };
  const app = fastify();
  // As createServer mounts them: the access layer first.
  await uiAccessRegistrar(access)(app);
  await metricsRoute(metrics)(app);
  await registerUi(app, deps);
  await app.ready();
  return {
    app,
    deps,
    cas,
    scheduler,
    clock,
    builds,
    recentErrors,
    async close() {
      await app.close();
      await scheduler.close();
      await cas.close();
    },
  };
}

/** Stores a blob and returns its SHA-256 digest. */
export async function putBlob(cas: BlobStore, data: Uint8Array | string): Promise<Digest> {
  const bytes = typeof data === 'string' ? Buffer.from(data) : data;
  const digest = await digestOf(SHA256, bytes);
  await putBuffer(cas, digest, bytes);
  return digest;
}

/** What {@link uploadTestAction} uploads. */
export interface TestActionSpec {
  readonly args: string[];
  readonly env?: Record<string, string>;
  readonly workingDirectory?: string;
  readonly outputPaths?: string[];
  /** Files of the input root's sub-directory `src/`, by name. */
  readonly sources?: Record<string, string>;
}

/** An uploaded action. */
export interface UploadedAction {
  readonly digest: Digest;
  readonly action: Action;
  readonly command: Command;
  readonly inputRoot: Digest;
  readonly srcDir: Digest;
}

/** Uploads a Command, an input root with a `src/` directory, and the Action. */
export async function uploadTestAction(
  cas: BlobStore,
  spec: TestActionSpec,
): Promise<UploadedAction> {
  const files = await Promise.all(
    Object.entries(spec.sources ?? { 'main.c': 'int main() { return 0; }\n' }).map(
      async ([name, text]) => ({
        name,
        digest: toDigestMessage(await putBlob(cas, text)),
        isExecutable: false,
      }),
    ),
  );
  const srcDir = await putBlob(
    cas,
    Directory.encode(
      Directory.fromPartial({ files: files.sort((a, b) => (a.name < b.name ? -1 : 1)) }),
    ).finish(),
  );
  const inputRoot = await putBlob(
    cas,
    Directory.encode(
      Directory.fromPartial({ directories: [{ name: 'src', digest: toDigestMessage(srcDir) }] }),
    ).finish(),
  );
  const command = Command.fromPartial({
    arguments: spec.args,
    environmentVariables: Object.entries(spec.env ?? {}).map(([name, value]) => ({ name, value })),
    workingDirectory: spec.workingDirectory ?? '',
    outputPaths: spec.outputPaths ?? [],
  });
  const commandDigest = await putBlob(cas, Command.encode(command).finish());
  const action = Action.fromPartial({
    commandDigest: toDigestMessage(commandDigest),
    inputRootDigest: toDigestMessage(inputRoot),
    platform: { properties: [{ name: 'OSFamily', value: 'linux' }] },
  });
  const digest = await putBlob(cas, Action.encode(action).finish());
  return { digest, action, command, inputRoot, srcDir };
}

/** Submits an uploaded action as part of build `invocationId`. */
export async function submit(
  f: UiFixture,
  a: UploadedAction,
  invocationId = 'build-1',
): Promise<OperationState> {
  f.builds.recordSubmission({ invocationId, toolName: 'bazel', toolVersion: '7.4.0' });
  return f.scheduler.submit({
    instanceName: '',
    digestFunction: SHA256,
    actionDigest: a.digest,
    action: a.action,
    command: a.command,
    skipCacheLookup: true,
    priority: 0,
    toolInvocationId: invocationId,
    correlatedInvocationsId: '',
  });
}

/** Registers a worker and hands it every queued action; returns the lease ids. */
export async function takeAll(f: UiFixture, workerName = 'worker-a'): Promise<string[]> {
  await f.scheduler.registerWorker({
    id: `${workerName}-id`,
    name: workerName,
    platform: [{ name: 'OSFamily', value: 'linux' }],
    capacity: 4,
  });
  const taken = await f.scheduler.takeWork(`${workerName}-id`);
  return taken.leases.map((l) => l.id);
}

/** Completes a lease with `result` (status OK). */
export async function complete(
  f: UiFixture,
  leaseId: string,
  result: Partial<ActionResult>,
  workerName = 'worker-a',
): Promise<void> {
  await f.scheduler.completeLease(`${workerName}-id`, leaseId, {
    status: { code: Code.OK, message: '', details: [] },
    result: {
      outputFiles: [],
      outputFileSymlinks: [],
      outputSymlinks: [],
      outputDirectories: [],
      outputDirectorySymlinks: [],
      exitCode: 0,
      stdoutRaw: Buffer.alloc(0),
      stdoutDigest: undefined,
      stderrRaw: Buffer.alloc(0),
      stderrDigest: undefined,
      executionMetadata: undefined,
      ...result,
    },
  });
}

/** `Timestamp` for `ms` since the epoch. */
export function ts(ms: number): { seconds: number; nanos: number } {
  const seconds = Math.floor(ms / 1000);
  return { seconds, nanos: (ms - seconds * 1000) * 1_000_000 };
}
