/**
 * A real Kiln gRPC server with the Remote Asset API enabled, plus Fetch and
 * Push clients, for the service tests; and small request builders.
 */
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { credentials, type ServiceError } from '@grpc/grpc-js';
import type { Authenticator } from '../../src/auth/authenticator.ts';
import { defaultRemoteAssetConfig, type RemoteAssetConfig } from '../../src/config/asset-schema.ts';
import {
  type FetchBlobRequest,
  FetchClient,
  PushClient,
  type Qualifier,
} from '../../src/gen/build/bazel/remote/asset/v1/remote_asset.js';
import { BadRequest } from '../../src/gen/google/rpc/error_details.js';
import { Status } from '../../src/gen/google/rpc/status.js';
import { MemoryBlobStore } from '../../src/storage/memory-blob-store.ts';
import { startTestServer, type TestServer } from '../support/test-server.ts';

/** A test server with Remote Asset clients. */
export interface AssetServer {
  readonly t: TestServer;
  readonly fetch: FetchClient;
  readonly push: PushClient;
  /** The directory for downloads in progress. */
  readonly tempDir: string;
  stop(): Promise<void>;
}

/**
 * Starts Kiln with `remoteAsset` set to the defaults overridden by `config`,
 * in protected mode (where loopback origins are allowed) unless given an
 * `authenticator`.
 */
export async function startAssetServer(
  config: Partial<RemoteAssetConfig> = {},
  options: { readonly authenticator?: Authenticator } = {},
): Promise<AssetServer> {
  const dir = await mkdtemp(join(tmpdir(), 'kiln-asset-'));
  const tempDir = join(dir, 'downloads');
  const t = await startTestServer({
    remoteAsset: {
      config: { ...defaultRemoteAssetConfig(), ...config },
      associations: new MemoryBlobStore({ maxBytes: 16 * 2 ** 20 }),
      tempDir,
    },
    ...(options.authenticator === undefined ? {} : { authenticator: options.authenticator }),
  });
  const fetch = new FetchClient(t.server.address, credentials.createInsecure());
  const push = new PushClient(t.server.address, credentials.createInsecure());
  return {
    t,
    fetch,
    push,
    tempDir,
    async stop() {
      fetch.close();
      push.close();
      await t.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** A FetchBlobRequest (FetchDirectoryRequest has the same fields) with defaults. */
export function fetchRequest(partial: Partial<FetchBlobRequest>): FetchBlobRequest {
  return {
    instanceName: '',
    timeout: undefined,
    oldestContentAccepted: undefined,
    uris: [],
    qualifiers: [],
    digestFunction: 0,
    ...partial,
  };
}

/** The `checksum.sri` qualifier for `data` under `algorithm` (sha256 by default). */
export function sriQualifier(data: Uint8Array | string, algorithm = 'sha256'): Qualifier {
  const hash = createHash(algorithm).update(data).digest('base64');
  return { name: 'checksum.sri', value: `${algorithm}-${hash}` };
}

/** Hex SHA-256. */
export function sha256Hex(data: Uint8Array | string): string {
  return createHash('sha256').update(data).digest('hex');
}

/** The BadRequest field violations in a gRPC error's rich status. */
export function fieldViolations(err: ServiceError): Array<{ field: string; description: string }> {
  const raw = err.metadata?.get('grpc-status-details-bin')[0];
  if (!(raw instanceof Buffer)) return [];
  return Status.decode(raw)
    .details.filter((d) => d.typeUrl === 'type.googleapis.com/google.rpc.BadRequest')
    .flatMap((d) => BadRequest.decode(d.value).fieldViolations)
    .map((v) => ({ field: v.field, description: v.description }));
}

/** Files left in the downloads directory (spooled downloads must not outlive their fetch). */
export async function leftovers(dir: string): Promise<string[]> {
  return readdir(dir).catch(() => []);
}
