/**
 * The logic of the Push service: a trusted client (one holding `asset:push`,
 * checked by the authorization interceptor before this runs) states that
 * URIs (with qualifiers) resolve to a blob or a directory tree already in the
 * CAS, and later Fetch calls are answered from that association without
 * contacting any origin. Pushed qualifiers are trusted as given, whatever
 * their names.
 */
import { type Digest, parseDigest } from '../digest/digest.ts';
import { validateInstanceName } from '../digest/instance-name.ts';
import { missingBlobsFailure } from '../execution/precondition-failure.ts';
import type { Qualifier } from '../gen/build/bazel/remote/asset/v1/remote_asset.js';
import type { Digest as DigestMessage } from '../gen/build/bazel/remote/execution/v2/remote_execution.js';
import type { Timestamp } from '../gen/google/protobuf/timestamp.js';
import { type BlobStore, hasBlob } from '../storage/blob-store.ts';
import { type AssetAssociations, type AssetKind, associationKey } from './asset-associations.ts';
import { timestampMs, validateUris } from './asset-request.ts';
import { parseQualifiers } from './qualifiers.ts';
import { missingInTree } from './tree-presence.ts';

/** The fields PushBlobRequest and PushDirectoryRequest share; `digest` is the blob or root. */
export interface PushRequest {
  readonly instanceName: string;
  readonly uris: readonly string[];
  readonly qualifiers: readonly Qualifier[];
  readonly expireAt: Timestamp | undefined;
  readonly digest: DigestMessage | undefined;
  readonly referencesBlobs: readonly DigestMessage[];
  readonly referencesDirectories: readonly DigestMessage[];
  readonly digestFunction: number;
}

/** Options of {@link AssetPusher}. */
export interface AssetPusherOptions {
  /** The CAS, which must hold pushed content. */
  readonly cas: BlobStore;
  readonly associations: AssetAssociations;
  /** Most directories walked to check a pushed tree is complete. */
  readonly maxDirectories: number;
  /** Current time in epoch ms; `Date.now` by default. */
  readonly now?: () => number;
}

/** Records pushed associations. */
export class AssetPusher {
  readonly #options: AssetPusherOptions;
  readonly #now: () => number;

  constructor(options: AssetPusherOptions) {
    this.#options = options;
    this.#now = options.now ?? Date.now;
  }

  /**
   * PushBlob (`kind` blob) or PushDirectory (`kind` directory). Rejects with
   * INVALID_ARGUMENT for malformed fields, FAILED_PRECONDITION (with a
   * PreconditionFailure listing what is missing) unless the content is in
   * the CAS.
   */
  async push(kind: AssetKind, request: PushRequest): Promise<void> {
    const { associations } = this.#options;
    validateInstanceName(request.instanceName);
    const uris = validateUris(request.uris);
    const qualifiers = parseQualifiers(request.qualifiers, uris.length);
    const field = kind === 'blob' ? 'blob_digest' : 'root_directory_digest';
    const digest = parseDigest(request.digest, request.digestFunction, field);
    const fnValue = digest.fn.value;
    for (const [i, d] of request.referencesBlobs.entries()) {
      parseDigest(d, fnValue, 'references_blobs', i);
    }
    for (const [i, d] of request.referencesDirectories.entries()) {
      parseDigest(d, fnValue, 'references_directories', i);
    }
    const expiresAtMs = timestampMs(request.expireAt, 'expire_at');

    await this.#requirePresent(kind, digest);
    const createdAtMs = this.#now();
    for (const [i, uri] of uris.entries()) {
      await associations.put(
        associationKey(kind, request.instanceName, digest.fn, qualifiers, uri, i),
        {
          kind,
          uri,
          digest,
          qualifiers: qualifiers.identifying,
          createdAtMs,
          expiresAtMs,
          source: 'push',
        },
      );
    }
  }

  async #requirePresent(kind: AssetKind, digest: Digest): Promise<void> {
    const { cas, maxDirectories } = this.#options;
    const missing =
      kind === 'blob'
        ? (await hasBlob(cas, digest))
          ? []
          : [digest]
        : await missingInTree(cas, digest, maxDirectories);
    if (missing.length > 0) {
      throw missingBlobsFailure(
        missing,
        kind === 'blob' ? 'PushBlob' : 'PushDirectory: the tree is incomplete',
      );
    }
  }
}
