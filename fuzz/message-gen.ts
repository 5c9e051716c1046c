/**
 * Builds random protobuf messages from descriptors: every field kind, values
 * at the edges of their types, known digests and names from the
 * {@link Dictionary}, huge strings, long repeated fields and deep nesting,
 * all within a byte budget. Now and then the encoding itself is bent: a
 * field with the wrong wire type, an unknown field, a string that is not
 * UTF-8.
 */
import { type DescField, type DescMessage, ScalarType } from '@bufbuild/protobuf';
import { BinaryWriter, WireType } from '@bufbuild/protobuf/wire';
import { type Dictionary, EDGE_INT32, EDGE_INT64, NASTY_STRINGS } from './dictionary.ts';
import type { Prng } from './prng.ts';

/** Options for {@link randomMessage}. */
export interface MessageGenOptions {
  readonly rng: Prng;
  readonly dict: Dictionary;
  /** Most bytes of strings, bytes and repeated elements in the message (roughly). */
  readonly maxBytes: number;
  /** Deepest nesting of messages. */
  readonly maxDepth?: number;
  /**
   * Plausible values only: names and digests from the dictionary, small
   * numbers, valid enums, no encoding tricks. Such requests get past
   * validation into the handlers' real work.
   */
  readonly tame?: boolean;
}

interface GenState {
  readonly rng: Prng;
  readonly dict: Dictionary;
  readonly maxDepth: number;
  readonly tame: boolean;
  budget: number;
}

/** Encodes a random message of type `desc`. */
export function randomMessage(desc: DescMessage, options: MessageGenOptions): Uint8Array {
  const state: GenState = {
    rng: options.rng,
    dict: options.dict,
    maxDepth: options.maxDepth ?? 8,
    tame: options.tame ?? false,
    budget: options.maxBytes,
  };
  const writer = new BinaryWriter();
  writeMessage(writer, desc, state, 0);
  return writer.finish();
}

function writeMessage(w: BinaryWriter, desc: DescMessage, s: GenState, depth: number): void {
  if (desc.typeName.endsWith('.Digest') && s.rng.chance(s.tame ? 0.95 : 0.6)) {
    writeDigest(w, s);
    return;
  }
  const present = depth === 0 ? 0.8 : Math.max(0.15, (s.tame ? 0.5 : 0.6) - depth * 0.1);
  const wild = s.tame ? 0 : 1;
  const chosenOneofs = new Map(desc.oneofs.map((o) => [o, s.rng.pick(o.fields)]));
  for (const field of desc.fields) {
    if (s.budget <= 0) break;
    if (field.oneof !== undefined) {
      // Usually one member of a oneof, sometimes two (the last one wins on the wire).
      if (chosenOneofs.get(field.oneof) !== field && !s.rng.chance(0.05 * wild)) continue;
    }
    if (!s.rng.chance(present)) continue;
    if (s.rng.chance(0.02 * wild)) {
      writeWrongWireType(w, field.number, s);
      continue;
    }
    writeField(w, field, s, depth, desc);
    if (s.rng.chance(0.02 * wild)) writeField(w, field, s, depth, desc);
  }
  if (s.rng.chance(0.03 * wild)) writeUnknownField(w, s);
}

function writeField(
  w: BinaryWriter,
  field: DescField,
  s: GenState,
  depth: number,
  parent: DescMessage,
): void {
  const name = `${parent.name}.${field.name}`;
  switch (field.fieldKind) {
    case 'scalar':
      writeScalar(w, field.number, field.scalar, name, s);
      return;
    case 'enum':
      w.tag(field.number, WireType.Varint).int32(enumValue(field.enum.values, s));
      return;
    case 'message':
      if (depth >= s.maxDepth) return;
      w.tag(field.number, WireType.LengthDelimited).fork();
      writeMessage(w, field.message, s, depth + 1);
      w.join();
      return;
    case 'list': {
      const count = repeatCount(s, depth);
      if (field.listKind === 'scalar' && field.packed && s.rng.chance(0.7)) {
        w.tag(field.number, WireType.LengthDelimited).fork();
        for (let i = 0; i < count && s.budget > 0; i++) scalarValue(w, field.scalar, name, s);
        w.join();
        return;
      }
      for (let i = 0; i < count && s.budget > 0; i++) {
        s.budget -= 2;
        if (field.listKind === 'scalar') writeScalar(w, field.number, field.scalar, name, s);
        else if (field.listKind === 'enum') {
          w.tag(field.number, WireType.Varint).int32(enumValue(field.enum.values, s));
        } else if (depth < s.maxDepth) {
          w.tag(field.number, WireType.LengthDelimited).fork();
          writeMessage(w, field.message, s, depth + 1);
          w.join();
        }
      }
      return;
    }
    case 'map': {
      const count = repeatCount(s, depth);
      for (let i = 0; i < count && s.budget > 0; i++) {
        w.tag(field.number, WireType.LengthDelimited).fork();
        writeScalar(w, 1, field.mapKey, 'key', s);
        if (field.mapKind === 'scalar') writeScalar(w, 2, field.scalar, 'value', s);
        else if (field.mapKind === 'enum')
          w.tag(2, WireType.Varint).int32(enumValue(field.enum.values, s));
        else if (depth < s.maxDepth) {
          w.tag(2, WireType.LengthDelimited).fork();
          writeMessage(w, field.message, s, depth + 1);
          w.join();
        }
        w.join();
      }
      return;
    }
  }
}

/** Mostly 0–3 elements; now and then hundreds or thousands (budget permitting). */
function repeatCount(s: GenState, depth: number): number {
  const r = s.rng.next();
  if (s.tame) return r < 0.9 ? s.rng.int(4) : s.rng.range(4, 20);
  if (r < 0.6) return s.rng.int(4);
  if (r < 0.9) return s.rng.range(4, 20);
  return depth <= 1 ? s.rng.size(5000) : s.rng.range(20, 100);
}

function enumValue(values: ReadonlyArray<{ number: number }>, s: GenState): number {
  if (s.tame) return values.length > 0 && s.rng.chance(0.5) ? s.rng.pick(values).number : 0;
  if (values.length > 0 && s.rng.chance(0.85)) return s.rng.pick(values).number;
  return s.rng.pick(EDGE_INT32);
}

function writeDigest(w: BinaryWriter, s: GenState): void {
  const blob = s.dict.blob(s.rng);
  const right = s.tame ? 0.97 : 0.85;
  const hash = s.rng.chance(right) ? blob.hash : s.dict.hash(s.rng);
  const size = s.rng.chance(right) ? BigInt(blob.size) : s.rng.pick(EDGE_INT64);
  w.tag(1, WireType.LengthDelimited).string(hash);
  if (size !== 0n) w.tag(2, WireType.Varint).int64(size);
}

function writeScalar(
  w: BinaryWriter,
  no: number,
  type: ScalarType,
  name: string,
  s: GenState,
): void {
  w.tag(no, wireTypeOf(type));
  scalarValue(w, type, name, s);
}

function wireTypeOf(type: ScalarType): WireType {
  switch (type) {
    case ScalarType.STRING:
    case ScalarType.BYTES:
      return WireType.LengthDelimited;
    case ScalarType.DOUBLE:
    case ScalarType.FIXED64:
    case ScalarType.SFIXED64:
      return WireType.Bit64;
    case ScalarType.FLOAT:
    case ScalarType.FIXED32:
    case ScalarType.SFIXED32:
      return WireType.Bit32;
    default:
      return WireType.Varint;
  }
}

/** Writes one value of `type` (without its tag). */
function scalarValue(w: BinaryWriter, type: ScalarType, name: string, s: GenState): void {
  const { rng } = s;
  switch (type) {
    case ScalarType.STRING: {
      if (!s.tame && rng.chance(0.03)) {
        // Not UTF-8: a string field carrying arbitrary bytes.
        const bytes = rng.bytes(rng.size(64));
        s.budget -= bytes.length;
        w.bytes(bytes);
        return;
      }
      const text = stringValue(name, s);
      s.budget -= text.length;
      w.string(text);
      return;
    }
    case ScalarType.BYTES: {
      const bytes = bytesValue(s);
      s.budget -= bytes.length;
      w.bytes(bytes);
      return;
    }
    case ScalarType.BOOL:
      w.bool(rng.chance(0.5));
      return;
    case ScalarType.DOUBLE:
      w.double(
        rng.pick([0, -0, 1.5, Number.NaN, Number.POSITIVE_INFINITY, -1e308, rng.next() * 1e6]),
      );
      return;
    case ScalarType.FLOAT:
      w.float(rng.pick([0, 1.5, Number.NaN, Number.NEGATIVE_INFINITY, rng.next() * 1000]));
      return;
    case ScalarType.INT64:
      w.int64(BigInt.asIntN(64, int64Value(name, s)));
      return;
    case ScalarType.SINT64:
      w.sint64(BigInt.asIntN(64, int64Value(name, s)));
      return;
    case ScalarType.SFIXED64:
      w.sfixed64(BigInt.asIntN(64, int64Value(name, s)));
      return;
    case ScalarType.UINT64:
      w.uint64(BigInt.asUintN(64, int64Value(name, s)));
      return;
    case ScalarType.FIXED64:
      w.fixed64(BigInt.asUintN(64, int64Value(name, s)));
      return;
    case ScalarType.INT32:
      w.int32(int32Value(s));
      return;
    case ScalarType.SINT32:
      w.sint32(int32Value(s));
      return;
    case ScalarType.SFIXED32:
      w.sfixed32(int32Value(s));
      return;
    case ScalarType.UINT32:
      w.uint32(int32Value(s) >>> 0);
      return;
    case ScalarType.FIXED32:
      w.fixed32(int32Value(s) >>> 0);
      return;
  }
}

function int64Value(name: string, s: GenState): bigint {
  const { rng } = s;
  const r = rng.next();
  if (s.tame) {
    if (/size|offset|limit/.test(name))
      return BigInt(rng.chance(0.7) ? s.dict.blob(rng).size : rng.int(1000));
    return BigInt(rng.int(/seconds/.test(name) ? 5 : 1000));
  }
  if (/size|offset|limit/.test(name) && r < 0.4)
    return BigInt(s.dict.blob(rng).size + rng.range(-2, 2));
  if (r < 0.7) return rng.pick(EDGE_INT64);
  return BigInt(rng.range(-1000, 1_000_000));
}

function int32Value(s: GenState): number {
  if (s.tame) return s.rng.int(1000);
  return s.rng.chance(0.6) ? s.rng.pick(EDGE_INT32) : s.rng.range(-100, 100_000);
}

/**
 * A string that suits the field (`Message.field`) when it can, and anything
 * at all otherwise.
 */
function stringValue(qualifiedName: string, s: GenState): string {
  const { rng, dict } = s;
  const name = qualifiedName.slice(qualifiedName.indexOf('.') + 1);
  if (!s.tame) {
    const r = rng.next();
    if (r < 0.02) return hugeString(s);
    if (r < 0.15) return rng.pick(NASTY_STRINGS);
    if (r < 0.25) return rng.bytes(rng.size(48)).toString('latin1');
  }
  if (name === 'instance_name') return s.tame && rng.chance(0.8) ? '' : dict.instanceName(rng);
  if (name === 'hash') return dict.hash(rng);
  if (name === 'resource_name') {
    return rng.chance(0.5) ? dict.readResourceName(rng) : dict.writeResourceName(rng);
  }
  if (name === 'uris' || name === 'uri') return dict.uri(rng);
  if (qualifiedName === 'Qualifier.name') return dict.qualifierName(rng);
  if (qualifiedName === 'Qualifier.value') return dict.qualifierValue(rng);
  if (name === 'name' || name === 'parent' || name === 'operation_name') {
    return qualifiedName.startsWith('BotSession') || qualifiedName.includes('BotSession')
      ? dict.botName(rng)
      : dict.operationName(rng);
  }
  if (name === 'bot_id') return rng.pick(['fuzz-bot', 'fuzz-bot-2', '', rng.pick(NASTY_STRINGS)]);
  return rng.bytes(rng.size(s.tame ? 12 : 24)).toString('base64url');
}

function hugeString(s: GenState): string {
  const length = Math.max(0, Math.min(s.budget, s.rng.size(4 * 1024 * 1024)));
  return s.rng.pick(['a', '/', '\u00e9', '../']).repeat(Math.ceil(length / 3));
}

function bytesValue(s: GenState): Uint8Array {
  const { rng } = s;
  const r = rng.next();
  if (r < 0.4) {
    const blob = s.dict.blob(rng);
    if (blob.size <= s.budget) return blob.data;
  }
  if (r < 0.45) return Buffer.alloc(Math.max(0, Math.min(s.budget, rng.size(2 * 1024 * 1024))));
  return rng.bytes(Math.max(0, Math.min(s.budget, rng.size(4096))));
}

/** A field written with a wire type its schema does not allow. */
function writeWrongWireType(w: BinaryWriter, no: number, s: GenState): void {
  switch (s.rng.int(4)) {
    case 0:
      w.tag(no, WireType.Varint).uint64(BigInt.asUintN(64, s.rng.pick(EDGE_INT64)));
      return;
    case 1:
      w.tag(no, WireType.LengthDelimited).bytes(s.rng.bytes(s.rng.size(32)));
      return;
    case 2:
      w.tag(no, WireType.Bit64).fixed64(BigInt(s.rng.uint32()));
      return;
    default:
      w.tag(no, WireType.Bit32).fixed32(s.rng.uint32());
  }
}

/** A field number the schema does not know, which decoders must skip. */
function writeUnknownField(w: BinaryWriter, s: GenState): void {
  const no = s.rng.pick([99, 1000, 19999, 536870911]);
  if (s.rng.chance(0.5)) w.tag(no, WireType.Varint).uint32(s.rng.uint32());
  else w.tag(no, WireType.LengthDelimited).bytes(s.rng.bytes(s.rng.size(64)));
}
