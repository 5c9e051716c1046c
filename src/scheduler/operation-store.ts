/**
 * The in-memory scheduler's operations: one record per Execute call, its
 * watchers, listing with paging, and retention after completion.
 */

import type { Digest } from '../digest/digest.ts';
import { invalidArgument, notFound, quote } from '../errors.ts';
import type { ExecuteResponse } from '../gen/build/bazel/remote/execution/v2/remote_execution.js';
import { detachBytesHeld } from '../util/detach-bytes.ts';
import type { Clock, TimerHandle } from './clock.ts';
import type { PlatformProperty } from './platform.ts';
import type { SchedulerPolicy } from './policy.ts';
import type {
  ExecutionStage,
  ListOperationsQuery,
  OperationPage,
  OperationState,
  WatchOptions,
} from './types.ts';
import { UpdateChannel } from './update-channel.ts';

/** The fields an operation is created with. */
export interface NewOperation {
  readonly name: string;
  readonly instanceName: string;
  readonly actionDigest: Digest;
  readonly platform: readonly PlatformProperty[];
  readonly priority: number;
  readonly toolInvocationId: string;
  readonly correlatedInvocationsId: string;
  readonly stage: Exclude<ExecutionStage, 'COMPLETED'>;
  readonly worker: string | undefined;
}

/** One operation's mutable state. Only {@link OperationStore} changes it. */
export interface OperationRecord extends Omit<NewOperation, 'stage' | 'worker'> {
  /** Creation order; the paging key. */
  readonly seq: number;
  readonly createdAtMs: number;
  stage: ExecutionStage;
  worker: string | undefined;
  response: ExecuteResponse | undefined;
  /** Bytes held by `response`'s bytes fields, counted against `maxCompletedBytes`. */
  responseBytes: number;
  completedAtMs: number | undefined;
  readonly watchers: Set<UpdateChannel<OperationState>>;
}

/** Options for {@link OperationStore}. */
export interface OperationStoreOptions {
  readonly clock: Clock;
  /** Uses `completedRetentionMs`, `maxCompletedOperations`, `maxCompletedBytes`, `defaultPageSize` and `maxPageSize`. */
  readonly policy: SchedulerPolicy;
}

/**
 * Operations by name, in creation order. Every stage change is pushed to the
 * operation's watchers; completion ends them, and the record itself goes
 * `completedRetentionMs` later, or earlier when more than
 * `maxCompletedOperations` are done or their responses hold more than
 * `maxCompletedBytes` (the one completed longest ago first).
 * A done record keeps its response with its own copy of the `bytes` fields
 * (see detach-bytes.ts), never a view that pins a larger buffer.
 *
 * Every done record is kept for the same time, so they expire in completion
 * order: one timer, armed for the oldest, serves them all (ten thousand
 * retained operations held ten thousand timers and their closures before).
 */
export class OperationStore {
  readonly #clock: Clock;
  readonly #policy: SchedulerPolicy;
  readonly #records = new Map<string, OperationRecord>();
  /** The done records still kept, in completion order. */
  readonly #completed = new Set<OperationRecord>();
  /** Sum of `responseBytes` over {@link #completed}. */
  #completedBytes = 0;
  /** Forgets the oldest done records when their retention ends; armed while any is kept. */
  #retention: TimerHandle | undefined;
  #seq = 0;

  constructor(options: OperationStoreOptions) {
    this.#clock = options.clock;
    this.#policy = options.policy;
  }

  /** Adds a new, not yet done operation. */
  create(fields: NewOperation): OperationRecord {
    const record: OperationRecord = {
      ...fields,
      seq: ++this.#seq,
      createdAtMs: this.#clock.now(),
      response: undefined,
      responseBytes: 0,
      completedAtMs: undefined,
      watchers: new Set(),
    };
    this.#records.set(record.name, record);
    return record;
  }

  /** The record, or NOT_FOUND (never existed, deleted, or expired after completion). */
  require(name: string): OperationRecord {
    const record = this.#records.get(name);
    if (record === undefined)
      throw notFound(`operation ${quote(name)} not found (unknown, deleted or expired)`);
    return record;
  }

  /** Moves a running operation to `stage`, telling watchers when it changed. */
  setStage(
    record: OperationRecord,
    stage: 'QUEUED' | 'EXECUTING',
    worker: string | undefined,
  ): void {
    if (record.stage === 'COMPLETED') return;
    const changed = record.stage !== stage;
    record.stage = stage;
    record.worker = worker;
    if (changed) this.#publish(record);
  }

  /** Completes an operation, ends its watchers and starts its retention period. */
  complete(record: OperationRecord, response: ExecuteResponse, worker = record.worker): void {
    if (record.stage === 'COMPLETED') return;
    record.stage = 'COMPLETED';
    record.worker = worker;
    const kept = detachBytesHeld(response);
    record.response = kept.message;
    record.responseBytes = kept.bytes;
    record.completedAtMs = this.#clock.now();
    this.#publish(record);
    for (const w of record.watchers) w.end();
    record.watchers.clear();
    this.#completed.add(record);
    this.#completedBytes += record.responseBytes;
    for (const oldest of this.#completed) {
      if (
        this.#completed.size <= this.#policy.maxCompletedOperations &&
        this.#completedBytes <= this.#policy.maxCompletedBytes
      )
        break;
      // The operation just completed stays, however large: its watchers were just told.
      if (oldest === record) break;
      this.#forget(oldest);
    }
    this.#retention ??= this.#armRetention();
  }

  /** The retention timer, for the oldest done record (there is one). */
  #armRetention(): TimerHandle {
    const oldest = this.#completed.values().next().value as OperationRecord;
    const dueMs = (oldest.completedAtMs as number) + this.#policy.completedRetentionMs;
    return this.#clock.setTimer(dueMs - this.#clock.now(), () => {
      this.#retention = undefined;
      const now = this.#clock.now();
      for (const done of this.#completed) {
        if ((done.completedAtMs as number) + this.#policy.completedRetentionMs > now) break;
        this.#forget(done);
      }
      if (this.#completed.size > 0) this.#retention = this.#armRetention();
    });
  }

  /** Forgets an operation; its watchers end with NOT_FOUND. */
  delete(record: OperationRecord): void {
    this.#forget(record);
    for (const w of record.watchers) w.end(notFound(`operation "${record.name}" was deleted`));
    record.watchers.clear();
  }

  /** A plain, detached copy for callers. */
  snapshot(record: OperationRecord): OperationState {
    return {
      name: record.name,
      instanceName: record.instanceName,
      actionDigest: record.actionDigest,
      stage: record.stage,
      done: record.stage === 'COMPLETED',
      response: record.response,
      platform: record.platform,
      priority: record.priority,
      toolInvocationId: record.toolInvocationId,
      correlatedInvocationsId: record.correlatedInvocationsId,
      worker: record.worker,
      createdAtMs: record.createdAtMs,
      completedAtMs: record.completedAtMs,
    };
  }

  /** Yields the current state, then every stage change, and ends when the operation is done. */
  async *watch(
    name: string,
    options: WatchOptions = {},
  ): AsyncGenerator<OperationState, void, undefined> {
    const record = this.require(name);
    const channel = new UpdateChannel<OperationState>();
    channel.push(this.snapshot(record));
    if (record.stage === 'COMPLETED') channel.end();
    else record.watchers.add(channel);
    try {
      const { coalesceMs } = options;
      yield* channel.iterate(
        options.signal,
        coalesceMs === undefined ? undefined : { ms: coalesceMs, clock: this.#clock },
      );
    } finally {
      record.watchers.delete(channel);
    }
  }

  /** One page of matching operations, oldest first (or newest first, when asked). */
  list(query: ListOperationsQuery): OperationPage {
    const requested = query.pageSize ?? 0;
    if (!Number.isSafeInteger(requested) || requested < 0) {
      throw invalidArgument(`page_size ${requested} must be a non-negative integer`);
    }
    const pageSize = Math.min(
      requested === 0 ? this.#policy.defaultPageSize : requested,
      this.#policy.maxPageSize,
    );
    // The token is the last sequence number returned: the next page starts past it.
    const bound = parsePageToken(query.pageToken ?? '');
    const newest = query.newestFirst === true;
    // Records are kept in creation order, which is sequence order.
    const records = newest ? [...this.#records.values()].reverse() : this.#records.values();
    const page: OperationState[] = [];
    let lastSeq = bound;
    for (const record of records) {
      const seen = bound !== 0 && (newest ? record.seq >= bound : record.seq <= bound);
      if (seen || !matches(record, query)) continue;
      // One more match than fits means there is a next page.
      if (page.length === pageSize) return { operations: page, nextPageToken: String(lastSeq) };
      page.push(this.snapshot(record));
      lastSeq = record.seq;
    }
    return { operations: page, nextPageToken: '' };
  }

  /** How many operations are running and how many are done but retained. */
  counts(): { active: number; completed: number } {
    const completed = this.#completed.size;
    return { active: this.#records.size - completed, completed };
  }

  /** Stops retention timers and ends every watcher. */
  close(): void {
    this.#retention?.cancel();
    this.#retention = undefined;
    for (const record of this.#records.values()) {
      for (const w of record.watchers) w.end();
      record.watchers.clear();
    }
  }

  /** Removes a record from the store (its watchers are the caller's business). */
  #forget(record: OperationRecord): void {
    if (this.#records.get(record.name) === record) this.#records.delete(record.name);
    if (this.#completed.delete(record)) this.#completedBytes -= record.responseBytes;
    if (this.#completed.size === 0) {
      this.#retention?.cancel();
      this.#retention = undefined;
    }
  }

  #publish(record: OperationRecord): void {
    const state = this.snapshot(record);
    for (const w of record.watchers) w.push(state);
  }
}

function matches(record: OperationRecord, query: ListOperationsQuery): boolean {
  return (
    (query.stage === undefined || record.stage === query.stage) &&
    (query.done === undefined || (record.stage === 'COMPLETED') === query.done) &&
    (query.instanceName === undefined || record.instanceName === query.instanceName) &&
    (query.toolInvocationId === undefined || record.toolInvocationId === query.toolInvocationId) &&
    (query.correlatedInvocationsId === undefined ||
      record.correlatedInvocationsId === query.correlatedInvocationsId)
  );
}

function parsePageToken(token: string): number {
  if (token === '') return 0;
  if (!/^[1-9][0-9]{0,15}$/.test(token))
    throw invalidArgument(`page_token ${quote(token)} is not valid`);
  return Number(token);
}
