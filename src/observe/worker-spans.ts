/**
 * The worker's spans for each action it ran, continuing the trace the
 * scheduler started (the `traceparent` of the lease payload):
 *
 *     kiln.worker.action                    from the lease's start to its result
 *     ├─ kiln.worker.input_staging          Action, Command and the input root
 *     ├─ kiln.worker.execution              the command
 *     ├─ kiln.worker.output_upload          outputs, stdout and stderr to the CAS
 *     └─ <service>/<method>                 each CAS call the worker made for it
 *
 * The action's span is open while the worker works on the lease, and the
 * work runs with it as the active context: the worker's own CAS calls
 * (tracing-client-interceptor.ts) become its children and carry its trace
 * to the server. The stage spans are made when the action is over, from the
 * timestamps the executor already records for ExecutedActionMetadata, so
 * the executor itself holds no tracing code and an untraced worker does
 * nothing here at all.
 */
import type * as Api from '@opentelemetry/api';
import type { Assignment } from '../execution/lease-payload.ts';
import type { ActionResult } from '../gen/build/bazel/remote/execution/v2/remote_execution.js';
import type { Timestamp } from '../gen/google/protobuf/timestamp.js';
import type { Tracing } from './tracing.ts';
import { ATTR } from './tracing-interceptor.ts';

/** A lease the worker agent began. */
export interface StartedAction {
  readonly leaseId: string;
  readonly assignment: Assignment;
  /** When the agent began the lease, ms since the epoch. */
  readonly startedAtMs: number;
}

/** How one action the worker ran ended, as the worker agent reports it. */
export interface FinishedAction {
  /** With its ExecutedActionMetadata; absent when the worker failed before it had one. */
  readonly result?: ActionResult;
  /** The outcome's gRPC code and message (0 for OK). */
  readonly status: { readonly code: number; readonly message: string };
  /** When the outcome was ready, ms since the epoch. */
  readonly finishedAtMs: number;
}

/** The trace of one action on the worker; see {@link WorkerActionSpans}. */
export interface WorkerActionTrace {
  /** Runs `work` (and what it starts) with the action's span as the active context. */
  run<T>(work: () => T): T;
  /** Ends the action's span, with a span per stage the result's metadata times. */
  finished(action: FinishedAction): void;
}

/** What the worker agent tells about each action it runs; see {@link workerSpans}. */
export interface WorkerActionSpans {
  actionStarted(action: StartedAction): WorkerActionTrace;
}

const STAGES = [
  ['kiln.worker.input_staging', 'inputFetchStartTimestamp', 'inputFetchCompletedTimestamp'],
  ['kiln.worker.execution', 'executionStartTimestamp', 'executionCompletedTimestamp'],
  ['kiln.worker.output_upload', 'outputUploadStartTimestamp', 'outputUploadCompletedTimestamp'],
] as const;

function hrTime(t: Timestamp): Api.HrTime {
  return [t.seconds, t.nanos];
}

/** Records each action's spans with `tracing`, naming the worker `workerName`. */
export function workerSpans(tracing: Tracing, workerName: string): WorkerActionSpans {
  const { api, tracer } = tracing;
  return {
    actionStarted({ leaseId, assignment, startedAtMs }) {
      const parent = tracing.fromTraceparent(assignment.traceparent);
      const span = tracer.startSpan(
        'kiln.worker.action',
        {
          startTime: startedAtMs,
          attributes: {
            'kiln.worker': workerName,
            'kiln.lease': leaseId,
            [ATTR.instanceName]: assignment.instanceName,
            [ATTR.actionDigest]: `${assignment.actionDigest.hash}/${assignment.actionDigest.size}`,
            [ATTR.invocationId]: assignment.toolInvocationId ?? '',
          },
        },
        parent,
      );
      const context = api.trace.setSpan(parent, span);
      return {
        run: (work) => tracing.with(context, work),
        finished({ result, status, finishedAtMs }) {
          if (!span.isRecording()) {
            span.end(finishedAtMs);
            return;
          }
          span.setAttribute('rpc.grpc.status_code', status.code);
          if (result !== undefined) span.setAttribute('kiln.exit_code', result.exitCode);
          if (status.code !== 0) {
            span.setStatus({ code: api.SpanStatusCode.ERROR, message: status.message });
          }
          const metadata = result?.executionMetadata;
          // The stages' times have a finer grain than `finishedAtMs`: the action
          // ends no earlier than its last stage.
          let endsAt: Api.HrTime = [Math.floor(finishedAtMs / 1000), (finishedAtMs % 1000) * 1e6];
          for (const [name, startField, endField] of STAGES) {
            const start = metadata?.[startField];
            const end = metadata?.[endField];
            if (start === undefined || end === undefined) continue;
            tracer.startSpan(name, { startTime: hrTime(start) }, context).end(hrTime(end));
            if (end.seconds > endsAt[0] || (end.seconds === endsAt[0] && end.nanos > endsAt[1])) {
              endsAt = hrTime(end);
            }
          }
          span.end(endsAt);
        },
      };
    },
  };
}
