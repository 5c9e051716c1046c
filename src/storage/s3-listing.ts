/**
 * The blobs under an s3 store's prefix, listed page by page (one
 * ListObjectsV2 request per 1000 objects), for the store's start-up
 * warm-up. Keys that do not name a blob (the write log's segments, other
 * tools' objects) are skipped.
 */
import type { S3Client } from '@aws-sdk/client-s3';
import type { Digest } from '../digest/digest.ts';
import { parseBlobKey } from './s3-keys.ts';
import type { S3Requests, S3Sdk } from './s3-requests.ts';

/** Where to list: see {@link listBlobs}. */
export interface S3ListingOptions {
  readonly sdk: S3Sdk;
  readonly client: S3Client;
  readonly requests: S3Requests;
  readonly bucket: string;
  readonly prefix: string;
}

/** One listed blob with what the listing says of its object. */
export interface ListedBlob {
  readonly digest: Digest;
  readonly lastModified: Date | undefined;
  readonly etag: string | undefined;
}

/** Yields every blob under the prefix; stopping the iteration stops the listing. */
export async function* listBlobs(options: S3ListingOptions): AsyncGenerator<ListedBlob> {
  const { sdk, client, requests, bucket, prefix } = options;
  let token: string | undefined;
  do {
    const page = await requests.run('ListObjectsV2', () =>
      client.send(
        new sdk.ListObjectsV2Command({
          Bucket: bucket,
          Prefix: prefix,
          ...(token === undefined ? {} : { ContinuationToken: token }),
        }),
      ),
    );
    for (const object of page.Contents ?? []) {
      const digest = parseBlobKey(object.Key?.slice(prefix.length) ?? '');
      if (digest !== undefined) {
        yield { digest, lastModified: object.LastModified, etag: object.ETag };
      }
    }
    token = page.IsTruncated === true ? page.NextContinuationToken : undefined;
  } while (token !== undefined);
}
