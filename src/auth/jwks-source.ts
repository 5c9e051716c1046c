/**
 * The JSON Web Key Set that JWTs are verified against, from a file or an
 * https:// URL: loaded at start, loaded again every refresh interval and
 * when a token names a key the set does not hold (at most once per
 * `minRefreshMs`, however many such tokens arrive), bounded in bytes and
 * keys. A load that fails keeps the previous set, with an error logged.
 */
import { readFile, stat } from 'node:fs/promises';
import { get } from 'node:https';
import { createLocalJWKSet, errors, type JSONWebKeySet, type JWTVerifyGetKey } from 'jose';
import type { Logger } from '../util/logger.ts';

/** Largest key set accepted, in bytes. */
export const MAX_JWKS_BYTES = 1 << 20;
/** Most keys a key set may hold. */
export const MAX_JWKS_KEYS = 100;
/** Least time between two loads caused by unknown keys, by default. */
export const DEFAULT_MIN_JWKS_REFRESH_MS = 10_000;
const FETCH_TIMEOUT_MS = 5000;

/** Options for {@link JwksSource.open}. */
export interface JwksSourceOptions {
  /** A JWKS file. One of file and url. */
  readonly file?: string;
  /** An https:// URL. One of file and url. */
  readonly url?: string;
  /** PEM CA certificates to trust for `url` instead of the system's. */
  readonly ca?: Buffer;
  /** How often the set is loaded again. */
  readonly refreshMs: number;
  /** Least time between loads caused by unknown keys; {@link DEFAULT_MIN_JWKS_REFRESH_MS} by default. */
  readonly minRefreshMs?: number;
  readonly log: Logger;
}

/** The current key set, kept up to date; `getKey` is jose's key resolver. */
export class JwksSource {
  readonly #options: JwksSourceOptions;
  readonly #where: string;
  readonly #timer: NodeJS.Timeout;
  #keys: JWTVerifyGetKey | undefined;
  #lastLoadAt = Number.NEGATIVE_INFINITY;
  #loading: Promise<boolean> | undefined;
  #lastError: string | undefined;

  private constructor(options: JwksSourceOptions) {
    this.#options = options;
    this.#where =
      options.url !== undefined
        ? `auth.jwt.jwksUrl ${options.url}`
        : `auth.jwt.jwksFile ${options.file}`;
    this.#timer = setInterval(() => void this.#load(), options.refreshMs);
    this.#timer.unref();
  }

  /**
   * Loads the set. A file that does not load is an error (a start-up
   * mistake); a URL that does not answer is logged and tried again when a
   * token arrives, so an identity provider that is down does not stop Kiln.
   */
  static async open(options: JwksSourceOptions): Promise<JwksSource> {
    const source = new JwksSource(options);
    const loaded = await source.#load();
    if (!loaded && options.file !== undefined) {
      source.close();
      throw new Error(source.#lastError);
    }
    return source;
  }

  /** Where the keys come from, for messages. */
  get where(): string {
    return this.#where;
  }

  /** Stops the periodic loads. */
  close(): void {
    clearInterval(this.#timer);
  }

  /** The key for a token's header; loads the set again (rate-bounded) for an unknown key. */
  readonly getKey: JWTVerifyGetKey = async (header, token) => {
    const keys = this.#keys;
    if (keys !== undefined) {
      try {
        return await keys(header, token);
      } catch (err) {
        if (!(err instanceof errors.JWKSNoMatchingKey)) throw err;
      }
    }
    const minRefreshMs = this.#options.minRefreshMs ?? DEFAULT_MIN_JWKS_REFRESH_MS;
    const reloaded =
      this.#loading ??
      (Date.now() - this.#lastLoadAt >= minRefreshMs ? this.#load() : Promise.resolve(false));
    await reloaded;
    const now = this.#keys;
    if (now === undefined) {
      throw new errors.JWKSNoMatchingKey(
        `no key set is loaded from ${this.#where} (${this.#lastError ?? 'not loaded yet'})`,
      );
    }
    return now(header, token);
  };

  /** Loads the set once (concurrent callers share one load); true when it loaded. */
  #load(): Promise<boolean> {
    if (this.#loading !== undefined) return this.#loading;
    this.#lastLoadAt = Date.now();
    const loading = this.#read()
      .then((jwks) => {
        const keys = createLocalJWKSet(jwks);
        const first = this.#keys === undefined;
        this.#keys = keys;
        this.#lastError = undefined;
        this.#options.log.info(
          { jwks: this.#where, keys: jwks.keys.length },
          first ? 'JWT key set loaded' : 'JWT key set reloaded',
        );
        return true;
      })
      .catch((err: Error) => {
        this.#lastError = err.message;
        this.#options.log.error(
          { err: err.message, jwks: this.#where },
          this.#keys === undefined
            ? 'JWT key set does not load; JWTs are refused until it does'
            : 'JWT key set does not load; the previous keys stay in force',
        );
        return false;
      })
      .finally(() => {
        this.#lastLoadAt = Date.now();
        this.#loading = undefined;
      });
    this.#loading = loading;
    return loading;
  }

  async #read(): Promise<JSONWebKeySet> {
    const { file, url, ca } = this.#options;
    const text = url !== undefined ? await fetchBounded(url, ca) : await readBounded(file ?? '');
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (err) {
      throw new Error(`${this.#where} is not JSON: ${(err as Error).message}`);
    }
    const keys = (parsed as { keys?: unknown } | null)?.keys;
    if (!Array.isArray(keys) || !keys.every((k) => typeof k === 'object' && k !== null)) {
      throw new Error(`${this.#where} is not a JSON Web Key Set (an object with a "keys" array)`);
    }
    if (keys.length > MAX_JWKS_KEYS) {
      throw new Error(`${this.#where} holds ${keys.length} keys, more than ${MAX_JWKS_KEYS}`);
    }
    return parsed as JSONWebKeySet;
  }
}

async function readBounded(file: string): Promise<string> {
  try {
    const { size } = await stat(file);
    if (size > MAX_JWKS_BYTES) throw new Error(`it has ${size} bytes, more than ${MAX_JWKS_BYTES}`);
    return await readFile(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new Error(
      `auth.jwt.jwksFile: cannot read ${file}: ${code === 'ENOENT' ? 'no such file' : (err as Error).message}`,
    );
  }
}

/** GETs `url` (no redirects), refusing answers that are not 200 or are too large or slow. */
function fetchBounded(url: string, ca: Buffer | undefined): Promise<string> {
  const fail = (why: string) => new Error(`auth.jwt.jwksUrl: cannot fetch ${url}: ${why}`);
  return new Promise((resolve, reject) => {
    const req = get(
      url,
      { ca, timeout: FETCH_TIMEOUT_MS, headers: { accept: 'application/json' } },
      (res) => {
        if (res.statusCode !== 200) {
          res.resume();
          reject(fail(`HTTP status ${res.statusCode}`));
          return;
        }
        const chunks: Buffer[] = [];
        let bytes = 0;
        res.on('data', (chunk: Buffer) => {
          bytes += chunk.length;
          if (bytes > MAX_JWKS_BYTES) {
            req.destroy(fail(`the answer is larger than ${MAX_JWKS_BYTES} bytes`));
            return;
          }
          chunks.push(chunk);
        });
        res.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
        res.on('error', (err) => reject(fail(err.message)));
      },
    );
    req.on('timeout', () => req.destroy(fail(`no answer within ${FETCH_TIMEOUT_MS} ms`)));
    req.on('error', (err) => reject(err.message.startsWith('auth.jwt') ? err : fail(err.message)));
  });
}
