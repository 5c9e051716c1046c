/**
 * The ContentAddressableStorage service definition with faster codecs for
 * FindMissingBlobs, whose messages carry thousands of digests: the generated
 * decoder spends most of its time turning each 64-character hash into a
 * string through TextDecoder and each size through a 64-bit integer object
 * and its decimal string. These codecs take a fast path for ASCII hashes and
 * sizes below 2^53 and fall back to the generated code for anything else, so
 * they decode to the same values and encode to the same bytes.
 */
import { BinaryReader } from '@bufbuild/protobuf/wire';
import type { Digest as ValidDigest } from '../digest/digest.ts';
import { invalidArgument, KilnError } from '../errors.ts';
import {
  ContentAddressableStorageService,
  type Digest as DigestMessage,
  FindMissingBlobsRequest,
  FindMissingBlobsResponse,
} from '../gen/build/bazel/remote/execution/v2/remote_execution.js';
import { decodeDigest, readValidatedDigests, type ValidatingReader } from './digest-entries.ts';
import { frameHeadroomInstalled, markFramed } from './grpc-frame-headroom.ts';
import {
  EncodedFindMissingBlobsResponse,
  varintSize,
  writeVarint,
} from './missing-digest-writer.ts';

export type { ValidatingReader } from './digest-entries.ts';

/** Largest number whose varint is at most 7 bytes, well inside the safe range. */
const FAST_VARINT_MAX = 2 ** 49 - 1;

/** Decodes a FindMissingBlobsRequest like the generated decoder, faster. */
export function decodeFindMissingBlobsRequest(bytes: Buffer): FindMissingBlobsRequest {
  return decodeRequest(bytes, true);
}

/**
 * The decoder; without `withDigests`, digests are checked for framing and
 * skipped. Counts the digests into `counted` when given.
 */
function decodeRequest(
  bytes: Buffer,
  withDigests: boolean,
  counted?: { digests: number },
): FindMissingBlobsRequest {
  const reader = new BinaryReader(bytes);
  const message: FindMissingBlobsRequest = {
    instanceName: '',
    blobDigests: [],
    digestFunction: 0,
  };
  let digests = 0;
  while (reader.pos < reader.len) {
    const tag = reader.uint32();
    if (tag === 18) {
      const length = reader.uint32();
      const start = reader.pos;
      reader.pos += length;
      if (reader.pos > reader.len) throw new RangeError('premature EOF');
      if (withDigests) message.blobDigests.push(decodeDigest(bytes, start, reader.pos));
      digests++;
      continue;
    }
    if (tag === 10) {
      message.instanceName = reader.string();
      continue;
    }
    if (tag === 24) {
      message.digestFunction = reader.int32() as FindMissingBlobsRequest['digestFunction'];
      continue;
    }
    if ((tag & 7) === 4 || tag === 0) break;
    reader.skip(tag & 7);
  }
  if (counted !== undefined) counted.digests = digests;
  return message;
}

/**
 * Whether a digest may take the fast path, as far as can be told without
 * reading its hash: a short hash and a size the fast varint code handles.
 * Whether the hash is ASCII is checked while it is copied.
 */
function hasPlainShape(d: DigestMessage): boolean {
  const { hash, sizeBytes } = d;
  return (
    hash.length < 0x80 &&
    Number.isInteger(sizeBytes) &&
    sizeBytes >= 0 &&
    sizeBytes <= FAST_VARINT_MAX
  );
}

function plainDigestSize(d: DigestMessage): number {
  const hashPart = d.hash.length === 0 ? 0 : 2 + d.hash.length;
  const sizePart = d.sizeBytes === 0 ? 0 : 1 + varintSize(d.sizeBytes);
  return hashPart + sizePart;
}

/**
 * Encodes a FindMissingBlobsResponse to the same bytes as the generated
 * encoder, faster. Digests with ASCII hashes and sizes below 2^49 (all that
 * a Kiln CAS reports) are written directly; a response with any other digest
 * goes to the generated encoder whole.
 */
export function encodeFindMissingBlobsResponse(message: FindMissingBlobsResponse): Buffer {
  if (message instanceof EncodedFindMissingBlobsResponse) {
    const { framed } = message;
    return framed !== undefined && frameHeadroomInstalled() ? markFramed(framed) : message.bytes;
  }
  const digests = message.missingBlobDigests;
  let total = 0;
  for (const d of digests) {
    if (!hasPlainShape(d)) return encodeGenerically(message);
    const length = plainDigestSize(d);
    total += 1 + varintSize(length) + length;
  }
  const out = Buffer.allocUnsafe(total);
  let pos = 0;
  for (const d of digests) {
    out[pos++] = 18;
    pos = writeVarint(out, pos, plainDigestSize(d));
    const { hash } = d;
    if (hash.length > 0) {
      out[pos++] = 10;
      out[pos++] = hash.length;
      // A loop rather than Buffer#write: for 64 characters the native call costs more.
      for (let i = 0; i < hash.length; i++) {
        const c = hash.charCodeAt(i);
        if (c >= 0x80) return encodeGenerically(message);
        out[pos++] = c;
      }
    }
    if (d.sizeBytes !== 0) {
      out[pos++] = 16;
      pos = writeVarint(out, pos, d.sizeBytes);
    }
  }
  return out;
}

function encodeGenerically(message: FindMissingBlobsResponse): Buffer {
  const bytes = FindMissingBlobsResponse.encode(message).finish();
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/**
 * A FindMissingBlobsRequest decoded when the handler reads it rather than
 * when it arrives, and never kept decoded. grpc-js deserializes a request as
 * soon as it arrives and keeps it until the call's stream has closed, well
 * after the handler answered. Decoded, a request is a thousand small objects
 * that live through young-generation GCs, get copied and promoted, and fill
 * the old generation (in `npm run bench` a third of each young-generation
 * collection survived); encoded, it is one buffer outside the JS heap.
 * Malformed bytes are rejected with INVALID_ARGUMENT when first read.
 */
export class LazyFindMissingBlobsRequest implements FindMissingBlobsRequest {
  /** Undefined once {@link release}d. */
  #bytes: Buffer | undefined;
  readonly #byteLength: number;
  #header: FindMissingBlobsRequest | undefined;
  readonly #counted = { digests: 0 };

  constructor(bytes: Buffer) {
    this.#bytes = bytes;
    this.#byteLength = bytes.byteLength;
  }

  get instanceName(): string {
    return this.#readHeader().instanceName;
  }

  get digestFunction(): FindMissingBlobsRequest['digestFunction'] {
    return this.#readHeader().digestFunction;
  }

  /** Decoded anew on every read, and not kept: read it once. */
  get blobDigests(): DigestMessage[] {
    return this.#decode(true).blobDigests;
  }

  /** Size of the encoded request. */
  get byteLength(): number {
    return this.#byteLength;
  }

  /**
   * Lets go of the encoded request once it has been answered. grpc-js keeps
   * the request until the call's stream has closed, which for a reply of
   * megabytes to a slow client is long after; a 28 MB request need not stay
   * that long. Only the fields besides the digests, if read before, can be
   * read afterwards.
   */
  release(): void {
    this.#bytes = undefined;
  }

  /** Number of digests, counted without decoding them. */
  get digestCount(): number {
    this.#readHeader();
    return this.#counted.digests;
  }

  /**
   * The digests in order, in slices of at most `length`, each decoded only
   * when it is reached: a caller that is done with one slice before asking
   * for the next never holds more than one slice decoded.
   */
  *digestSlices(length: number): Generator<DigestMessage[], void, undefined> {
    let pos = 0;
    while (pos < this.#byteLength) {
      const slice: DigestMessage[] = [];
      pos = this.#readDigests(pos, length, slice);
      if (slice.length > 0) yield slice;
    }
  }

  /**
   * Reads up to `max` digests from encoded offset `from` (0 at first) into
   * `into`, validated: see {@link readValidatedDigests}. Returns where to go
   * on from; the byte length of the request once there is nothing more.
   */
  readValidated(from: number, max: number, reader: ValidatingReader, into: ValidDigest[]): number {
    const bytes = this.#readable();
    try {
      return readValidatedDigests(bytes, from, max, reader, into);
    } catch (err) {
      // The reader's own verdict on a digest stands; anything else is undecodable bytes.
      throw err instanceof KilnError ? err : undecodable(err);
    }
  }

  /** The fields besides the digests, kept (they are small). */
  #readHeader(): FindMissingBlobsRequest {
    if (this.#header === undefined) this.#header = this.#decode(false);
    return this.#header;
  }

  #decode(withDigests: boolean): FindMissingBlobsRequest {
    const bytes = this.#readable();
    try {
      return decodeRequest(bytes, withDigests, this.#counted);
    } catch (err) {
      throw undecodable(err);
    }
  }

  #readDigests(from: number, max: number, into: DigestMessage[]): number {
    const bytes = this.#readable();
    try {
      return readDigests(bytes, from, max, into);
    } catch (err) {
      throw undecodable(err);
    }
  }

  #readable(): Buffer {
    if (this.#bytes === undefined)
      throw new Error('FindMissingBlobsRequest read after its release');
    return this.#bytes;
  }
}

function undecodable(err: unknown): KilnError {
  const reason = err instanceof Error ? err.message : String(err);
  return invalidArgument(`FindMissingBlobsRequest cannot be decoded: ${reason}`);
}

/**
 * Decodes the digests of the request in `bytes` from offset `from` into
 * `into` until it holds `max`; returns where to go on from (the length of
 * `bytes` once there is nothing more).
 */
function readDigests(bytes: Buffer, from: number, max: number, into: DigestMessage[]): number {
  const reader = new BinaryReader(bytes);
  reader.pos = from;
  while (reader.pos < reader.len && into.length < max) {
    const tag = reader.uint32();
    if (tag === 18) {
      const length = reader.uint32();
      const start = reader.pos;
      reader.pos += length;
      if (reader.pos > reader.len) throw new RangeError('premature EOF');
      into.push(decodeDigest(bytes, start, reader.pos));
      continue;
    }
    if ((tag & 7) === 4 || tag === 0) return reader.len;
    reader.skip(tag & 7);
  }
  return reader.pos;
}

/**
 * The digests of `request` in slices of at most `length`; decoded a slice
 * at a time when the request is a {@link LazyFindMissingBlobsRequest}.
 */
export function* digestSlicesOf(
  request: FindMissingBlobsRequest,
  length: number,
): Generator<DigestMessage[], void, undefined> {
  if (request instanceof LazyFindMissingBlobsRequest) {
    yield* request.digestSlices(length);
    return;
  }
  const digests = request.blobDigests;
  for (let i = 0; i < digests.length; i += length) yield digests.slice(i, i + length);
}

/** Number of digests of `request`, without decoding them when it is still encoded. */
export function digestCountOf(request: FindMissingBlobsRequest): number {
  return request instanceof LazyFindMissingBlobsRequest
    ? request.digestCount
    : request.blobDigests.length;
}

/** Lets go of what `request` holds once it has been answered (see {@link LazyFindMissingBlobsRequest.release}). */
export function releaseRequest(request: FindMissingBlobsRequest): void {
  if (request instanceof LazyFindMissingBlobsRequest) request.release();
}

/** Size of `request` encoded: what it arrived as, or what it would be sent as. */
export function encodedSizeOf(request: FindMissingBlobsRequest): number {
  return request instanceof LazyFindMissingBlobsRequest
    ? request.byteLength
    : FindMissingBlobsRequest.encode(request).finish().byteLength;
}

/**
 * {@link ContentAddressableStorageService} with the faster FindMissingBlobs
 * codecs on the server side (requests decoded at first use, see
 * {@link LazyFindMissingBlobsRequest}). Register this, not the generated
 * definition.
 */
export const casServiceDefinition: typeof ContentAddressableStorageService = {
  ...ContentAddressableStorageService,
  findMissingBlobs: {
    ...ContentAddressableStorageService.findMissingBlobs,
    requestDeserialize: (bytes: Buffer) => new LazyFindMissingBlobsRequest(bytes),
    responseSerialize: encodeFindMissingBlobsResponse,
  },
};
