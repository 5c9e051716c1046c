/**
 * What every fuzz request gets to work with, and what it hands back: the
 * calls it made and anything it found wrong.
 */
import type { Client } from '@grpc/grpc-js';
import type { Dictionary } from './dictionary.ts';
import type { Prng } from './prng.ts';
import type { CallOutcome } from './raw-calls.ts';
import type { FuzzMethod } from './schema.ts';

/** Kinds of finding. Every kind but `valid-rejected` and `unavailable` must never happen. */
export type FindingKind =
  | 'internal'
  | 'unknown'
  | 'hang'
  | 'wrong-bytes'
  | 'lost-blob'
  | 'accepted-invalid'
  | 'valid-rejected'
  | 'unavailable'
  | 'health'
  | 'crash';

/** Something the fuzzer found wrong. */
export interface Finding {
  readonly kind: FindingKind;
  /** `Service.Method`. */
  readonly method: string;
  /** The request's index in the run: with the seed, enough to make its input again. */
  readonly index: number;
  /** What was sent (strategy, scenario, mutations). */
  readonly input: string;
  readonly message: string;
  /** The request bytes, when there was one request message. */
  readonly bytes?: Buffer;
}

/** One call a request made, for the per-method table. */
export interface Step {
  readonly method: string;
  readonly outcome: CallOutcome;
  /** The call may legitimately wait out its deadline (a long poll, an upload left open). */
  readonly mayWait: boolean;
  /** What was sent, for findings. */
  readonly input: string;
  readonly bytes?: Buffer;
}

/** A blob written during the run with a correct digest, checked again at the end. */
export interface WrittenBlob {
  readonly hash: string;
  readonly data: Buffer;
}

/** The shared state and tools of one request. */
export interface FuzzContext {
  readonly index: number;
  readonly rng: Prng;
  readonly dict: Dictionary;
  readonly client: Client;
  /** The method of `Service.Method` (throws for an unknown one). */
  method(key: string): FuzzMethod;
  /** Deadline for calls that must answer. */
  readonly answerDeadlineMs: number;
  /** Records a finding about this request. */
  report(kind: FindingKind, method: string, input: string, message: string): void;
  /** Remembers a blob this request stored, for the final integrity check. */
  written(blob: WrittenBlob): void;
}
