/**
 * The `grpc` store kind: another REAPI server (a storage Kiln, Buildbarn, …)
 * as a backend, with the same TLS files and bearer token options the kiln
 * client commands and `kiln worker` take on their command line.
 */
import { z } from 'zod';
import { countSchema, durationSchema, sizeSchema } from './values.ts';

/** A remote REAPI CAS and action cache. */
export interface GrpcStoreConfig {
  readonly kind: 'grpc';
  /** `grpc://host:port` or `grpcs://host:port`. */
  readonly endpoint: string;
  /** The backend's REAPI instance name. */
  readonly instanceName: string;
  /** TLS files for `grpcs://`; absent: the system's CAs and no client certificate. */
  readonly tls?: { readonly ca?: string; readonly cert?: string; readonly key?: string };
  /** Bearer token sent with every call. */
  readonly token?: string;
  /** File holding the bearer token. */
  readonly tokenFile?: string;
  /** Most calls in flight at once. */
  readonly concurrency: number;
  /** Deadline of each unary call, in milliseconds. */
  readonly timeout: number;
  /** Largest blob sent in batch requests; undefined: what the backend states. */
  readonly maxBatchSize?: number;
}

/** Splits `grpc://host:port` or `grpcs://host:port`; undefined when malformed. */
export function parseGrpcEndpoint(endpoint: string): { address: string; tls: boolean } | undefined {
  const match = /^(grpcs?):\/\/((?:\[[0-9a-fA-F:.]+\]|[^\s:/[\]]+):(\d{1,5}))\/?$/.exec(endpoint);
  if (match === null || Number(match[3]) > 65535) return undefined;
  return { address: match[2] as string, tls: match[1] === 'grpcs' };
}

const fileSchema = z.string().min(1);

const clientTlsSchema = z
  .object({
    ca: fileSchema
      .optional()
      .describe(
        "PEM file with the CA certificates to trust instead of the system's. Default: none.",
      ),
    cert: fileSchema
      .optional()
      .describe('PEM client certificate for mutual TLS, with key. Default: none.'),
    key: fileSchema.optional().describe('PEM private key of cert. Default: none.'),
  })
  .strict()
  .check((ctx) => {
    if ((ctx.value.cert === undefined) !== (ctx.value.key === undefined)) {
      ctx.issues.push({
        code: 'custom',
        input: ctx.value,
        message: 'cert and key go together (a client certificate and its private key)',
      });
    }
  })
  .describe(
    'TLS files for a grpcs:// endpoint, as --tls-ca, --tls-cert and --tls-key of the kiln client commands.',
  );

/** The options of a `grpc` store node. */
export const grpcStoreOptions = z
  .object({
    endpoint: z
      .string()
      .refine((v) => parseGrpcEndpoint(v) !== undefined, {
        error: (issue) =>
          `invalid endpoint ${JSON.stringify(issue.input)} (expected grpc://HOST:PORT, or grpcs://HOST:PORT for TLS)`,
      })
      .describe('The backend: grpc://HOST:PORT (plaintext) or grpcs://HOST:PORT (TLS). Required.'),
    instanceName: z
      .string()
      .default('')
      .describe(
        'The backend\'s REAPI instance name that every request names. Default: "" (the default instance).',
      ),
    tls: clientTlsSchema.optional(),
    token: z
      .string()
      .regex(/^\S*$/, 'a bearer token is one word, without white space')
      // Empty is none, so that `${VAR:-}` makes the token optional.
      .transform((v) => (v === '' ? undefined : v))
      .optional()
      .describe(
        // biome-ignore lint/suspicious/noTemplateCurlyInString: shows the syntax literally.
        'Bearer token sent with every call, e.g. ${KILN_BACKEND_TOKEN}; empty means none. Default: none.',
      ),
    tokenFile: fileSchema
      .optional()
      .describe('File holding the bearer token, read when the server starts. Default: none.'),
    concurrency: countSchema
      .prefault(256)
      .describe('Most calls (streams included) in flight to the backend at once. Default: 256.'),
    timeout: durationSchema
      .prefault('60s')
      .describe('Deadline of each unary call (streams have none). Default: 60s.'),
    maxBatchSize: sizeSchema
      .optional()
      .describe(
        "Largest batch request (BatchReadBlobs, BatchUpdateBlobs); larger blobs use ByteStream. Default: the backend's max_batch_total_size_bytes.",
      ),
  })
  .strict()
  .check((ctx) => {
    const { endpoint, tls, token, tokenFile } = ctx.value;
    if (tls !== undefined && parseGrpcEndpoint(endpoint)?.tls === false) {
      ctx.issues.push({
        code: 'custom',
        input: tls,
        path: ['tls'],
        message: `tls needs a grpcs:// endpoint (endpoint is ${JSON.stringify(endpoint)})`,
      });
    }
    if (token !== undefined && tokenFile !== undefined) {
      ctx.issues.push({
        code: 'custom',
        input: tokenFile,
        path: ['tokenFile'],
        message: 'set token or tokenFile, not both',
      });
    }
  })
  .describe(
    'Another REAPI server (a storage Kiln, Buildbarn, …) as the backend: its CAS when used by storage.cas, its action cache when used by storage.actionCache or storage.assets.',
  );
