/**
 * Starts a real Kiln gRPC server on a free 127.0.0.1 port for tests, over
 * memory stores unless a store is given.
 */
import { type RunningGrpcServer, startGrpcServer } from '../../src/server/grpc-server.ts';
import type { BlobStore } from '../../src/storage/blob-store.ts';
import { MemoryBlobStore } from '../../src/storage/memory-blob-store.ts';
import { VerifyingBlobStore } from '../../src/storage/verifying-blob-store.ts';
import { silentLogger } from '../../src/util/logger.ts';
import { connectClients, type KilnClients } from './grpc-clients.ts';

/** A running server with connected clients. */
export interface TestServer {
  readonly server: RunningGrpcServer;
  readonly clients: KilnClients;
  /** The raw (unverified) CAS backend, for inspecting what got stored. */
  readonly casBackend: BlobStore;
  stop(): Promise<void>;
}

/** Starts a server; stop() closes clients and server. */
export async function startTestServer(
  options: {
    casBackend?: BlobStore;
    actionCacheStore?: BlobStore;
    uploadIdleTimeoutMs?: number;
  } = {},
): Promise<TestServer> {
  const casBackend = options.casBackend ?? new MemoryBlobStore({ maxBytes: 512 * 1024 * 1024 });
  const server = await startGrpcServer({
    listen: '127.0.0.1:0',
    cas: new VerifyingBlobStore({ backend: casBackend }),
    actionCacheStore:
      options.actionCacheStore ?? new MemoryBlobStore({ maxBytes: 64 * 1024 * 1024 }),
    log: silentLogger(),
    uploadIdleTimeoutMs: options.uploadIdleTimeoutMs,
  });
  const clients = connectClients(server.address);
  return {
    server,
    clients,
    casBackend,
    async stop() {
      clients.close();
      await server.close();
    },
  };
}
