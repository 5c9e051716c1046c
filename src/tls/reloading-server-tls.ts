/**
 * The server's TLS files (certificate, key, client CA), read and checked at
 * start and re-read when they change, so that a certificate rotates without
 * a restart. A change that does not make a usable set (a half-written file,
 * a key that does not match the certificate) is logged as an error and the
 * servers keep the last good set.
 */
import { X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createSecureContext, type SecureContextOptions } from 'node:tls';
import type { Logger } from '../util/logger.ts';
import { filesState, PolledFiles } from '../util/polled-files.ts';

/** The files, as configured (`server.tls`). */
export interface ServerTlsFiles {
  readonly cert: string;
  readonly key: string;
  /** Present for mutual TLS. */
  readonly clientCa?: string;
}

/** One usable set of the files' contents. */
export interface ServerTlsMaterial {
  readonly cert: Buffer;
  readonly key: Buffer;
  readonly clientCa?: Buffer;
}

/** Options for {@link ReloadingServerTls.open}. */
export interface ReloadingServerTlsOptions {
  readonly files: ServerTlsFiles;
  readonly log: Logger;
  /** How often the files are checked for changes; 1 s by default. */
  readonly pollIntervalMs?: number;
}

/** What a server does with a new set. */
export type TlsMaterialListener = (material: ServerTlsMaterial) => void;

/** The current TLS material of the servers, kept up to date with the files. */
export class ReloadingServerTls {
  readonly files: ServerTlsFiles;
  readonly #log: Logger;
  readonly #listeners = new Set<TlsMaterialListener>();
  /**
   * Reloads once the files have changed and then stayed unchanged for one
   * interval, so that a rotation writing the certificate and the key one
   * after the other is read as a whole, not as a mismatched pair. Polling,
   * not fs.watch: rotation often replaces a file by rename or swaps a
   * symlink (Kubernetes secrets, certbot), which a watch on the old inode misses.
   */
  readonly #polled: PolledFiles;
  #current: ServerTlsMaterial;

  private constructor(
    options: ReloadingServerTlsOptions,
    material: ServerTlsMaterial,
    state: string,
  ) {
    this.files = options.files;
    this.#log = options.log;
    this.#current = material;
    this.#polled = new PolledFiles({
      paths: pathsOf(options.files),
      intervalMs: options.pollIntervalMs ?? 1000,
      loadedState: state,
      reload: () => this.#reload(),
      onError: (err) =>
        this.#log.error(
          { err: err.message, ...this.files },
          'TLS files changed but are not usable; still serving the previous certificate',
        ),
    });
  }

  /** Reads and checks the files; rejects with a message naming the bad file. */
  static async open(options: ReloadingServerTlsOptions): Promise<ReloadingServerTls> {
    // The state before the contents: a change after it is then seen by the first check.
    const state = await filesState(pathsOf(options.files)).catch(() => 'unreadable');
    const material = await readMaterial(options.files);
    options.log.info(
      { ...certificateFields(material), ...options.files },
      'TLS certificate loaded',
    );
    return new ReloadingServerTls(options, material, state);
  }

  /** Whether clients must present a certificate signed by the client CA. */
  get mutual(): boolean {
    return this.#current.clientCa !== undefined;
  }

  /** The last good material. */
  get current(): ServerTlsMaterial {
    return this.#current;
  }

  /** Calls `listener` with every new material; returns the unsubscribe function. */
  onChange(listener: TlsMaterialListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Stops watching the files. */
  close(): void {
    this.#polled.close();
    this.#listeners.clear();
  }

  async #reload(): Promise<void> {
    const material = await readMaterial(this.files);
    this.#current = material;
    this.#log.info({ ...certificateFields(material), ...this.files }, 'TLS certificate reloaded');
    for (const listener of this.#listeners) listener(material);
  }
}

function pathsOf(files: ServerTlsFiles): string[] {
  return [files.cert, files.key, files.clientCa].filter((p) => p !== undefined);
}

/** The options of a TLS server (gRPC or HTTPS) for `material`. */
export function secureContextOptions(material: ServerTlsMaterial): SecureContextOptions {
  return { cert: material.cert, key: material.key, ca: material.clientCa };
}

/** Reads the files and checks they make a usable set; the error names the culprit. */
async function readMaterial(files: ServerTlsFiles): Promise<ServerTlsMaterial> {
  const read = async (field: string, path: string): Promise<Buffer> => {
    try {
      return await readFile(path);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      throw new Error(
        `server.tls.${field}: cannot read ${path}: ${code === 'ENOENT' ? 'no such file' : (err as Error).message}`,
      );
    }
  };
  const [cert, key, clientCa] = await Promise.all([
    read('cert', files.cert),
    read('key', files.key),
    files.clientCa === undefined ? undefined : read('clientCa', files.clientCa),
  ]);
  const material = { cert, key, clientCa };
  parseCertificate('cert', files.cert, cert);
  // An unparsable CA file would otherwise be accepted silently, trusting no one.
  if (clientCa !== undefined) parseCertificate('clientCa', files.clientCa ?? '', clientCa);
  try {
    createSecureContext(secureContextOptions(material));
  } catch (err) {
    throw new Error(
      `server.tls.key: ${files.key} is not a usable private key for ${files.cert}: ${(err as Error).message}`,
    );
  }
  return material;
}

function parseCertificate(field: string, path: string, pem: Buffer): X509Certificate {
  try {
    return new X509Certificate(pem);
  } catch (err) {
    throw new Error(
      `server.tls.${field}: ${path} holds no PEM certificate: ${(err as Error).message}`,
    );
  }
}

/** What a log line says about a loaded certificate. */
function certificateFields(material: ServerTlsMaterial): Record<string, string | boolean> {
  const cert = new X509Certificate(material.cert);
  return {
    subject: cert.subject.replaceAll('\n', ', '),
    serial: cert.serialNumber,
    validTo: new Date(cert.validTo).toISOString(),
    mutual: material.clientCa !== undefined,
  };
}
