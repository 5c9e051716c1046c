/**
 * Request decoding that cannot fail the server: every service's requests
 * decode through {@link withCheckedDecoding}, which turns a decoder's throw
 * into an {@link UndecodableRequest}, and the edge interceptor
 * (edge-interceptor.ts) answers it INVALID_ARGUMENT (grpc-js would answer
 * INTERNAL, as if the server were at fault).
 */
import { Server, type ServiceDefinition, type UntypedServiceImplementation } from '@grpc/grpc-js';
import { cutStatusMessage } from '../errors.ts';

/**
 * What a request deserializer wrapped by {@link withCheckedDecoding} returns
 * instead of throwing; the edge interceptor answers it.
 */
export class UndecodableRequest {
  /** The INVALID_ARGUMENT message for the client. */
  readonly reason: string;

  constructor(reason: string) {
    this.reason = reason;
  }
}

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/**
 * `definition` with every request deserializer returning an
 * {@link UndecodableRequest} where it would throw. The generated decoders
 * (ts-proto with `forceLong=number`) throw for 64-bit integers beyond 2^53,
 * and grpc-js answers a throwing deserializer with INTERNAL.
 */
export function withCheckedDecoding(definition: ServiceDefinition): ServiceDefinition {
  const checked: Record<string, ServiceDefinition[string]> = {};
  for (const [name, method] of Object.entries(definition)) {
    const decode = method.requestDeserialize;
    checked[name] = {
      ...method,
      requestDeserialize: (bytes: Buffer): unknown => {
        try {
          return decode(bytes);
        } catch (err) {
          return new UndecodableRequest(describeFailure(method.path, err, bytes));
        }
      },
    };
  }
  return checked;
}

function describeFailure(path: string, err: unknown, bytes: Buffer): string {
  const reason = err instanceof Error ? err.message : String(err);
  if (/MAX_SAFE_INTEGER|MIN_SAFE_INTEGER/.test(reason)) {
    const value = findUnsafeInteger(bytes, 0);
    if (value !== undefined) {
      return value > 0n
        ? `a 64-bit field holds ${value}, above the largest size Kiln accepts (${MAX_SAFE})`
        : `a 64-bit field holds ${value}, below the smallest value Kiln accepts (-${MAX_SAFE})`;
    }
    return `a 64-bit field holds a value beyond ±${MAX_SAFE}, the range Kiln accepts`;
  }
  return cutStatusMessage(`the ${path} request cannot be decoded: ${reason}`, 300);
}

/**
 * The first varint in `bytes` (searching nested messages depth first) whose
 * int64 value is beyond the safe range, for the error message; undefined
 * when none is found or the bytes are not a well-formed message.
 */
function findUnsafeInteger(bytes: Uint8Array, depth: number): bigint | undefined {
  let pos = 0;
  while (pos < bytes.length) {
    const tag = readVarint(bytes, pos);
    if (tag === undefined) return undefined;
    pos = tag.next;
    switch (Number(tag.value & 7n)) {
      case 0: {
        const field = readVarint(bytes, pos);
        if (field === undefined) return undefined;
        pos = field.next;
        const signed = BigInt.asIntN(64, field.value);
        if (signed > MAX_SAFE || signed < -MAX_SAFE) return signed;
        break;
      }
      case 1:
        pos += 8;
        break;
      case 2: {
        const length = readVarint(bytes, pos);
        if (length === undefined) return undefined;
        const end = length.next + Number(length.value);
        if (end > bytes.length) return undefined;
        const nested =
          depth < 32 ? findUnsafeInteger(bytes.subarray(length.next, end), depth + 1) : undefined;
        if (nested !== undefined) return nested;
        pos = end;
        break;
      }
      case 5:
        pos += 4;
        break;
      default:
        return undefined;
    }
  }
  return undefined;
}

function readVarint(bytes: Uint8Array, at: number): { value: bigint; next: number } | undefined {
  let value = 0n;
  for (let pos = at, shift = 0n; pos < bytes.length && shift < 70n; pos++, shift += 7n) {
    const byte = bytes[pos] as number;
    value |= BigInt(byte & 0x7f) << shift;
    if (byte < 0x80) return { value, next: pos + 1 };
  }
  return undefined;
}

/**
 * A grpc-js Server whose every service decodes its requests through
 * {@link withCheckedDecoding}, so that no service can be added without it.
 */
export class CheckedDecodingServer extends Server {
  readonly #paths: string[] = [];

  override addService(
    service: ServiceDefinition,
    implementation: UntypedServiceImplementation,
  ): void {
    for (const method of Object.values(service)) this.#paths.push(method.path);
    super.addService(withCheckedDecoding(service), implementation);
  }

  /** The full path of every method added, for the test that each has a permission. */
  get methodPaths(): readonly string[] {
    return this.#paths;
  }
}
