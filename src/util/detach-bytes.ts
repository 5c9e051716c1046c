/**
 * Copies of decoded protobuf messages whose `bytes` fields own their memory,
 * for messages kept long after the call that produced them (completed
 * operations, queued actions).
 *
 * A decoded `bytes` field is rarely an allocation of its own: the generated
 * decoders copy it with `Buffer.from`, which slices anything under 32 KiB out
 * of Node's shared Buffer pool (64 KiB slabs since Node 24.21), and
 * copy-free decoders return views of the received message. Either way a
 * 10-byte `Action.salt` or `Any.value` keeps a whole 64 KiB slab, or the
 * whole message, alive for as long as the message is kept. Measured with
 * `npm run fuzz`: after 100,000 requests, 400 such slabs (26 MB) were held by
 * completed operations and leases, scattered through the malloc heap where
 * they also kept glibc from returning the free memory around them.
 */

/**
 * A deep copy of `message` (plain objects and arrays) in which every
 * non-empty `Uint8Array` that does not span its whole ArrayBuffer is a view
 * of one new, unpooled buffer holding exactly their bytes. Returns `message`
 * itself when it has no such field. Other objects (class instances) are
 * kept as they are.
 */
export function detachBytes<T>(message: T): T {
  return detachBytesHeld(message).message;
}

/**
 * {@link detachBytes} and {@link bytesHeld} of the result in one walk of the
 * message: for a caller that keeps the message and accounts for its bytes.
 */
export function detachBytesHeld<T>(message: T): { message: T; bytes: number } {
  let total = 0;
  let shared = false;
  visit(message, (bytes) => {
    total += bytes.byteLength;
    if (bytes.byteLength !== bytes.buffer.byteLength) shared = true;
  });
  if (!shared) return { message, bytes: total };
  // Never pooled: this buffer belongs to the copy alone.
  const slab = Buffer.allocUnsafeSlow(total);
  let offset = 0;
  const copied = copy(message, (bytes) => {
    const view = slab.subarray(offset, offset + bytes.byteLength);
    view.set(bytes);
    offset += bytes.byteLength;
    return view;
  }) as T;
  return { message: copied, bytes: total };
}

/**
 * The bytes held by the non-empty `Uint8Array` fields of `message` (plain
 * objects and arrays, as {@link detachBytes} walks them): what keeping it
 * costs beyond its small objects and strings.
 */
export function bytesHeld(message: unknown): number {
  let total = 0;
  visit(message, (bytes) => {
    total += bytes.byteLength;
  });
  return total;
}

function isPlain(value: object): boolean {
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

function visit(value: unknown, onBytes: (bytes: Uint8Array) => void): void {
  if (value === null || typeof value !== 'object') return;
  if (value instanceof Uint8Array) {
    if (value.byteLength > 0) onBytes(value);
    return;
  }
  if (Array.isArray(value)) {
    for (const item of value) visit(item, onBytes);
    return;
  }
  if (!isPlain(value)) return;
  // for-in, not Object.keys: no array per object. A plain object inherits no enumerable keys.
  for (const key in value) visit((value as Record<string, unknown>)[key], onBytes);
}

function copy(value: unknown, onBytes: (bytes: Uint8Array) => Uint8Array): unknown {
  if (value === null || typeof value !== 'object') return value;
  if (value instanceof Uint8Array) {
    if (value.byteLength === 0) return value;
    const view = onBytes(value);
    // Keep the field's type: generated code and callers expect a Buffer where it was one.
    return Buffer.isBuffer(value)
      ? view
      : new Uint8Array(view.buffer, view.byteOffset, view.length);
  }
  if (Array.isArray(value)) return value.map((item) => copy(item, onBytes));
  if (!isPlain(value)) return value;
  const out: Record<string, unknown> = {};
  for (const key in value) {
    out[key] = copy((value as Record<string, unknown>)[key], onBytes);
  }
  return out;
}
