/**
 * The `server.tls` section: the server's certificate and key, and the CA
 * that client certificates must be signed by for mutual TLS. The files are
 * read when the server starts and re-read when they change (see
 * src/tls/reloading-server-tls.ts); the schema only names them.
 */
import { z } from 'zod';

/** `server.tls`: TLS is on when `cert` (and so `key`) is set. */
export interface ServerTlsConfig {
  /** PEM certificate chain file of the server (gRPC and HTTP). */
  readonly cert?: string;
  /** PEM private key file of `cert`. */
  readonly key?: string;
  /** PEM CA certificates file; when set, clients must present a certificate signed by one. */
  readonly clientCa?: string;
}

const fileSchema = z.string().min(1);

/** The schema of `server.tls`. */
export const serverTlsSchema = z
  .object({
    cert: fileSchema
      .optional()
      .describe(
        'PEM file with the server certificate (and its chain) for gRPC and HTTP; turns TLS on, with key. ' +
          'Re-read when it changes. Default: none (plaintext).',
      ),
    key: fileSchema
      .optional()
      .describe('PEM file with the private key of cert; re-read when it changes. Default: none.'),
    clientCa: fileSchema
      .optional()
      .describe(
        'PEM file with the CA certificates that client certificates must be signed by (mutual TLS): ' +
          'clients without such a certificate are refused. Needs cert and key. Default: none.',
      ),
  })
  .strict()
  .describe(
    'TLS for the gRPC and HTTP servers; the files are re-read when they change, so certificates rotate without a restart.',
  );

/**
 * What the schema cannot check alone, because command-line flags may set
 * some of the fields after it ran: a certificate needs its key and a key its
 * certificate, and mutual TLS needs TLS.
 */
export function checkServerTls(tls: ServerTlsConfig): string[] {
  const problems: string[] = [];
  if (tls.cert !== undefined && tls.key === undefined) {
    problems.push('server.tls.key: missing; the certificate server.tls.cert needs its private key');
  }
  if (tls.key !== undefined && tls.cert === undefined) {
    problems.push('server.tls.cert: missing; the private key server.tls.key needs its certificate');
  }
  if (tls.clientCa !== undefined && tls.cert === undefined && tls.key === undefined) {
    problems.push(
      'server.tls.clientCa: mutual TLS needs TLS; set server.tls.cert and server.tls.key too',
    );
  }
  return problems;
}
