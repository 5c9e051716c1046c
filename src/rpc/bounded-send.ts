/**
 * Backpressure by bytes for server-streaming calls. grpc-js's call stream
 * counts messages, not bytes: it accepts sixteen before `write` returns
 * false, which for 1 MiB ByteStream.Read chunks is 16 MiB per call that a
 * client who stops reading (or reads slowly) keeps in server memory.
 */
import type { ServerWritableStream } from '@grpc/grpc-js';
import { status } from '@grpc/grpc-js';
import { KilnError } from '../errors.ts';

/**
 * A `send` for `call` that resolves once at most `maxBufferedBytes` of the
 * messages sent so far are still waiting to go out to HTTP/2 (the message
 * just sent included), so that a producer awaiting it holds at most that
 * plus the message it is preparing. Rejects with CANCELLED once the call is
 * cancelled, including while waiting. `sizeOf` tells a message's bytes.
 */
export function boundedSend<Res>(
  call: ServerWritableStream<unknown, Res>,
  maxBufferedBytes: number,
  sizeOf: (message: Res) => number,
): (message: Res) => Promise<void> {
  let buffered = 0;
  let wake: (() => void) | undefined;
  let ended = false;
  const onEnd = (): void => {
    ended = true;
    wake?.();
  };
  call.once('cancelled', onEnd);
  call.once('close', onEnd);
  const cancelled = (): KilnError => new KilnError(status.CANCELLED, 'call cancelled');
  return async (message) => {
    if (ended || call.cancelled) throw cancelled();
    const bytes = sizeOf(message);
    buffered += bytes;
    // grpc-js calls back once HTTP/2 has taken the message (never, if the call is cancelled).
    call.write(message, () => {
      buffered -= bytes;
      if (buffered <= maxBufferedBytes) wake?.();
    });
    while (buffered > maxBufferedBytes) {
      await new Promise<void>((resolve) => {
        wake = resolve;
      });
      wake = undefined;
      if (ended || call.cancelled) throw cancelled();
    }
  };
}
