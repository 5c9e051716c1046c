/**
 * The store kinds that spread blobs over other stores: `sharding`,
 * `mirrored` and `sizePartitioned`. Their children are store references, so
 * the schemas take the reference schema lazily (it is recursive and defined
 * in schema.ts).
 */
import { z } from 'zod';
import type { StoreRef } from './schema.ts';
import { sizeSchema } from './values.ts';

/** One shard of a `sharding` store. */
export interface ShardConfig {
  readonly backend: StoreRef;
  /** Relative share of the blobs. */
  readonly weight: number;
}

/** Blobs spread over shards by weighted rendezvous hashing. */
export interface ShardingStoreConfig {
  readonly kind: 'sharding';
  /** Shards by key; the key, not the position, decides placement. */
  readonly shards: Readonly<Record<string, ShardConfig>>;
}

/** Every blob in two stores. */
export interface MirroredStoreConfig {
  readonly kind: 'mirrored';
  /** Preferred for reads. */
  readonly a: StoreRef;
  readonly b: StoreRef;
}

/** Small blobs in one store, large ones in another. */
export interface SizePartitionedStoreConfig {
  readonly kind: 'sizePartitioned';
  readonly small: StoreRef;
  readonly large: StoreRef;
  /** Largest blob, in bytes, that goes to `small`. */
  readonly maxSmallSize: number;
}

/** The pattern of shard keys (they appear in config paths and logs). */
const SHARD_KEY_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

const weightSchema = z
  .union([z.number(), z.string()], { error: 'expected a positive number' })
  .transform((value, ctx) => {
    const n = typeof value === 'number' ? value : Number(value.trim() === '' ? Number.NaN : value);
    if (Number.isFinite(n) && n > 0) return n;
    ctx.issues.push({
      code: 'custom',
      input: value,
      message: `weight must be a positive number, got ${JSON.stringify(value)}`,
    });
    return z.NEVER;
  });

/** The option schemas of the composite kinds, given the (recursive) store reference schema. */
export function compositeStoreOptions(ref: () => z.ZodType<StoreRef, unknown>) {
  const shard = z
    .object({
      get backend() {
        return ref().describe('The store that holds this shard. Required.');
      },
      weight: weightSchema
        .prefault(1)
        .describe(
          "Relative share of the blobs: a shard of weight 2 gets twice a weight-1 shard's share. Default: 1.",
        ),
    })
    .strict()
    .describe('One shard.');

  const sharding = z
    .object({
      shards: z
        .record(
          z
            .string()
            .regex(
              SHARD_KEY_PATTERN,
              'shard keys use letters, digits, ".", "_" and "-", starting with a letter or digit',
            ),
          shard,
        )
        .refine((shards) => Object.keys(shards).length > 0, 'a sharding store needs a shard')
        .describe(
          'Shards by key. A blob goes to the shard with the highest weighted rendezvous score for its digest and the key: ' +
            'adding a shard moves only the blobs it takes over, and renaming a shard moves its blobs. Required.',
        ),
    })
    .strict()
    .describe(
      'Blobs spread over several stores by weighted rendezvous (highest random weight) hashing.',
    );

  const mirrored = z
    .object({
      get a() {
        return ref().describe('One copy, preferred for reads. Required.');
      },
      get b() {
        return ref().describe('The other copy, read when a lacks a blob or fails. Required.');
      },
    })
    .strict()
    .describe(
      'Every blob in two stores: writes succeed when both sides commit; a blob found on one side only is copied to the other.',
    );

  const sizePartitioned = z
    .object({
      get small() {
        return ref().describe('Holds blobs of at most maxSmallSize bytes. Required.');
      },
      get large() {
        return ref().describe('Holds larger blobs. Required.');
      },
      maxSmallSize: sizeSchema
        .prefault('64KiB')
        .describe('Largest blob that goes to small. Default: 64KiB.'),
    })
    .strict()
    .describe('Small blobs to one store, large ones to another, by the size in the digest.');

  return { sharding, mirrored, sizePartitioned };
}
