/**
 * The fleet bench's responsiveness probe (see fleet-burst.ts), in a process
 * of its own: GetCapabilities every few milliseconds on a connection of its
 * own, each timed from its call to its answer. Run in the bench's own
 * process it timed that process's event loop too, busy with the burst's
 * thousand Execute streams, and not only the server.
 *
 * Run by fleet-burst.ts as `node bench/capabilities-probe.ts '<ProbeOptions as JSON>'`;
 * it answers `ready` once it can call, starts on `start`, and on `stop`
 * reports the latencies (or the first failure) and exits.
 */
import { credentials, Metadata } from '@grpc/grpc-js';
import { CLIENT_CHANNEL_OPTIONS } from '../src/client/channel-options.ts';
import { CapabilitiesClient } from '../src/gen/build/bazel/remote/execution/v2/remote_execution.js';
import { benchInterceptors } from './bench-token.ts';
import { sleep } from './measure.ts';

/** What the parent tells the probe. */
export interface ProbeOptions {
  readonly address: string;
  readonly intervalMs: number;
  /** Make one call before answering `ready`, so that the first timed call finds a connection. */
  readonly warm: boolean;
}

/** Messages to the parent. */
export type FromProbe =
  | { type: 'ready' }
  | { type: 'done'; latencies: number[] }
  | { type: 'error'; message: string };

async function main(): Promise<void> {
  const options = JSON.parse(process.argv[2] ?? '{}') as ProbeOptions;
  const client = new CapabilitiesClient(options.address, credentials.createInsecure(), {
    ...CLIENT_CHANNEL_OPTIONS,
    'grpc.use_local_subchannel_pool': 1,
    'grpc.initial_reconnect_backoff_ms': 100,
    interceptors: benchInterceptors(),
  });
  const once = (): Promise<void> =>
    new Promise((resolve, reject) => {
      client.getCapabilities(
        { instanceName: '' },
        new Metadata(),
        { deadline: Date.now() + 30_000 },
        (err) => (err ? reject(new Error(`GetCapabilities failed: ${err.message}`)) : resolve()),
      );
    });
  const send = (message: FromProbe): void => {
    process.send?.(message);
  };
  if (options.warm) await once();
  let stopped = false;
  const latencies: number[] = [];
  let loop: Promise<void> = Promise.resolve();
  process.on('message', (message: { type: 'start' | 'stop' }) => {
    if (message.type === 'start') {
      loop = (async () => {
        while (!stopped) {
          const start = performance.now();
          await once();
          latencies.push(performance.now() - start);
          await sleep(options.intervalMs);
        }
      })();
      loop.catch(() => {});
    } else {
      stopped = true;
      loop
        .then(
          () => send({ type: 'done', latencies }),
          (err: Error) => send({ type: 'error', message: err.message }),
        )
        .finally(() => {
          client.close();
          process.disconnect?.();
        });
    }
  });
  process.on('disconnect', () => process.exit(0));
  send({ type: 'ready' });
}

main().catch((err: unknown) => {
  process.send?.({ type: 'error', message: err instanceof Error ? err.message : String(err) });
  process.exit(1);
});
