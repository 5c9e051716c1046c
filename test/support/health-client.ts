/**
 * A gRPC health checking client for tests: Check as a promise, and Watch
 * collecting every status it is sent until the stream ends.
 */
import { type ClientReadableStream, credentials, Metadata, type ServiceError } from '@grpc/grpc-js';
import {
  type HealthCheckResponse,
  HealthClient,
  healthCheckResponse_ServingStatusToJSON,
} from '../../src/gen/grpc/health/v1/health.js';

/** A health client on its own connection (not shared with other clients of the process). */
export function healthClient(address: string): HealthClient {
  return new HealthClient(address, credentials.createInsecure(), {
    'grpc.use_local_subchannel_pool': 1,
  });
}

/** What a call ended with. */
export interface CallEnd {
  readonly code: number;
  readonly details: string;
}

/** Check: the status name (`SERVING`…), or the call's error. */
export function check(
  client: HealthClient,
  service: string,
  authorization?: string,
): Promise<{ status?: string; error?: CallEnd }> {
  const metadata = new Metadata();
  if (authorization !== undefined) metadata.set('authorization', authorization);
  return new Promise((resolve) => {
    client.check({ service }, metadata, { deadline: Date.now() + 10_000 }, (err, res) => {
      if (err) resolve({ error: { code: err.code, details: err.details } });
      else resolve({ status: healthCheckResponse_ServingStatusToJSON(res.status) });
    });
  });
}

/** An open Watch stream. */
export interface Watching {
  readonly call: ClientReadableStream<HealthCheckResponse>;
  /** Status names received so far, in order. */
  readonly received: string[];
  /** Resolves when `received` has `count` entries (rejects if the stream ends first). */
  next(count: number): Promise<string[]>;
  /** Resolves with how the stream ended. */
  readonly ended: Promise<CallEnd>;
}

/** Opens a Watch stream on `service`. */
export function watch(client: HealthClient, service: string): Watching {
  const call = client.watch({ service });
  const received: string[] = [];
  const waiters: Array<() => void> = [];
  let end: CallEnd | undefined;
  call.on('data', (res: HealthCheckResponse) => {
    received.push(healthCheckResponse_ServingStatusToJSON(res.status));
    for (const wake of waiters.splice(0)) wake();
  });
  const ended = new Promise<CallEnd>((resolve) => {
    call.on('error', (err: ServiceError) => {
      end = { code: err.code, details: err.details };
      resolve(end);
      for (const wake of waiters.splice(0)) wake();
    });
    call.on('status', (s: { code: number; details: string }) => {
      if (s.code !== 0) return;
      end = { code: 0, details: s.details };
      resolve(end);
      for (const wake of waiters.splice(0)) wake();
    });
  });
  const next = (count: number): Promise<string[]> =>
    new Promise((resolve, reject) => {
      const test = (): void => {
        if (received.length >= count) resolve([...received]);
        else if (end !== undefined) {
          reject(new Error(`Watch ended (${end.code}: ${end.details}) after ${received}`));
        } else waiters.push(test);
      };
      test();
    });
  return { call, received, next, ended };
}
