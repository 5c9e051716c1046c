/**
 * The ByteStream service definition with copy-free codecs for the two
 * messages that carry blob data. The generated codecs copy every `data` field
 * once more than needed (decode copies out of the received message, encode
 * grows a buffer and copies twice); at hundreds of MB/s those copies and the
 * garbage collections their large buffers trigger cost a third of the server's
 * time. The bytes on the wire are the same as the generated codecs'.
 */
import { BinaryReader } from '@bufbuild/protobuf/wire';
import {
  ByteStreamService,
  type ReadResponse,
  WriteRequest,
} from '../gen/google/bytestream/bytestream.js';
import { CHUNK_HEADROOM, hasHeadroom } from '../storage/disk-chunk-reader.ts';
import {
  frameHeadroomInstalled,
  GRPC_FRAME_HEADER_BYTES,
  markFramed,
} from './grpc-frame-headroom.ts';

/** `data` is field 10, length-delimited: tag (10 << 3) | 2. */
const DATA_TAG = 82;

/** Number of bytes of `value` as a protobuf varint. */
function varintSize(value: number): number {
  let size = 1;
  for (let v = value; v >= 0x80; v = Math.floor(v / 128)) size++;
  return size;
}

/**
 * Appends `data` as field 10 after `prefix` (other fields, already encoded)
 * with one copy of the data. Empty data is omitted, as proto3 omits defaults.
 */
function withDataField(prefix: Uint8Array, data: Uint8Array): Buffer {
  const length = data.byteLength;
  if (length === 0) return Buffer.from(prefix.buffer, prefix.byteOffset, prefix.byteLength);
  const out = Buffer.allocUnsafe(prefix.byteLength + 1 + varintSize(length) + length);
  out.set(prefix, 0);
  let pos = prefix.byteLength;
  out[pos++] = DATA_TAG;
  out.set(data, writeVarint(out, pos, length));
  return out;
}

/** Writes `value` as a varint at `pos`; returns the position after it. */
function writeVarint(out: Buffer, pos: number, value: number): number {
  let p = pos;
  let v = value;
  while (v >= 0x80) {
    out[p++] = (v & 0x7f) | 0x80;
    v = Math.floor(v / 128);
  }
  out[p++] = v;
  return p;
}

const NO_BYTES = new Uint8Array(0);

/**
 * Encodes a ReadResponse with one copy of its data, or none when the data is
 * a disk chunk with room for the header in front of it.
 */
export function encodeReadResponse(message: ReadResponse): Buffer {
  const { data } = message;
  const length = data.byteLength;
  const headerBytes = 1 + varintSize(length);
  if (length === 0 || headerBytes > CHUNK_HEADROOM || !hasHeadroom(data)) {
    return withDataField(NO_BYTES, data);
  }
  const start = data.byteOffset - headerBytes;
  const out = Buffer.from(data.buffer, start, headerBytes + length);
  out[0] = DATA_TAG;
  writeVarint(out, 1, length);
  return out;
}

/**
 * The server's ReadResponse serializer: like {@link encodeReadResponse}, but
 * when the grpc-js framing hook is installed (see grpc-frame-headroom.ts) and
 * the chunk has room, it also leaves the 5 bytes of the gRPC frame header in
 * front, so the disk read buffer goes to HTTP/2 without any copy.
 */
export function encodeReadResponseFramed(message: ReadResponse): Buffer {
  const { data } = message;
  const length = data.byteLength;
  const headerBytes = 1 + varintSize(length);
  const prefixBytes = GRPC_FRAME_HEADER_BYTES + headerBytes;
  if (
    length === 0 ||
    prefixBytes > CHUNK_HEADROOM ||
    !frameHeadroomInstalled() ||
    !hasHeadroom(data)
  ) {
    return encodeReadResponse(message);
  }
  const out = Buffer.from(data.buffer, data.byteOffset - prefixBytes, prefixBytes + length);
  out[GRPC_FRAME_HEADER_BYTES] = DATA_TAG;
  writeVarint(out, GRPC_FRAME_HEADER_BYTES + 1, length);
  return markFramed(out);
}

/** Decodes a ReadResponse whose `data` is a view of `bytes` (see {@link decodeWriteRequest}). */
export function decodeReadResponse(bytes: Buffer): ReadResponse {
  const reader = new BinaryReader(bytes);
  const message: ReadResponse = { data: Buffer.alloc(0) };
  while (reader.pos < reader.len) {
    const tag = reader.uint32();
    if (tag === DATA_TAG) {
      message.data = view(reader.bytes());
      continue;
    }
    if ((tag & 7) === 4 || tag === 0) break;
    reader.skip(tag & 7);
  }
  return message;
}

/** Encodes a WriteRequest with one copy of its data, field for field as the generated encoder. */
export function encodeWriteRequest(message: WriteRequest): Buffer {
  const { data, ...rest } = message;
  const prefix = WriteRequest.encode({ ...rest, data: NO_BYTES as Buffer }).finish();
  return withDataField(prefix, data);
}

function view(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function toSafeNumber(int64: { toString(): string }): number {
  const num = Number(int64.toString());
  if (!Number.isSafeInteger(num)) throw new Error('write_offset is not a safe integer');
  return num;
}

/**
 * Decodes a WriteRequest whose `data` is a view of `bytes` rather than a copy.
 * grpc-js hands each handler a freshly assembled buffer per message, so the
 * view is never overwritten. Unknown fields are skipped; the last occurrence
 * of a repeated scalar field wins, as in the generated decoder.
 */
export function decodeWriteRequest(bytes: Buffer): WriteRequest {
  const reader = new BinaryReader(bytes);
  const message: WriteRequest = {
    resourceName: '',
    writeOffset: 0,
    finishWrite: false,
    data: Buffer.alloc(0),
  };
  while (reader.pos < reader.len) {
    const tag = reader.uint32();
    switch (tag) {
      case 10:
        message.resourceName = reader.string();
        continue;
      case 16:
        message.writeOffset = toSafeNumber(reader.int64());
        continue;
      case 24:
        message.finishWrite = reader.bool();
        continue;
      case DATA_TAG:
        message.data = view(reader.bytes());
        continue;
    }
    if ((tag & 7) === 4 || tag === 0) break;
    reader.skip(tag & 7);
  }
  return message;
}

/**
 * {@link ByteStreamService} with copy-free codecs for the data-carrying
 * messages, on both the server and the client side. Servers register this
 * instead of the generated definition; clients can be made from it with
 * grpc-js's `makeGenericClientConstructor`.
 */
export const byteStreamServiceDefinition: typeof ByteStreamService = {
  ...ByteStreamService,
  read: {
    ...ByteStreamService.read,
    responseSerialize: encodeReadResponseFramed,
    responseDeserialize: decodeReadResponse,
  },
  write: {
    ...ByteStreamService.write,
    requestSerialize: encodeWriteRequest,
    requestDeserialize: decodeWriteRequest,
  },
};
