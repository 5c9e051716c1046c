/**
 * grpc-js channel options for Kiln's clients (worker, CLI, tests, benchmarks).
 */

/**
 * Large windows and messages, like Bazel's tuned clients: 64 MiB messages so
 * that big FindMissingBlobs requests and batches fit, and an 8 MiB HTTP/2
 * flow-control window so that one ByteStream transfer is not limited by the
 * 64 KiB default.
 */
export const CLIENT_CHANNEL_OPTIONS = {
  'grpc.max_receive_message_length': 64 * 1024 * 1024,
  'grpc.max_send_message_length': 64 * 1024 * 1024,
  'grpc-node.flow_control_window': 8 * 1024 * 1024,
} as const;

/** Largest message the client sends or accepts (the two limits above). */
export const CLIENT_MAX_MESSAGE_BYTES = 64 * 1024 * 1024;
