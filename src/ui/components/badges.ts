/** Short coloured labels for an operation's stage and outcome, and platform text. */
import { status } from '@grpc/grpc-js';
import type { VNode } from 'preact';
import type { OperationState, PlatformProperty } from '../../scheduler/types.ts';
import { html } from '../html.ts';

/** `OSFamily=linux, cpu=x86_64`, or `(any platform)` for none. */
export function platformText(platform: readonly PlatformProperty[]): string {
  return platform.length === 0
    ? '(any platform)'
    : platform.map((p) => `${p.name}=${p.value}`).join(', ');
}

/** The gRPC status code's name, e.g. `DEADLINE_EXCEEDED`. */
export function codeName(code: number): string {
  return (status as unknown as Record<number, string>)[code] ?? `code ${code}`;
}

/** A summary of how an operation ended (or that it has not). */
export interface Outcome {
  readonly label: string;
  /** CSS class: ok, fail, cached, pending. */
  readonly tone: 'ok' | 'fail' | 'cached' | 'pending';
}

/** What happened to an operation, in one word or two. */
export function outcomeOf(op: OperationState): Outcome {
  if (!op.done) return { label: op.stage.toLowerCase(), tone: 'pending' };
  const response = op.response;
  const code = response?.status?.code ?? 0;
  if (code !== 0) return { label: codeName(code).toLowerCase().replace(/_/g, ' '), tone: 'fail' };
  const exitCode = response?.result?.exitCode ?? 0;
  if (exitCode !== 0) return { label: `exit ${exitCode}`, tone: 'fail' };
  if (response?.cachedResult) return { label: 'cache hit', tone: 'cached' };
  return { label: 'ok', tone: 'ok' };
}

/** The stage as a badge: queued, executing, completed. */
export function stageBadge(op: OperationState): VNode {
  return html`<span class=${`badge stage-${op.stage.toLowerCase()}`}>${op.stage.toLowerCase()}</span>`;
}

/** The outcome as a badge. */
export function outcomeBadge(op: OperationState): VNode {
  const o = outcomeOf(op);
  return html`<span class=${`badge ${o.tone}`}>${o.label}</span>`;
}
