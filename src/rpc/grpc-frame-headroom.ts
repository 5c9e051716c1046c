/**
 * Lets a response serializer hand grpc-js a message that already has room for
 * the 5-byte gRPC frame header in front of it, so the server sends it without
 * copying.
 *
 * grpc-js frames every response by allocating a new buffer of the message's
 * length plus 5 and copying the message into it. For ByteStream.Read that is
 * a fresh 1 MiB buffer and a 1 MiB copy per chunk, on top of the chunk the
 * disk store already read into a buffer of its own; at hundreds of MB/s the
 * allocations drive the garbage collector. The disk store leaves free bytes
 * in front of each chunk (disk-chunk-reader.ts), the ByteStream codec writes
 * the protobuf header there, and with this hook the frame header goes there
 * too, making the read buffer itself the bytes handed to HTTP/2.
 *
 * grpc-js has no public hook for this, so {@link installFrameHeadroom}
 * replaces the framing method of its server call class, keeping its exact
 * behaviour for every buffer not marked with {@link markFramed}. The hook is
 * checked at start-up (and by a test) against the installed grpc-js; if the
 * method is not where it is expected, nothing is patched and serializers fall
 * back to the copying path.
 */
import { createRequire } from 'node:module';

/** Bytes of the gRPC length-prefixed message header: a compressed flag and a 32-bit length. */
export const GRPC_FRAME_HEADER_BYTES = 5;

/** Buffers whose first {@link GRPC_FRAME_HEADER_BYTES} are free for the frame header. */
const framed = new WeakSet<Uint8Array>();
let installed = false;

interface ServerCallPrototype {
  serializeMessage?: (
    this: { handler: { serialize(value: unknown): Buffer } },
    value: unknown,
  ) => Buffer;
}

/**
 * Marks `buffer` as a whole gRPC frame whose first 5 bytes are free: the
 * patched server writes the header there and sends the buffer as it is.
 * Only meaningful when {@link frameHeadroomInstalled} is true.
 */
export function markFramed(buffer: Buffer): Buffer {
  framed.add(buffer);
  return buffer;
}

/** Whether responses marked with {@link markFramed} are sent without a copy. */
export function frameHeadroomInstalled(): boolean {
  return installed;
}

/**
 * Installs the hook into grpc-js's server call class (once per process;
 * later calls do nothing). Returns whether the hook is active.
 */
export function installFrameHeadroom(): boolean {
  if (installed) return true;
  const require = createRequire(import.meta.url);
  let proto: ServerCallPrototype | undefined;
  try {
    const module = require('@grpc/grpc-js/build/src/server-interceptors.js') as {
      BaseServerInterceptingCall?: { prototype: ServerCallPrototype };
    };
    proto = module.BaseServerInterceptingCall?.prototype;
  } catch {
    return false;
  }
  if (proto === undefined || typeof proto.serializeMessage !== 'function') return false;
  proto.serializeMessage = function serializeMessage(value: unknown): Buffer {
    const message = this.handler.serialize(value);
    if (framed.has(message)) {
      // grpc-js never compresses responses: the flag byte is always 0.
      message[0] = 0;
      message.writeUInt32BE(message.byteLength - GRPC_FRAME_HEADER_BYTES, 1);
      return message;
    }
    const output = Buffer.allocUnsafe(message.byteLength + GRPC_FRAME_HEADER_BYTES);
    output[0] = 0;
    output.writeUInt32BE(message.byteLength, 1);
    output.set(message, GRPC_FRAME_HEADER_BYTES);
    return output;
  };
  installed = true;
  return true;
}
