/**
 * Who wrote an action cache entry: what the writers (UpdateActionResult, the
 * scheduler) tell the action cache, and how it becomes the stored
 * `kiln.cache.v1.Provenance` message.
 */

import type { Timestamp } from '../gen/google/protobuf/timestamp.js';
import { Provenance, Provenance_Source } from '../gen/kiln/cache/v1/entry.js';

export { Provenance, Provenance_Source } from '../gen/kiln/cache/v1/entry.js';

/** What the writer of an entry knows about itself; every field but `source` optional. */
export interface EntryWriter {
  /** `upload` for UpdateActionResult, `execution` for a result a worker produced. */
  readonly source: 'upload' | 'execution';
  /** The caller's principal (of UpdateActionResult, or of the Execute call). */
  readonly principal?: string;
  /** The worker's bot_id. */
  readonly worker?: string;
  /** The worker's bot session name. */
  readonly workerSession?: string;
  /** The principal the worker authenticated as. */
  readonly workerPrincipal?: string;
  /** RequestMetadata.tool_invocation_id of the call. */
  readonly toolInvocationId?: string;
  /** The caller's network address (grpc-js peer). */
  readonly clientAddress?: string;
}

/** The stored provenance of a write at `nowMs`. */
export function provenanceOf(writer: EntryWriter, nowMs: number): Provenance {
  return Provenance.create({
    source: writer.source === 'upload' ? Provenance_Source.UPLOAD : Provenance_Source.EXECUTION,
    principal: writer.principal ?? '',
    worker: writer.worker ?? '',
    workerSession: writer.workerSession ?? '',
    workerPrincipal: writer.workerPrincipal ?? '',
    toolInvocationId: writer.toolInvocationId ?? '',
    clientAddress: writer.clientAddress ?? '',
    writtenAt: timestampOf(nowMs),
  });
}

/** A protobuf Timestamp for milliseconds since the epoch. */
export function timestampOf(ms: number): Timestamp {
  const seconds = Math.floor(ms / 1000);
  return { seconds, nanos: Math.round((ms - seconds * 1000) * 1e6) };
}

/** Milliseconds since the epoch of a protobuf Timestamp; 0 when absent. */
export function msOf(t: Timestamp | undefined): number {
  return t === undefined ? 0 : t.seconds * 1000 + Math.floor(t.nanos / 1e6);
}

/**
 * Which entries a purge removes. `principal` matches the client's principal
 * or the worker's; with both `principal` and `worker`, an entry must match both.
 */
export interface WriterFilter {
  readonly principal?: string;
  readonly worker?: string;
  /** Only entries written at or after this time (ms since the epoch). */
  readonly sinceMs?: number;
}

/** The writer fields a filter looks at, in the index and in stored provenance alike. */
export interface WriterFields {
  readonly principal: string;
  readonly worker: string;
  readonly workerPrincipal: string;
  readonly writtenAtMs: number;
}

/** Whether an entry written by `w` is one that `filter` selects. */
export function writerMatches(filter: WriterFilter, w: WriterFields): boolean {
  if (filter.principal !== undefined) {
    if (w.principal !== filter.principal && w.workerPrincipal !== filter.principal) return false;
  }
  if (filter.worker !== undefined && w.worker !== filter.worker) return false;
  if (filter.sinceMs !== undefined && w.writtenAtMs < filter.sinceMs) return false;
  return true;
}

/** The writer fields of stored provenance. */
export function writerFieldsOf(p: Provenance): WriterFields {
  return {
    principal: p.principal,
    worker: p.worker,
    workerPrincipal: p.workerPrincipal,
    writtenAtMs: msOf(p.writtenAt),
  };
}
