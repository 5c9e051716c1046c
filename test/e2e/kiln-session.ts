/**
 * What the Bazel-against-Kiln tests share: a `kiln serve` process on a free
 * port with its own data directory, fresh Bazel workspaces on demand, and
 * cleanup of all of it when the test ends.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { type KilnProcess, startKiln } from '../support/kiln-process.ts';
import { type BazelWorkspace, createBazelWorkspace, requireBazel } from './bazel-harness.ts';

/** Output trees under bazel-bin compared byte for byte between builds of the fixture. */
export const COMPARED_OUTPUTS = ['gen', 'cc', '_solib_k8'];

/** A running Kiln for Bazel tests. */
export interface KilnSession {
  /** The current Kiln process (replaced by {@link restart}). */
  readonly kiln: KilnProcess;
  readonly dataDir: string;
  /** A fresh copy of the fixture workspace with its own output root. */
  newWorkspace(): Promise<BazelWorkspace>;
  /** Stops Kiln (asserting a clean exit) and starts it again on the same data. */
  restart(): Promise<void>;
}

/**
 * Starts Kiln for a Bazel test, or returns undefined when the test was
 * skipped because Bazel is missing (outside CI only; under CI it fails).
 */
export async function startKilnSession(
  t: TestContext,
  extraArgs: string[] = [],
): Promise<KilnSession | undefined> {
  if (requireBazel(t) === undefined) return undefined;
  const dataDir = await mkdtemp(join(tmpdir(), 'kiln-e2e-'));
  const args = ['--listen', '127.0.0.1:0', '--data-dir', dataDir, ...extraArgs];
  let kiln = await startKiln(args);
  const workspaces: BazelWorkspace[] = [];
  t.after(async () => {
    for (const ws of workspaces) await ws.cleanup();
    await kiln.stop();
    await rm(dataDir, { recursive: true, force: true });
  });
  return {
    get kiln() {
      return kiln;
    },
    dataDir,
    async newWorkspace() {
      const ws = await createBazelWorkspace();
      workspaces.push(ws);
      return ws;
    },
    async restart() {
      const code = await kiln.stop();
      if (code !== 0) throw new Error(`kiln exited with ${code} on SIGTERM:\n${kiln.stderr()}`);
      kiln = await startKiln(args);
    },
  };
}
