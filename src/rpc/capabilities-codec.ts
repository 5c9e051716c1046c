/**
 * The Capabilities service definition with a response encoder that encodes
 * each answer once. A server gives only a few distinct answers (one per kind
 * of caller: may or may not update the action cache), yet the generated
 * encoder walked the whole nested message, copied it, and grpc-js copied it
 * again into a frame, on every GetCapabilities call: about 5% of the call's
 * server CPU. The service marks its answers with {@link encodeOnce}; the
 * first time one is sent its bytes are kept, framed, and every later call
 * sends those bytes as they are.
 */
import {
  CapabilitiesService,
  ServerCapabilities,
} from '../gen/build/bazel/remote/execution/v2/remote_execution.js';
import {
  frameHeadroomInstalled,
  GRPC_FRAME_HEADER_BYTES,
  markFramed,
} from './grpc-frame-headroom.ts';

/** An answer's bytes: the message alone, and the same bytes after 5 bytes left for the frame header. */
interface Encoding {
  readonly bytes: Buffer;
  readonly framed: Buffer;
}

/** Answers marked by {@link encodeOnce}: null until first sent, then their bytes. */
const encodings = new WeakMap<ServerCapabilities, Encoding | null>();
/** ServerCapabilities messages this codec has encoded, for tests. */
let encoded = 0;

/**
 * Freezes `message` (deeply: its bytes are kept, so it must never change)
 * and marks it so that the server encodes it the first time it is sent and
 * reuses the bytes afterwards. Returns `message`.
 */
export function encodeOnce(message: ServerCapabilities): ServerCapabilities {
  deepFreeze(message);
  if (!encodings.has(message)) encodings.set(message, null);
  return message;
}

/** The response encoder: kept bytes for a marked answer, the generated encoding otherwise. */
export function encodeServerCapabilities(message: ServerCapabilities): Buffer {
  let encoding = encodings.get(message);
  if (encoding === undefined) return encode(message);
  if (encoding === null) {
    encoding = framedEncoding(encode(message));
    encodings.set(message, encoding);
  }
  // The frame-headroom hook writes the same 5 header bytes each time, so sharing the buffer
  // between concurrent calls is safe.
  return frameHeadroomInstalled() ? markFramed(encoding.framed) : encoding.bytes;
}

/** How many ServerCapabilities messages this codec has encoded in this process. */
export function serverCapabilitiesEncodings(): number {
  return encoded;
}

/**
 * The Capabilities service with {@link encodeServerCapabilities} as its
 * response encoder. Register this, not the generated definition.
 */
export const capabilitiesServiceDefinition: typeof CapabilitiesService = {
  ...CapabilitiesService,
  getCapabilities: {
    ...CapabilitiesService.getCapabilities,
    responseSerialize: encodeServerCapabilities,
  },
};

function encode(message: ServerCapabilities): Buffer {
  encoded++;
  const bytes = ServerCapabilities.encode(message).finish();
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function framedEncoding(bytes: Buffer): Encoding {
  const framed = Buffer.allocUnsafe(GRPC_FRAME_HEADER_BYTES + bytes.byteLength);
  framed[0] = 0;
  framed.writeUInt32BE(bytes.byteLength, 1);
  bytes.copy(framed, GRPC_FRAME_HEADER_BYTES);
  return { bytes: framed.subarray(GRPC_FRAME_HEADER_BYTES), framed };
}

function deepFreeze(value: unknown): void {
  if (typeof value !== 'object' || value === null || Object.isFrozen(value)) return;
  Object.freeze(value);
  for (const field of Object.values(value)) deepFreeze(field);
}
