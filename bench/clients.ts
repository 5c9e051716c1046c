/**
 * Benchmark clients: several independent HTTP/2 connections to one server,
 * each with the tuned channel options the tests use (large windows and
 * messages), so that one connection's flow control or socket never limits a
 * measurement.
 */
import { credentials, makeGenericClientConstructor } from '@grpc/grpc-js';
import {
  CapabilitiesClient,
  ContentAddressableStorageClient,
  ContentAddressableStorageService,
} from '../src/gen/build/bazel/remote/execution/v2/remote_execution.js';
import type { ByteStreamClient } from '../src/gen/google/bytestream/bytestream.js';
import { byteStreamServiceDefinition } from '../src/rpc/bytestream-codec.ts';
import { CLIENT_OPTIONS } from '../test/support/grpc-clients.ts';
import { benchInterceptors } from './bench-token.ts';

/** A ByteStream client with the copy-free codecs, so the client side copies no more than needed. */
const FastByteStreamClient = makeGenericClientConstructor(
  byteStreamServiceDefinition,
  'google.bytestream.ByteStream',
) as unknown as new (
  ...args: ConstructorParameters<typeof ContentAddressableStorageClient>
) => ByteStreamClient;

const identity = (bytes: Buffer): Buffer => bytes;

/**
 * FindMissingBlobs with already-encoded requests and undecoded responses: a
 * load generator that sends one request over and over need not encode it
 * every time, and can check a response without building 500 objects.
 */
const RawFindMissingClient = makeGenericClientConstructor(
  {
    findMissingBlobs: {
      ...ContentAddressableStorageService.findMissingBlobs,
      requestSerialize: identity,
      responseDeserialize: identity,
    },
  },
  'build.bazel.remote.execution.v2.ContentAddressableStorage',
);

/** A client of {@link RawFindMissingClient}'s one method. */
export interface RawFindMissing {
  findMissingBlobs(
    request: Buffer,
    callback: (err: Error | null, response: Buffer) => void,
  ): unknown;
}

/** The clients of one connection. */
export interface BenchChannel {
  readonly cas: ContentAddressableStorageClient;
  readonly rawFindMissing: RawFindMissing;
  readonly byteStream: ByteStreamClient;
  readonly capabilities: CapabilitiesClient;
}

/** A pool of connections; `close` closes them all. */
export interface BenchChannels {
  readonly channels: readonly BenchChannel[];
  /** The connection for the `i`-th concurrent worker (round robin). */
  at(i: number): BenchChannel;
  close(): void;
}

/**
 * Opens `count` connections to `address`. grpc-js shares one connection
 * between channels with equal options unless each has its own subchannel pool.
 */
export function openChannels(address: string, count: number): BenchChannels {
  const creds = credentials.createInsecure();
  const channels: BenchChannel[] = [];
  for (let i = 0; i < count; i++) {
    const options = {
      ...CLIENT_OPTIONS,
      'grpc.use_local_subchannel_pool': 1,
      interceptors: benchInterceptors(),
    };
    const cas = new ContentAddressableStorageClient(address, creds, options);
    const shared = { ...options, channelOverride: cas.getChannel() };
    channels.push({
      cas,
      byteStream: new FastByteStreamClient(address, creds, shared),
      rawFindMissing: new RawFindMissingClient(address, creds, shared) as unknown as RawFindMissing,
      capabilities: new CapabilitiesClient(address, creds, shared),
    });
  }
  return {
    channels,
    at: (i) => channels[i % channels.length] as BenchChannel,
    close: () => {
      for (const channel of channels) channel.cas.close();
    },
  };
}
