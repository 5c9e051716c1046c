/**
 * The FAILED_PRECONDITION error REAPI prescribes for missing blobs: a
 * `google.rpc.PreconditionFailure` detail with one violation per blob, type
 * `MISSING` and subject `blobs/{hash}/{size}`, so that clients such as Bazel
 * re-upload exactly those blobs and retry. Raised by the Execution service
 * (missing Action, Command, input root) and by workers (missing inputs).
 */
import { status } from '@grpc/grpc-js';
import { type Digest, formatDigest } from '../digest/digest.ts';
import { formatReadResourceName } from '../digest/resource-name.ts';
import { KilnError } from '../errors.ts';
import { PreconditionFailure } from '../gen/google/rpc/error_details.js';

/** Type URL of the detail, as packed into `google.protobuf.Any`. */
export const PRECONDITION_FAILURE_TYPE_URL = 'type.googleapis.com/google.rpc.PreconditionFailure';

/** Most digests spelled out in the message (the detail always lists them all). */
const MESSAGE_DIGESTS = 5;

/**
 * A FAILED_PRECONDITION KilnError naming every missing blob once. Subjects
 * carry the digest-function segment only for functions that cannot be
 * inferred from the hash length, as in ByteStream resource names.
 */
export function missingBlobsFailure(missing: readonly Digest[], context: string): KilnError {
  const unique = [...new Map(missing.map((d) => [d.key, d])).values()];
  const detail = PreconditionFailure.encode({
    violations: unique.map((d) => ({
      type: 'MISSING',
      subject: formatReadResourceName('', d),
      description: `blob ${formatDigest(d)} is not in the CAS`,
    })),
  }).finish();
  const named = unique.slice(0, MESSAGE_DIGESTS).map(formatDigest).join(', ');
  const more =
    unique.length > MESSAGE_DIGESTS ? ` and ${unique.length - MESSAGE_DIGESTS} more` : '';
  return new KilnError(
    status.FAILED_PRECONDITION,
    `${context}: ${unique.length} blob(s) missing from the CAS: ${named}${more}`,
    { details: [{ typeUrl: PRECONDITION_FAILURE_TYPE_URL, value: Buffer.from(detail) }] },
  );
}

/** The subjects of `MISSING` violations in status details (for clients and tests). */
export function missingSubjects(
  details: readonly { typeUrl: string; value: Uint8Array }[],
): string[] {
  return details
    .filter((d) => d.typeUrl === PRECONDITION_FAILURE_TYPE_URL)
    .flatMap((d) => PreconditionFailure.decode(d.value).violations)
    .filter((v) => v.type === 'MISSING')
    .map((v) => v.subject);
}
