/**
 * The Kiln application factory: configuration in, running services out.
 * Tests and `kiln serve` both start Kiln through this.
 */
import type { KilnConfig } from '../config/schema.ts';
import { createStores, type Stores } from '../storage/create-blob-store.ts';
import type { Logger } from '../util/logger.ts';
import { type RunningGrpcServer, startGrpcServer } from './grpc-server.ts';

/** A running Kiln. */
export interface KilnServer {
  /** gRPC `host:port`, with the real port when the configuration asked for port 0. */
  readonly grpcAddress: string;
  readonly stores: Stores;
  /** Stops serving and closes the stores. */
  close(): Promise<void>;
}

/** Options for {@link createServer}. */
export interface CreateServerOptions {
  readonly config: KilnConfig;
  readonly log: Logger;
}

/** Builds the stores from configuration and starts every service. */
export async function createServer(options: CreateServerOptions): Promise<KilnServer> {
  const { config, log } = options;
  const stores = await createStores(config);
  let grpc: RunningGrpcServer;
  try {
    grpc = await startGrpcServer({
      listen: config.server.listen,
      cas: stores.cas,
      actionCacheStore: stores.actionCache,
      log,
    });
  } catch (err) {
    await stores.close();
    throw err;
  }
  log.info({ grpc: grpc.address, dataDir: config.server.dataDir }, 'kiln started');
  return {
    grpcAddress: grpc.address,
    stores,
    async close() {
      await grpc.close();
      await stores.close();
    },
  };
}
