/**
 * Loads what the operation and action pages show from the CAS: the Action,
 * its Command, the input root, and stdout/stderr; and the action cache entry
 * with who wrote it. Unlike the Execute path
 * (`loadAction`), nothing here fails on a missing or malformed blob: an
 * evicted Command is reported on the page next to everything still present.
 */
import type { ActionCache } from '../cache/action-cache.ts';
import type { Provenance } from '../cache/provenance.ts';
import { type Digest, parseDigest } from '../digest/digest.ts';
import {
  Action,
  type ActionResult,
  Command,
  type Digest as DigestMessage,
  Directory,
} from '../gen/build/bazel/remote/execution/v2/remote_execution.js';
import type { BlobStore } from '../storage/blob-store.ts';
import { readHeadIfPresent } from './blob-reader.ts';

/** Messages (Action, Command, Directory) larger than this are not decoded for display. */
const MESSAGE_LIMIT = 4 * 1024 * 1024;

/** stdout and stderr are shown up to this many bytes; the rest is a download. */
export const LOG_DISPLAY_LIMIT = 1024 * 1024;

/** An action's inputs as far as the CAS still has them. */
export interface ActionDetails {
  readonly actionDigest: Digest;
  readonly action: Action | undefined;
  readonly commandDigest: Digest | undefined;
  readonly command: Command | undefined;
  readonly inputRootDigest: Digest | undefined;
  /** The top level of the input root. */
  readonly inputRoot: Directory | undefined;
  /** What could not be loaded, in words, for the page to show. */
  readonly problems: readonly string[];
}

/** One of stdout or stderr, ready to show. */
export interface LogContent {
  /** The text shown (at most {@link LOG_DISPLAY_LIMIT} bytes, decoded as UTF-8). */
  readonly text: string;
  /** True when the full log is longer than the text. */
  readonly truncated: boolean;
  /** The CAS blob holding the full log, when the result names one. */
  readonly digest: Digest | undefined;
  /** True when the result names a blob that the CAS no longer holds. */
  readonly missing: boolean;
}

function digestOrUndefined(
  message: DigestMessage | undefined,
  fn: Digest['fn'],
  what: string,
  problems: string[],
): Digest | undefined {
  if (message === undefined) return undefined;
  try {
    return parseDigest(message, fn.value, what);
  } catch (err) {
    problems.push((err as Error).message);
    return undefined;
  }
}

async function decodeFromCas<T>(
  cas: BlobStore,
  digest: Digest,
  codec: { decode(data: Uint8Array): T },
  what: string,
  problems: string[],
): Promise<T | undefined> {
  const head = await readHeadIfPresent(cas, digest, MESSAGE_LIMIT);
  if (head === undefined) {
    problems.push(`The ${what} (${digest.hash}/${digest.size}) is not in the CAS (evicted?).`);
    return undefined;
  }
  if (head.truncated) {
    problems.push(`The ${what} is larger than ${MESSAGE_LIMIT} bytes and is not shown.`);
    return undefined;
  }
  try {
    return codec.decode(head.data);
  } catch {
    problems.push(`The blob ${digest.hash}/${digest.size} is not a valid ${what}.`);
    return undefined;
  }
}

/** Loads an action's Action, Command and input root listing, noting whatever is missing. */
export async function loadActionDetails(
  cas: BlobStore,
  actionDigest: Digest,
): Promise<ActionDetails> {
  const problems: string[] = [];
  const fn = actionDigest.fn;
  const action = await decodeFromCas(cas, actionDigest, Action, 'Action', problems);
  const commandDigest = digestOrUndefined(
    action?.commandDigest,
    fn,
    'Action.command_digest',
    problems,
  );
  const inputRootDigest = digestOrUndefined(
    action?.inputRootDigest,
    fn,
    'Action.input_root_digest',
    problems,
  );
  const [command, inputRoot] = await Promise.all([
    commandDigest && decodeFromCas(cas, commandDigest, Command, 'Command', problems),
    inputRootDigest && decodeFromCas(cas, inputRootDigest, Directory, 'input root', problems),
  ]);
  return { actionDigest, action, commandDigest, command, inputRootDigest, inputRoot, problems };
}

async function loadLog(
  cas: BlobStore,
  raw: Uint8Array,
  message: DigestMessage | undefined,
  fn: Digest['fn'],
): Promise<LogContent> {
  let digest: Digest | undefined;
  try {
    digest = message === undefined ? undefined : parseDigest(message, fn.value);
  } catch {
    digest = undefined;
  }
  if (raw.length > 0) {
    const shown = Buffer.from(raw).subarray(0, LOG_DISPLAY_LIMIT);
    return {
      text: decodeText(shown),
      truncated: raw.length > shown.length,
      digest,
      missing: false,
    };
  }
  if (digest === undefined || digest.size === 0) {
    return { text: '', truncated: false, digest, missing: false };
  }
  const head = await readHeadIfPresent(cas, digest, LOG_DISPLAY_LIMIT);
  if (head === undefined) return { text: '', truncated: false, digest, missing: true };
  return { text: decodeText(head.data), truncated: head.truncated, digest, missing: false };
}

/** stdout and stderr of a result: inline bytes when present, else the first MiB from the CAS. */
export async function loadLogs(
  cas: BlobStore,
  result: ActionResult,
  fn: Digest['fn'],
): Promise<{ stdout: LogContent; stderr: LogContent }> {
  const [stdout, stderr] = await Promise.all([
    loadLog(cas, result.stdoutRaw, result.stdoutDigest, fn),
    loadLog(cas, result.stderrRaw, result.stderrDigest, fn),
  ]);
  return { stdout, stderr };
}

/** UTF-8 text of possibly cut-off bytes; invalid sequences become U+FFFD. */
export function decodeText(data: Uint8Array): string {
  return new TextDecoder('utf-8', { fatal: false }).decode(data);
}

/** An action's cache entry as the action page shows it. */
export interface CachedEntry {
  /** The result, when GetActionResult would serve it (every output still in the CAS). */
  readonly result: ActionResult | undefined;
  /** Whether an entry exists whose outputs are partly gone. */
  readonly incomplete: boolean;
  /** Who wrote the entry; undefined for entries older than provenance. */
  readonly provenance: Provenance | undefined;
}

/** The cache entry of an action in an instance, or undefined when there is none. */
export async function loadCachedEntry(
  actionCache: ActionCache,
  instanceName: string,
  digest: Digest,
): Promise<CachedEntry | undefined> {
  const entry = await actionCache.lookup(instanceName, digest);
  if (entry === undefined) return undefined;
  return {
    result: entry.complete ? entry.result : undefined,
    incomplete: !entry.complete,
    provenance: entry.provenance,
  };
}
