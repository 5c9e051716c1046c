/**
 * Byte-level mutations of encoded messages: what a broken client, a bad
 * proxy or an attacker sends once the bytes no longer come from an encoder.
 */
import type { Prng } from './prng.ts';

const INTERESTING_BYTES = [0x00, 0x01, 0x7f, 0x80, 0xff, 0x0a, 0x12, 0x08];

/** A varint length of about 2^35: a length-delimited field claiming far more than the message holds. */
const HUGE_LENGTH = Buffer.from([0xff, 0xff, 0xff, 0xff, 0x7f]);

/** The names of the mutations, for the report. */
export type MutationName =
  | 'bit-flip'
  | 'byte-set'
  | 'truncate'
  | 'insert-random'
  | 'delete-range'
  | 'duplicate-range'
  | 'huge-length'
  | 'splice'
  | 'random';

/** Applies one to four mutations to a copy of `input`; `other` is spliced in by `splice`. */
export function mutate(
  rng: Prng,
  input: Uint8Array,
  other: Uint8Array,
): { bytes: Buffer; applied: MutationName[] } {
  let bytes: Buffer = Buffer.from(input);
  const applied: MutationName[] = [];
  const rounds = rng.range(1, 4);
  for (let i = 0; i < rounds; i++) {
    const name = rng.pick<MutationName>([
      'bit-flip',
      'bit-flip',
      'byte-set',
      'truncate',
      'insert-random',
      'delete-range',
      'duplicate-range',
      'huge-length',
      'splice',
      'random',
    ]);
    bytes = apply(name, rng, bytes, other);
    applied.push(name);
  }
  return { bytes, applied };
}

function apply(name: MutationName, rng: Prng, bytes: Buffer, other: Uint8Array): Buffer {
  const at = rng.int(bytes.length + 1);
  switch (name) {
    case 'bit-flip': {
      if (bytes.length === 0) return bytes;
      const out = Buffer.from(bytes);
      const flips = rng.range(1, 8);
      for (let i = 0; i < flips; i++) {
        const pos = rng.int(out.length);
        out[pos] = (out[pos] as number) ^ (1 << rng.int(8));
      }
      return out;
    }
    case 'byte-set': {
      if (bytes.length === 0) return bytes;
      const out = Buffer.from(bytes);
      out[rng.int(out.length)] = rng.pick(INTERESTING_BYTES);
      return out;
    }
    case 'truncate':
      return bytes.subarray(0, at);
    case 'insert-random':
      return Buffer.concat([bytes.subarray(0, at), rng.bytes(rng.size(64)), bytes.subarray(at)]);
    case 'delete-range':
      return Buffer.concat([bytes.subarray(0, at), bytes.subarray(at + rng.size(64))]);
    case 'duplicate-range': {
      const piece = bytes.subarray(at, at + rng.size(256));
      const times = rng.chance(0.1) ? rng.range(2, 200) : 2;
      return Buffer.concat([
        bytes.subarray(0, at),
        ...Array<Buffer>(times).fill(piece),
        bytes.subarray(at + piece.length),
      ]);
    }
    case 'huge-length':
      // A tag for some field, length-delimited, followed by a huge length.
      return Buffer.concat([
        bytes.subarray(0, at),
        Buffer.from([((rng.range(1, 15) << 3) | 2) & 0x7f]),
        HUGE_LENGTH,
        bytes.subarray(at),
      ]);
    case 'splice': {
      const from = rng.int(other.length + 1);
      return Buffer.concat([bytes.subarray(0, at), other.subarray(from, from + rng.size(512))]);
    }
    case 'random':
      return rng.bytes(rng.size(1024));
  }
}
