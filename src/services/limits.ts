/**
 * Size limits shared by the gRPC server and the services, chosen together:
 * the advertised batch limit leaves headroom under the 4 MiB default that
 * clients such as Bazel use for inbound messages.
 */

/** Largest total of blob bytes in one BatchUpdateBlobs / BatchReadBlobs (advertised). */
export const MAX_BATCH_TOTAL_SIZE_BYTES = 4 * 1024 * 1024 - 64 * 1024;

/** Largest message the server accepts (a FindMissingBlobs of ~500k digests). */
export const MAX_RECEIVE_MESSAGE_BYTES = 64 * 1024 * 1024;

/** Largest message the server sends; replies are built to stay under the batch limit. */
export const MAX_SEND_MESSAGE_BYTES = 64 * 1024 * 1024;

/** Size of the `data` chunks in ByteStream.Read replies. */
export const READ_CHUNK_BYTES = 1024 * 1024;

/** HTTP/2 stream and connection flow-control window. */
export const FLOW_CONTROL_WINDOW_BYTES = 8 * 1024 * 1024;

/** Inline stdout/stderr/output files in GetActionResult only up to this many bytes in total. */
export const MAX_INLINE_BYTES = 1024 * 1024;
