/**
 * The worker's spans for each action it ran, continuing the trace the
 * scheduler started (the `traceparent` of the lease payload):
 *
 *     kiln.worker.action                    from the lease's start to its result
 *     ├─ kiln.worker.input_staging          Action, Command and the input root
 *     ├─ kiln.worker.execution              the command
 *     └─ kiln.worker.output_upload          outputs, stdout and stderr to the CAS
 *
 * They are made when the action is over, from the timestamps the executor
 * already records for ExecutedActionMetadata, so the executor itself holds
 * no tracing code and an untraced worker does nothing here at all.
 */
import type * as Api from '@opentelemetry/api';
import type { Assignment } from '../execution/lease-payload.ts';
import type { ActionResult } from '../gen/build/bazel/remote/execution/v2/remote_execution.js';
import type { Timestamp } from '../gen/google/protobuf/timestamp.js';
import type { Tracing } from './tracing.ts';
import { ATTR } from './tracing-interceptor.ts';

/** One action a worker finished, as the worker agent reports it. */
export interface FinishedAction {
  readonly leaseId: string;
  readonly assignment: Assignment;
  /** With its ExecutedActionMetadata; absent when the worker failed before it had one. */
  readonly result?: ActionResult;
  /** The outcome's gRPC code and message (0 for OK). */
  readonly status: { readonly code: number; readonly message: string };
  /** When the agent began the lease and when the outcome was ready, ms since the epoch. */
  readonly startedAtMs: number;
  readonly finishedAtMs: number;
}

/** What the worker agent tells about each finished action; see {@link workerSpans}. */
export interface WorkerActionSpans {
  actionFinished(action: FinishedAction): void;
}

const STAGES = [
  ['kiln.worker.input_staging', 'inputFetchStartTimestamp', 'inputFetchCompletedTimestamp'],
  ['kiln.worker.execution', 'executionStartTimestamp', 'executionCompletedTimestamp'],
  ['kiln.worker.output_upload', 'outputUploadStartTimestamp', 'outputUploadCompletedTimestamp'],
] as const;

function hrTime(t: Timestamp): Api.HrTime {
  return [t.seconds, t.nanos];
}

/** Records each finished action's spans with `tracing`, naming the worker `workerName`. */
export function workerSpans(tracing: Tracing, workerName: string): WorkerActionSpans {
  const { api, tracer } = tracing;
  return {
    actionFinished(action) {
      const { assignment, result, status } = action;
      const parent = tracing.fromTraceparent(assignment.traceparent);
      const span = tracer.startSpan(
        'kiln.worker.action',
        {
          startTime: action.startedAtMs,
          attributes: {
            'kiln.worker': workerName,
            'kiln.lease': action.leaseId,
            [ATTR.instanceName]: assignment.instanceName,
            [ATTR.actionDigest]: `${assignment.actionDigest.hash}/${assignment.actionDigest.size}`,
            [ATTR.invocationId]: assignment.toolInvocationId ?? '',
            'rpc.grpc.status_code': status.code,
          },
        },
        parent,
      );
      if (!span.isRecording()) {
        span.end(action.finishedAtMs);
        return;
      }
      if (result !== undefined) span.setAttribute('kiln.exit_code', result.exitCode);
      if (status.code !== 0) {
        span.setStatus({ code: api.SpanStatusCode.ERROR, message: status.message });
      }
      const context = api.trace.setSpan(parent, span);
      const metadata = result?.executionMetadata;
      for (const [name, startField, endField] of STAGES) {
        const start = metadata?.[startField];
        const end = metadata?.[endField];
        if (start === undefined || end === undefined) continue;
        tracer.startSpan(name, { startTime: hrTime(start) }, context).end(hrTime(end));
      }
      span.end(action.finishedAtMs);
    },
  };
}
