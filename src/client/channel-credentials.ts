/**
 * Channel credentials from TLS files, the same for every Kiln client that
 * dials a server: the client commands and `kiln worker`.
 */
import { readFile } from 'node:fs/promises';
import { type ChannelCredentials, credentials } from '@grpc/grpc-js';

/** TLS files as given on the command line; `{}` is TLS with the system's CAs. */
export interface ClientTlsFiles {
  /** PEM CA certificates to trust instead of the system's. */
  readonly ca?: string;
  /** PEM client certificate, for mutual TLS (with `key`). */
  readonly cert?: string;
  /** PEM private key of `cert`. */
  readonly key?: string;
}

/**
 * Plaintext without `tls`, else TLS with the files read now. Errors name the
 * option (`--tls-ca` and so on) and the file.
 */
export async function channelCredentials(
  tls: ClientTlsFiles | undefined,
): Promise<ChannelCredentials> {
  if (tls === undefined) return credentials.createInsecure();
  if ((tls.cert === undefined) !== (tls.key === undefined)) {
    throw new Error('--tls-cert and --tls-key go together (a client certificate and its key)');
  }
  const read = async (flag: string, path: string | undefined) => {
    if (path === undefined) return null;
    try {
      return await readFile(path);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      const why = code === 'ENOENT' ? 'no such file' : (err as Error).message;
      throw new Error(`cannot read ${flag} ${path}: ${why}`);
    }
  };
  const [ca, cert, key] = await Promise.all([
    read('--tls-ca', tls.ca),
    read('--tls-cert', tls.cert),
    read('--tls-key', tls.key),
  ]);
  try {
    return credentials.createSsl(ca, key, cert);
  } catch (err) {
    throw new Error(`the TLS files are not usable: ${(err as Error).message}`);
  }
}
