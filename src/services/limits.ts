/**
 * Size limits shared by the gRPC server and the services, chosen together:
 * the advertised batch limit leaves headroom under the 4 MiB default that
 * clients such as Bazel use for inbound messages.
 */

/** Largest total of blob bytes in one BatchUpdateBlobs / BatchReadBlobs (advertised). */
export const MAX_BATCH_TOTAL_SIZE_BYTES = 4 * 1024 * 1024 - 64 * 1024;

/**
 * Largest total of the declared (uncompressed) sizes of the zstd entries of one
 * BatchUpdateBlobs. Entries past it are refused, so a request of a few
 * kilobytes cannot make the server decompress gigabytes. Four times the
 * advertised limit, so that clients which pack batches by compressed size
 * still fit when their data compresses up to four-fold.
 */
export const MAX_BATCH_ZSTD_DECLARED_BYTES = 4 * MAX_BATCH_TOTAL_SIZE_BYTES;

/**
 * Process-wide budget for BatchUpdateBlobs zstd entries being decompressed
 * (their declared sizes), across all concurrent requests.
 */
export const BATCH_DECOMPRESSION_BUDGET_BYTES = 64 * 1024 * 1024;

/** How long a batch entry waits for decompression budget before RESOURCE_EXHAUSTED. */
export const BATCH_DECOMPRESSION_WAIT_MS = 5_000;

/** Largest message the server accepts (a FindMissingBlobs of ~500k digests). */
export const MAX_RECEIVE_MESSAGE_BYTES = 64 * 1024 * 1024;

/**
 * Process-wide budget for the FindMissingBlobs requests being answered, in
 * encoded request bytes, across all concurrent calls: room for two of the
 * largest requests. A call holds memory in proportion to its request (the
 * request itself, the digests of a slice, the reply), so this bounds what
 * floods of huge requests can make the server hold at once.
 */
export const FIND_MISSING_BUDGET_BYTES = 2 * MAX_RECEIVE_MESSAGE_BYTES;

/**
 * FindMissingBlobs requests up to this size (about 14,000 SHA-256 digests,
 * more than a build tool asks about at once) never wait for the budget.
 */
export const FIND_MISSING_UNBUDGETED_BYTES = 1024 * 1024;

/** How long a large FindMissingBlobs waits for budget before RESOURCE_EXHAUSTED. */
export const FIND_MISSING_WAIT_MS = 5_000;

/** Largest message the server sends; replies are built to stay under the batch limit. */
export const MAX_SEND_MESSAGE_BYTES = 64 * 1024 * 1024;

/** Size of the `data` chunks in ByteStream.Read replies. */
export const READ_CHUNK_BYTES = 1024 * 1024;

/** HTTP/2 stream and connection flow-control window. */
export const FLOW_CONTROL_WINDOW_BYTES = 8 * 1024 * 1024;

/** Inline stdout/stderr/output files in GetActionResult only up to this many bytes in total. */
export const MAX_INLINE_BYTES = 1024 * 1024;
