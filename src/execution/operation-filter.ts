/**
 * The filter language of ListOperations: `key=value` terms joined by `AND`
 * (or spaces), e.g. `stage=EXECUTING AND instance_name=ci`. Keys: `stage`
 * (QUEUED, EXECUTING, COMPLETED), `done` (true, false), `instance_name`,
 * `invocation_id` (the tool invocation id), `correlated_invocations_id`.
 */
import { invalidArgument } from '../errors.ts';
import type { ExecutionStage, ListOperationsQuery } from '../scheduler/types.ts';

const STAGES: readonly ExecutionStage[] = ['QUEUED', 'EXECUTING', 'COMPLETED'];

type Filter = Omit<ListOperationsQuery, 'pageSize' | 'pageToken'>;

/** Parses a filter string into query fields; INVALID_ARGUMENT naming the bad term. */
export function parseOperationFilter(filter: string): Filter {
  const out: {
    -readonly [K in keyof Filter]: Filter[K];
  } = {};
  const terms = filter
    .split(/\s+AND\s+|\s+/i)
    .map((t) => t.trim())
    .filter((t) => t !== '' && t.toUpperCase() !== 'AND');
  for (const term of terms) {
    const match = /^([a-z_]+)\s*=\s*"?([^"]*)"?$/.exec(term);
    if (!match) throw invalidArgument(`filter term "${term}" is not key=value`);
    const [, key, value = ''] = match;
    switch (key) {
      case 'stage': {
        const stage = value.toUpperCase() as ExecutionStage;
        if (!STAGES.includes(stage)) {
          throw invalidArgument(`filter stage "${value}" is not one of ${STAGES.join(', ')}`);
        }
        out.stage = stage;
        break;
      }
      case 'done':
        if (value !== 'true' && value !== 'false') {
          throw invalidArgument(`filter done "${value}" must be true or false`);
        }
        out.done = value === 'true';
        break;
      case 'instance_name':
        out.instanceName = value;
        break;
      case 'invocation_id':
      case 'tool_invocation_id':
        out.toolInvocationId = value;
        break;
      case 'correlated_invocations_id':
        out.correlatedInvocationsId = value;
        break;
      default:
        throw invalidArgument(
          `filter key "${key}" is unknown; use stage, done, instance_name, invocation_id or correlated_invocations_id`,
        );
    }
  }
  return out;
}
