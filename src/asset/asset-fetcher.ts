/**
 * The logic of the Fetch service. A request is first answered from the
 * associations (pushed, or recorded by earlier fetches) when one is young
 * enough and its content is still in the CAS; otherwise its URIs are
 * downloaded in order until one succeeds, and the result is recorded.
 * Identical concurrent requests share one download, which runs to its own
 * time limit even when the client gives up, so a retry finds it done.
 */
import { status } from '@grpc/grpc-js';
import type { RemoteAssetConfig } from '../config/asset-schema.ts';
import type { Digest } from '../digest/digest.ts';
import { type DigestFunction, resolveDigestFunction } from '../digest/digest-function.ts';
import { validateInstanceName } from '../digest/instance-name.ts';
import { invalidArgument, KilnError, unavailable } from '../errors.ts';
import type { Qualifier } from '../gen/build/bazel/remote/asset/v1/remote_asset.js';
import type { Duration } from '../gen/google/protobuf/duration.js';
import type { Timestamp } from '../gen/google/protobuf/timestamp.js';
import type { Status } from '../gen/google/rpc/status.js';
import { type BlobStore, hasBlob } from '../storage/blob-store.ts';
import type { Logger } from '../util/logger.ts';
import { timerDelayMs } from '../util/timer-delay.ts';
import { archiveFormatFromHint } from './archive-format.ts';
import {
  type AssetAssociations,
  type AssetKind,
  type AssociationRecord,
  associationKey,
} from './asset-associations.ts';
import { fetchTimeoutMs, timestampMs, toTimestamp, validateUris } from './asset-request.ts';
import { downloadToCas } from './download-to-cas.ts';
import type { HttpFetcher } from './http-fetcher.ts';
import { fetchTimedOut, OriginError } from './origin-error.ts';
import { redact, SUPPORTED_SCHEMES } from './outbound-policy.ts';
import {
  type AssetQualifiers,
  DIRECTORY,
  parseQualifiers,
  unsupportedQualifiersError,
} from './qualifiers.ts';
import { subdirectoryDigest } from './subdirectory.ts';
import { missingInTree } from './tree-presence.ts';
import { unpackArchive } from './unpack-archive.ts';

/** The fields FetchBlobRequest and FetchDirectoryRequest share. */
export interface FetchRequest {
  readonly instanceName: string;
  readonly timeout: Duration | undefined;
  readonly oldestContentAccepted: Timestamp | undefined;
  readonly uris: readonly string[];
  readonly qualifiers: readonly Qualifier[];
  readonly digestFunction: number;
}

/** The fields FetchBlobResponse and FetchDirectoryResponse share; `digest` is the blob or root. */
export interface FetchResult {
  readonly status: Status;
  readonly uri: string;
  readonly qualifiers: Qualifier[];
  readonly expiresAt: Timestamp | undefined;
  readonly digest: Digest | undefined;
  readonly digestFunction: number;
}

/** Options of {@link AssetFetcher}. */
export interface AssetFetcherOptions {
  /** The CAS (content-verifying). */
  readonly cas: BlobStore;
  readonly associations: AssetAssociations;
  readonly http: HttpFetcher;
  readonly config: Pick<
    RemoteAssetConfig,
    | 'fetchEnabled'
    | 'defaultTimeoutMs'
    | 'maxTimeoutMs'
    | 'maxDownloadSize'
    | 'maxArchiveFiles'
    | 'maxArchiveSize'
  >;
  /** Directory for downloads in progress. */
  readonly tempDir: string;
  readonly log: Logger;
  /** Current time in epoch ms; `Date.now` by default. */
  readonly now?: () => number;
}

/** A download in progress, shared by identical requests. */
interface Flight {
  readonly startedAtMs: number;
  readonly result: Promise<FetchResult>;
}

/** Everything one fetch needs, validated. */
interface Resolved {
  readonly kind: AssetKind;
  readonly instanceName: string;
  readonly uris: readonly string[];
  readonly fn: DigestFunction;
  readonly qualifiers: AssetQualifiers;
  readonly oldestMs: number | undefined;
  readonly timeoutMs: number;
}

const OK: Status = { code: status.OK, message: '', details: [] };

/** Resolves URIs to CAS content, from associations or from origin. */
export class AssetFetcher {
  readonly #options: AssetFetcherOptions;
  readonly #now: () => number;
  readonly #flights = new Map<string, Flight>();
  readonly #shutdown = new AbortController();

  constructor(options: AssetFetcherOptions) {
    this.#options = options;
    this.#now = options.now ?? Date.now;
  }

  /**
   * FetchBlob (`kind` blob) or FetchDirectory (`kind` directory): validates
   * the request (INVALID_ARGUMENT), then answers from an association or
   * downloads. Origin failures are in the result's status; other errors reject.
   */
  fetch(kind: AssetKind, request: FetchRequest): Promise<FetchResult> {
    return this.#fetch(this.#resolve(kind, request));
  }

  /** Aborts downloads in progress; their callers get UNAVAILABLE. */
  close(): void {
    this.#shutdown.abort(unavailable('the server is shutting down'));
  }

  #resolve(kind: AssetKind, request: FetchRequest): Resolved {
    const { config } = this.#options;
    validateInstanceName(request.instanceName);
    const uris = validateUris(request.uris);
    return {
      kind,
      instanceName: request.instanceName,
      uris,
      fn: resolveDigestFunction(request.digestFunction),
      qualifiers: parseQualifiers(request.qualifiers, uris.length),
      oldestMs: timestampMs(request.oldestContentAccepted, 'oldest_content_accepted'),
      timeoutMs: fetchTimeoutMs(request.timeout, config.defaultTimeoutMs, config.maxTimeoutMs),
    };
  }

  async #fetch(r: Resolved): Promise<FetchResult> {
    for (const [i, uri] of r.uris.entries()) {
      const record = await this.#usable(r, r.kind, i, uri);
      if (record !== undefined) return this.#success(r, uri, record);
    }
    // `directory` names a subdirectory of an archive: meaningless for a blob.
    const unsupportedNames =
      r.kind === 'blob' && r.qualifiers.directory !== undefined
        ? [...r.qualifiers.unsupported, DIRECTORY]
        : r.qualifiers.unsupported;
    if (unsupportedNames.length > 0) throw unsupportedQualifiersError(unsupportedNames);
    if (!this.#options.config.fetchEnabled) {
      return this.#failure(
        r,
        r.uris[0] ?? '',
        new OriginError(
          status.NOT_FOUND,
          'nothing was pushed for these URIs and downloading is disabled (remoteAsset.fetchEnabled)',
        ),
      );
    }
    const unsupported = r.uris.filter((u) => !SUPPORTED_SCHEMES.includes(new URL(u).protocol));
    if (unsupported.length === r.uris.length) {
      throw invalidArgument(
        `no URI can be downloaded: supported schemes are http and https, got ${unsupported
          .map((u) => new URL(u).protocol)
          .join(', ')}`,
      );
    }
    const flightKey = JSON.stringify([
      r.kind,
      r.uris.map((uri, i) => associationKey(r.kind, r.instanceName, r.fn, r.qualifiers, uri, i)),
    ]);
    const joined = this.#flights.get(flightKey);
    if (joined !== undefined && (r.oldestMs === undefined || joined.startedAtMs >= r.oldestMs)) {
      return joined.result;
    }
    const flight: Flight = { startedAtMs: this.#now(), result: this.#download(r) };
    this.#flights.set(flightKey, flight);
    try {
      return await flight.result;
    } finally {
      if (this.#flights.get(flightKey) === flight) this.#flights.delete(flightKey);
    }
  }

  /** The association for `uris[index]`, if it may be served: young enough, unexpired, complete in the CAS. */
  async #usable(
    r: Resolved,
    kind: AssetKind,
    index: number,
    uri: string,
  ): Promise<AssociationRecord | undefined> {
    const { associations, cas, config } = this.#options;
    const key = associationKey(kind, r.instanceName, r.fn, r.qualifiers, uri, index);
    const record = await associations.get(key);
    if (record === undefined) return undefined;
    if (r.oldestMs !== undefined && record.createdAtMs < r.oldestMs) return undefined;
    if (record.expiresAtMs !== undefined && record.expiresAtMs <= this.#now()) return undefined;
    const present =
      kind === 'blob'
        ? await hasBlob(cas, record.digest)
        : (await missingInTree(cas, record.digest, config.maxArchiveFiles)).length === 0;
    return present ? record : undefined;
  }

  /** Tries the downloadable URIs in order; records and returns the first success. */
  async #download(r: Resolved): Promise<FetchResult> {
    const { log } = this.#options;
    const timeout = new AbortController();
    const timer = setTimeout(
      () => timeout.abort(fetchTimedOut(`the fetch did not finish within ${r.timeoutMs} ms`)),
      timerDelayMs(r.timeoutMs),
    );
    const signal = AbortSignal.any([timeout.signal, this.#shutdown.signal]);
    const startedAtMs = this.#now();
    const failures: Array<{ uri: string; error: OriginError }> = [];
    try {
      for (const [i, uri] of r.uris.entries()) {
        const url = new URL(uri);
        if (!SUPPORTED_SCHEMES.includes(url.protocol)) continue;
        const began = performance.now();
        try {
          const digest =
            r.kind === 'blob'
              ? await this.#downloadBlob(r, i, url, signal)
              : await this.#downloadDirectory(r, i, url, signal, startedAtMs);
          log.info(
            {
              uri: redact(url),
              kind: r.kind,
              digest: digest.key,
              ms: Math.round(performance.now() - began),
            },
            'asset fetched',
          );
          const record = await this.#record(r, i, digest, startedAtMs);
          return this.#success(r, uri, record);
        } catch (err) {
          if (!(err instanceof OriginError)) throw err;
          log.info(
            { uri: redact(url), code: status[err.code], msg: err.message },
            'asset fetch failed',
          );
          failures.push({ uri, error: err });
          if (signal.aborted) break;
        }
      }
    } finally {
      clearTimeout(timer);
    }
    const last = failures.at(-1);
    if (last === undefined) throw unavailable('no URI was tried');
    const message =
      failures.length === 1
        ? last.error.message
        : `all ${failures.length} URIs failed: ${failures.map((f) => f.error.message).join('; ')}`;
    return this.#failure(r, last.uri, new OriginError(last.error.code, message));
  }

  async #downloadBlob(r: Resolved, index: number, url: URL, signal: AbortSignal): Promise<Digest> {
    const options = this.#options;
    const downloaded = await downloadToCas({
      fetcher: options.http,
      cas: options.cas,
      url,
      headers: r.qualifiers.headersFor(index, r.uris[index] ?? ''),
      fn: r.fn,
      sri: r.qualifiers.sri,
      maxBytes: options.config.maxDownloadSize,
      tempDir: options.tempDir,
      signal,
    });
    return downloaded.digest;
  }

  /** Gets the archive (from a blob association or the origin) and unpacks it. */
  async #downloadDirectory(
    r: Resolved,
    index: number,
    url: URL,
    signal: AbortSignal,
    startedAtMs: number,
  ): Promise<Digest> {
    const options = this.#options;
    const uri = r.uris[index] ?? '';
    let archive = (await this.#usable(r, 'blob', index, uri))?.digest;
    if (archive === undefined) {
      archive = await this.#downloadBlob(r, index, url, signal);
      await this.#record({ ...r, kind: 'blob' }, index, archive, startedAtMs);
    }
    try {
      const tree = await unpackArchive({
        cas: options.cas,
        archive,
        format: archiveFormatFromHint({ resourceType: r.qualifiers.resourceType, uri }),
        limits: {
          maxFiles: options.config.maxArchiveFiles,
          maxTotalBytes: options.config.maxArchiveSize,
        },
        signal,
      });
      const { directory } = r.qualifiers;
      if (directory === undefined || directory.length === 0) return tree.root;
      const sub = await subdirectoryDigest(options.cas, tree.root, directory);
      if (sub === undefined) {
        throw new OriginError(
          status.NOT_FOUND,
          `${redact(url)}: the archive has no directory "${directory.join('/')}"`,
        );
      }
      return sub;
    } catch (err) {
      if (signal.aborted) throw signal.reason;
      // A malformed, unsafe or oversized archive is the origin's content, not our failure.
      if (
        err instanceof KilnError &&
        (err.code === status.INVALID_ARGUMENT || err.code === status.RESOURCE_EXHAUSTED)
      ) {
        throw new OriginError(
          err.code,
          `${redact(url)}: cannot unpack the archive: ${err.message}`,
        );
      }
      throw err;
    }
  }

  /**
   * Records the association of `uris[index]`, and of every other URI when a
   * checksum pins the content (the URIs are then mirrors of one file).
   */
  async #record(
    r: Resolved,
    index: number,
    digest: Digest,
    createdAtMs: number,
  ): Promise<AssociationRecord> {
    const indices = r.qualifiers.sri === undefined ? [index] : r.uris.map((_, i) => i);
    let used: AssociationRecord | undefined;
    for (const i of indices) {
      const uri = r.uris[i] ?? '';
      const record: AssociationRecord = {
        kind: r.kind,
        uri,
        digest,
        qualifiers: r.qualifiers.identifying,
        createdAtMs,
        expiresAtMs: undefined,
        source: 'fetch',
      };
      const key = associationKey(r.kind, r.instanceName, r.fn, r.qualifiers, uri, i);
      await this.#options.associations.put(key, record);
      if (i === index) used = record;
    }
    return used as AssociationRecord;
  }

  #success(r: Resolved, uri: string, record: AssociationRecord): FetchResult {
    return {
      status: OK,
      uri,
      qualifiers: [...record.qualifiers],
      expiresAt: record.expiresAtMs === undefined ? undefined : toTimestamp(record.expiresAtMs),
      digest: record.digest,
      digestFunction: r.fn.value,
    };
  }

  #failure(r: Resolved, uri: string, error: OriginError): FetchResult {
    return {
      status: { code: error.code, message: error.message, details: [] },
      uri,
      qualifiers: [...r.qualifiers.identifying],
      expiresAt: undefined,
      digest: undefined,
      digestFunction: r.fn.value,
    };
  }
}
