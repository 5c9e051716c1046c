/**
 * Outbound HTTP(S) GETs for Fetch, on undici: redirects followed by hand (so
 * that every hop passes the {@link OutboundPolicy} and a bounded count),
 * connections made through the policy's checked DNS lookup, an optional
 * proxy, and HTTP failures turned into {@link OriginError}s with the gRPC
 * code the Remote Asset API prescribes.
 */
import { isIP } from 'node:net';
import { status } from '@grpc/grpc-js';
import type { buildConnector, Dispatcher } from 'undici';
import {
  findOriginError,
  OriginError,
  originDenied,
  originNotFound,
  originUnavailable,
} from './origin-error.ts';
import { type OutboundPolicy, redact } from './outbound-policy.ts';
import type { HeaderMap } from './qualifiers.ts';

/** Options of {@link HttpFetcher}. */
export interface HttpFetcherOptions {
  /** Decides which URLs and addresses may be contacted. */
  readonly policy: OutboundPolicy;
  /**
   * HTTP(S) proxy for every request. The proxy then resolves host names, so
   * only names and literal addresses can be checked, not resolved addresses.
   */
  readonly proxy?: string | undefined;
  /** Longest wait for a TCP/TLS connection, in ms. */
  readonly connectTimeoutMs: number;
  /** Most redirects followed for one URL. */
  readonly maxRedirects: number;
}

/** A successful response whose body is still to be read. */
export interface HttpResponse {
  /** The URL that answered, after redirects. */
  readonly url: URL;
  /** The body, with backpressure. */
  readonly body: AsyncIterable<Uint8Array>;
  /** The announced length, when the origin sent one. */
  readonly contentLength: number | undefined;
  /** Drops the rest of the body and its connection; call it whether or not the body was read. */
  release(): void;
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);

/**
 * TLS connections offer HTTP/1.1 only. undici 8 also offers h2 by default;
 * downloads keep the one protocol whose body backpressure the fetch path is
 * tested with, until HTTP/2 gets tests of its own.
 */
const HTTP1_ONLY = { allowH2: false } as const;

/** Downloads with the policy applied to every hop and every connection. */
export class HttpFetcher {
  readonly #options: HttpFetcherOptions;
  readonly #policy: OutboundPolicy;
  readonly #maxRedirects: number;
  /** Made on the first request: undici is loaded then, not at server start (10 MB of memory). */
  #dispatcher: Promise<Dispatcher> | undefined;

  constructor(options: HttpFetcherOptions) {
    this.#options = options;
    this.#policy = options.policy;
    this.#maxRedirects = options.maxRedirects;
  }

  #getDispatcher(): Promise<Dispatcher> {
    this.#dispatcher ??= import('undici').then(({ Agent, ProxyAgent, buildConnector }) => {
      const { policy, proxy, connectTimeoutMs } = this.#options;
      if (proxy === undefined) {
        return new Agent({ connect: guardedConnector(buildConnector, policy, connectTimeoutMs) });
      }
      // CONNECT for http:// URLs too (undici 8 would forward them instead), so a
      // proxy that allows only tunnels keeps working and an origin gets the same
      // request with or without a proxy.
      return new ProxyAgent({
        uri: proxy,
        connectTimeout: connectTimeoutMs,
        proxyTunnel: true,
        proxyTls: HTTP1_ONLY,
        requestTls: HTTP1_ONLY,
      });
    });
    return this.#dispatcher;
  }

  /**
   * GETs `url`, following redirects. Resolves once a 200 response's headers
   * arrived; rejects with an OriginError for denied, unreachable or failing
   * origins, and with `signal.reason` once `signal` aborts. Caller-given
   * headers are dropped when a redirect leaves the origin, so credentials for
   * one host never reach another.
   */
  async get(url: URL, headers: HeaderMap, signal: AbortSignal): Promise<HttpResponse> {
    let current = url;
    let sent = headers;
    for (let hop = 0; ; hop++) {
      let response: Dispatcher.ResponseData;
      try {
        this.#policy.checkUrl(current);
        const dispatcher = await this.#getDispatcher();
        response = await dispatcher.request({
          origin: current.origin,
          path: `${current.pathname}${current.search}`,
          method: 'GET',
          headers: requestHeaders(current, sent),
          signal,
        });
      } catch (err) {
        const failure = requestFailure(err, current, signal);
        const fromRedirect = hop > 0 && !signal.aborted && failure instanceof OriginError;
        throw fromRedirect ? redirected(failure, url) : failure;
      }
      const { statusCode } = response;
      const body = response.body;
      const release = (): void => {
        // Destroying an unfinished undici body emits 'error'; nobody is reading it any more.
        body.on('error', () => {});
        body.destroy();
      };
      if (statusCode === 200 || statusCode === 203) {
        return { url: current, body, contentLength: lengthOf(response.headers), release };
      }
      release();
      if (!REDIRECTS.has(statusCode)) throw httpFailure(statusCode, current);
      const location = response.headers.location;
      if (typeof location !== 'string' || !URL.canParse(location, current)) {
        throw originUnavailable(`${redact(current)}: HTTP ${statusCode} without a usable Location`);
      }
      if (hop >= this.#maxRedirects) {
        throw originUnavailable(
          `${redact(url)}: more than ${this.#maxRedirects} redirects (remoteAsset.maxRedirects)`,
        );
      }
      const next = new URL(location, current);
      if (next.origin !== current.origin) sent = {};
      current = next;
    }
  }

  /** Closes idle connections and aborts requests in flight. */
  async close(): Promise<void> {
    if (this.#dispatcher !== undefined) await (await this.#dispatcher).destroy();
  }
}

/**
 * The error for a failed body read or request: the abort reason once the
 * signal fired, an OriginError found in the cause chain (a refused address,
 * its message starting with the URL), otherwise UNAVAILABLE with the network
 * error's message.
 */
export function requestFailure(err: unknown, url: URL, signal: AbortSignal): Error {
  if (signal.aborted) return signal.reason as Error;
  const origin = findOriginError(err);
  if (origin !== undefined) {
    const at = `${redact(url)}: `;
    return origin.message.startsWith(at)
      ? origin
      : new OriginError(origin.code, `${at}${origin.message}`, origin);
  }
  const code = (err as { code?: string } | undefined)?.code;
  const message = err instanceof Error ? err.message : String(err);
  return originUnavailable(`${redact(url)}: ${message}${code ? ` (${code})` : ''}`, err);
}

/** `failure` of a redirect target, saying which URI redirected there. */
function redirected(failure: OriginError, from: URL): OriginError {
  return new OriginError(
    failure.code,
    `${failure.message} (reached by a redirect from ${redact(from)})`,
    failure,
  );
}

/** The OriginError for a final HTTP status other than 200. */
function httpFailure(statusCode: number, url: URL): OriginError {
  const message = `${redact(url)}: HTTP ${statusCode}`;
  if (statusCode === 404 || statusCode === 410) return originNotFound(message);
  if (statusCode === 401 || statusCode === 403 || statusCode === 407) return originDenied(message);
  if (statusCode === 429) return new OriginError(status.RESOURCE_EXHAUSTED, message);
  if (statusCode >= 400 && statusCode < 500 && statusCode !== 408) {
    return new OriginError(status.FAILED_PRECONDITION, message);
  }
  return originUnavailable(message);
}

/** Sent unless the client gave one; some origins refuse requests without a User-Agent. */
const USER_AGENT = 'Kiln-RemoteAsset/1';

/**
 * Caller headers, a User-Agent, and Basic credentials from the URL's user
 * info when there is some and no Authorization header was given.
 */
function requestHeaders(url: URL, headers: HeaderMap): Record<string, string | string[]> {
  const result: Record<string, string | string[]> = { 'user-agent': USER_AGENT };
  for (const [name, values] of Object.entries(headers)) {
    result[name] = values.length === 1 ? (values[0] as string) : [...values];
  }
  if ((url.username !== '' || url.password !== '') && result.authorization === undefined) {
    const user = decodeURIComponent(url.username);
    const password = decodeURIComponent(url.password);
    result.authorization = `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
  }
  return result;
}

function lengthOf(headers: Record<string, string | string[] | undefined>): number | undefined {
  const value = headers['content-length'];
  if (typeof value !== 'string' || !/^\d+$/.test(value)) return undefined;
  const n = Number(value);
  return Number.isSafeInteger(n) ? n : undefined;
}

/**
 * undici's connector with the policy applied three ways: literal addresses
 * (which are never looked up) before connecting, every looked-up address
 * through the policy's `lookup`, and the connected peer's address afterwards,
 * as a last line should a future connector path skip the lookup.
 */
function guardedConnector(
  build: typeof buildConnector,
  policy: OutboundPolicy,
  timeout: number,
): buildConnector.connector {
  const connect = build({ lookup: policy.lookup, timeout, ...HTTP1_ONLY });
  return (options, callback) => {
    const host = options.hostname.replace(/^\[(.*)\]$/, '$1');
    // undici gives IPv6 hosts without brackets, which a URL needs.
    const urlHost = isIP(host) === 6 ? `[${host}]` : host;
    try {
      policy.checkUrl(new URL(`${options.protocol}//${urlHost}`));
    } catch (err) {
      callback(err as OriginError, null);
      return;
    }
    connect(options, (err, socket) => {
      if (err !== null) {
        callback(err, null);
        return;
      }
      const peer = socket.remoteAddress;
      try {
        if (peer !== undefined) policy.checkAddress(peer, host);
      } catch (denied) {
        socket.destroy();
        callback(denied as OriginError, null);
        return;
      }
      callback(null, socket);
    });
  };
}
