/**
 * The FAILED_PRECONDITION error REAPI prescribes for missing blobs: a
 * `google.rpc.PreconditionFailure` detail with one violation per blob, type
 * "MISSING" and subject "blobs/{hash}/{size}", so that clients such as Bazel
 * can re-upload exactly those blobs and retry.
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
 * A FAILED_PRECONDITION KilnError listing `missing` in a PreconditionFailure
 * detail. The subject omits the digest function except for functions that
 * cannot be inferred from the hash length, as in ByteStream resource names.
 */
export function missingBlobsPreconditionError(
  missing: readonly Digest[],
  context = 'inputs of the action are missing from the CAS',
): KilnError {
  const detail = PreconditionFailure.encode({
    violations: missing.map((d) => ({
      type: 'MISSING',
      subject: formatReadResourceName('', d),
      description: `blob ${formatDigest(d)} is not in the CAS`,
    })),
  }).finish();
  const named = missing.slice(0, MESSAGE_DIGESTS).map(formatDigest).join(', ');
  const more =
    missing.length > MESSAGE_DIGESTS ? ` and ${missing.length - MESSAGE_DIGESTS} more` : '';
  return new KilnError(status.FAILED_PRECONDITION, `${context}: ${named}${more}`, {
    details: [{ typeUrl: PRECONDITION_FAILURE_TYPE_URL, value: Buffer.from(detail) }],
  });
}
