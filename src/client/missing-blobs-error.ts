/**
 * The error a CAS read raises when blobs are absent, listing every absent
 * digest so that callers (the worker's input staging above all) can report
 * them all at once instead of one per attempt.
 */
import { status } from '@grpc/grpc-js';
import { type Digest, formatDigest } from '../digest/digest.ts';
import { KilnError } from '../errors.ts';

/** How many digests a message names before it says "and N more". */
const MESSAGE_DIGESTS = 5;

/** NOT_FOUND for one or more blobs; {@link missing} lists each absent digest once. */
export class MissingBlobsError extends KilnError {
  readonly missing: readonly Digest[];

  constructor(missing: readonly Digest[], context = 'CAS read') {
    const unique = [...new Map(missing.map((d) => [d.key, d])).values()];
    const named = unique.slice(0, MESSAGE_DIGESTS).map(formatDigest).join(', ');
    const more =
      unique.length > MESSAGE_DIGESTS ? ` and ${unique.length - MESSAGE_DIGESTS} more` : '';
    super(
      status.NOT_FOUND,
      `${context}: ${unique.length} blob${unique.length === 1 ? ' is' : 's are'} not in the CAS: ${named}${more}`,
    );
    this.name = 'MissingBlobsError';
    this.missing = unique;
  }

  /** Merges several errors' digests into one error. */
  static merge(errors: readonly MissingBlobsError[], context?: string): MissingBlobsError {
    return new MissingBlobsError(
      errors.flatMap((e) => e.missing),
      context,
    );
  }
}
