/**
 * FAILED_PRECONDITION errors that list missing blobs the way REAPI requires:
 * a `google.rpc.PreconditionFailure` detail with one `MISSING` violation per
 * blob, subject `blobs/{hash}/{size}`, so clients (Bazel) re-upload them.
 */
import { status } from '@grpc/grpc-js';
import { type Digest, formatDigest } from '../digest/digest.ts';
import { KilnError } from '../errors.ts';
import { PreconditionFailure } from '../gen/google/rpc/error_details.js';

const TYPE_URL = 'type.googleapis.com/google.rpc.PreconditionFailure';

/** A FAILED_PRECONDITION KilnError naming every missing blob. */
export function missingBlobsFailure(missing: readonly Digest[], context: string): KilnError {
  const unique = [...new Map(missing.map((d) => [d.key, d])).values()];
  const detail = PreconditionFailure.encode({
    violations: unique.map((d) => ({
      type: 'MISSING',
      subject: `blobs/${d.hash}/${d.size}`,
      description: `${context}: blob ${formatDigest(d)} is not in the CAS`,
    })),
  }).finish();
  const named = unique.slice(0, 5).map(formatDigest).join(', ');
  const more = unique.length > 5 ? ` and ${unique.length - 5} more` : '';
  return new KilnError(
    status.FAILED_PRECONDITION,
    `${context}: missing ${unique.length} blob(s) in the CAS: ${named}${more}`,
    { details: [{ typeUrl: TYPE_URL, value: Buffer.from(detail) }] },
  );
}

/** The `blobs/{hash}/{size}` subjects of a PreconditionFailure detail, for tests and clients. */
export function missingSubjects(
  details: readonly { typeUrl: string; value: Uint8Array }[],
): string[] {
  return details
    .filter((d) => d.typeUrl === TYPE_URL)
    .flatMap((d) => PreconditionFailure.decode(d.value).violations)
    .filter((v) => v.type === 'MISSING')
    .map((v) => v.subject);
}
