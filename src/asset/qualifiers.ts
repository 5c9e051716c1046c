/**
 * The qualifiers of Remote Asset requests: which ones Kiln understands, their
 * validation, the HTTP headers they carry, and the error for the ones it does
 * not support (INVALID_ARGUMENT with a `google.rpc.BadRequest` detail, as the
 * Remote Asset API asks).
 *
 * Supported names:
 * - `checksum.sri`: expected content hash (sha256, sha384 or sha512 SRI).
 * - `bazel.canonical_id`: an opaque identity, only part of the cache key.
 * - `resource_type`: a media type; accepted, and for FetchDirectory it
 *   selects the archive format.
 * - `http_header:NAME`: a header sent to every URI.
 * - `http_header_url:INDEX:NAME`: a header sent to `uris[INDEX]` only.
 * - `bazel.auth_headers`: Bazel's older form, JSON `{url: {name: value}}`
 *   where a value is a string or a list of strings.
 */
import { status } from '@grpc/grpc-js';
import { invalidArgument, KilnError, quote } from '../errors.ts';
import type { Qualifier } from '../gen/build/bazel/remote/asset/v1/remote_asset.js';
import { BadRequest } from '../gen/google/rpc/error_details.js';
import { parseSri, type SriHash } from './sri.ts';

export const CHECKSUM_SRI = 'checksum.sri';
export const CANONICAL_ID = 'bazel.canonical_id';
export const RESOURCE_TYPE = 'resource_type';
export const AUTH_HEADERS = 'bazel.auth_headers';
/** A subdirectory of the fetched archive: FetchDirectory answers with its digest. */
export const DIRECTORY = 'directory';
const HTTP_HEADER = 'http_header:';
const HTTP_HEADER_URL = 'http_header_url:';

/** Unsupported qualifiers named in an error, and the characters quoted of each. */
const MAX_NAMED = 10;
const QUOTE_NAME = 100;

/** Type URL of the BadRequest detail, as packed into `google.protobuf.Any`. */
export const BAD_REQUEST_TYPE_URL = 'type.googleapis.com/google.rpc.BadRequest';

/** HTTP headers to send: lower-case name → values. */
export type HeaderMap = Readonly<Record<string, readonly string[]>>;

/** The validated qualifiers of one request. */
export interface AssetQualifiers {
  /** Expected hashes from `checksum.sri`, when given. */
  readonly sri: readonly SriHash[] | undefined;
  /** `resource_type`, when given. */
  readonly resourceType: string | undefined;
  /**
   * The path segments of the `directory` qualifier (FetchDirectory only; an
   * empty list is the archive's root), when given.
   */
  readonly directory: readonly string[] | undefined;
  /**
   * Qualifiers that say which content is meant (everything except headers),
   * sorted by name: what associations are keyed by and what responses echo.
   */
  readonly identifying: readonly Qualifier[];
  /** Names Kiln does not support, in request order. Fine for pushed content only. */
  readonly unsupported: readonly string[];
  /** The headers to send to `uris[index]`. */
  headersFor(index: number, uri: string): HeaderMap;
}

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/** Headers that describe the connection or the message framing, which the fetcher owns. */
const RESERVED_HEADERS = new Set([
  'host',
  'content-length',
  'transfer-encoding',
  'connection',
  'keep-alive',
  'upgrade',
  'te',
  'trailer',
  'expect',
]);

/**
 * Validates `qualifiers` of a request with `uriCount` URIs. Names must be
 * unique (the Remote Asset API requires it); supported ones must have valid
 * values. Unsupported names are collected, not rejected: content pushed with
 * any qualifiers may be fetched with them, so only a miss rejects them (see
 * {@link unsupportedQualifiersError}).
 */
export function parseQualifiers(
  qualifiers: readonly Qualifier[],
  uriCount: number,
): AssetQualifiers {
  const seen = new Set<string>();
  const identifying: Qualifier[] = [];
  const unsupported: string[] = [];
  const common: Record<string, string[]> = {};
  const perUri = new Map<number, Record<string, string[]>>();
  let legacy: Record<string, Record<string, string[]>> = {};
  let sri: SriHash[] | undefined;
  let resourceType: string | undefined;
  let directory: string[] | undefined;

  for (const [i, { name, value }] of qualifiers.entries()) {
    if (name === '') throw invalidArgument(`qualifiers[${i}].name is empty`);
    if (seen.has(name)) throw invalidArgument(`qualifier "${name}" is given more than once`);
    seen.add(name);
    if (name.startsWith(HTTP_HEADER)) {
      common[headerName(name.slice(HTTP_HEADER.length), name)] = [headerValue(value, name)];
    } else if (name.startsWith(HTTP_HEADER_URL)) {
      const rest = name.slice(HTTP_HEADER_URL.length);
      const colon = rest.indexOf(':');
      const index = /^\d+$/.test(rest.slice(0, colon)) ? Number(rest.slice(0, colon)) : -1;
      if (colon < 0 || index < 0 || index >= uriCount) {
        throw invalidArgument(
          `qualifier "${name}": expected http_header_url:INDEX:NAME with INDEX below ${uriCount}, the number of uris`,
        );
      }
      const headers = perUri.get(index) ?? {};
      headers[headerName(rest.slice(colon + 1), name)] = [headerValue(value, name)];
      perUri.set(index, headers);
    } else if (name === AUTH_HEADERS) {
      legacy = parseAuthHeaders(value);
    } else {
      if (name === CHECKSUM_SRI) sri = parseSri(value);
      else if (name === RESOURCE_TYPE) resourceType = value.trim().toLowerCase();
      else if (name === DIRECTORY) directory = parseDirectory(value);
      else if (name !== CANONICAL_ID) unsupported.push(name);
      identifying.push({ name, value });
    }
  }
  identifying.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return {
    sri,
    resourceType,
    directory,
    identifying,
    unsupported,
    headersFor(index, uri) {
      return { ...common, ...legacyFor(legacy, uri), ...perUri.get(index) };
    },
  };
}

/**
 * The error for a request with qualifiers Kiln does not support:
 * INVALID_ARGUMENT naming them, with one BadRequest FieldViolation per name
 * (field `qualifiers.name`, description `"NAME" not supported`).
 */
export function unsupportedQualifiersError(names: readonly string[]): KilnError {
  // Client input, quoted in a trailer: cut, and a few names at most (see STATUS_DETAILS_LIMIT).
  const shown = names.slice(0, MAX_NAMED);
  const detail = BadRequest.encode({
    fieldViolations: shown.map((name) => ({
      field: 'qualifiers.name',
      description: `${quote(name, QUOTE_NAME)} not supported`,
      reason: '',
      localizedMessage: undefined,
    })),
  }).finish();
  const more = names.length > shown.length ? ` and ${names.length - shown.length} more` : '';
  const list = shown.map((n) => quote(n, QUOTE_NAME)).join(', ') + more;
  return new KilnError(
    status.INVALID_ARGUMENT,
    `unsupported qualifier${names.length > 1 ? 's' : ''} ${list}; supported: ${CHECKSUM_SRI}, ` +
      `${CANONICAL_ID}, ${RESOURCE_TYPE}, ${DIRECTORY} (FetchDirectory), ${HTTP_HEADER}NAME, ` +
      `${HTTP_HEADER_URL}INDEX:NAME, ${AUTH_HEADERS}`,
    { details: [{ typeUrl: BAD_REQUEST_TYPE_URL, value: Buffer.from(detail) }] },
  );
}

/** Splits a `directory` value into segments; it must stay inside the archive. */
function parseDirectory(value: string): string[] {
  if (value.startsWith('/') || value.includes('\\')) {
    throw invalidArgument(`qualifier "${DIRECTORY}" "${value}": must be a relative path with "/"`);
  }
  const segments = value.split('/').filter((s) => s !== '' && s !== '.');
  if (segments.includes('..')) {
    throw invalidArgument(`qualifier "${DIRECTORY}" "${value}": ".." is not allowed`);
  }
  return segments;
}

function headerName(name: string, qualifier: string): string {
  if (!TOKEN.test(name)) throw invalidArgument(`qualifier "${qualifier}": invalid header name`);
  const lower = name.toLowerCase();
  if (RESERVED_HEADERS.has(lower)) {
    throw invalidArgument(`qualifier "${qualifier}": header ${name} cannot be set by clients`);
  }
  return lower;
}

function headerValue(value: string, qualifier: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: CR, LF and NUL would split the request.
  if (/[\r\n\u0000]/.test(value)) {
    throw invalidArgument(`qualifier "${qualifier}": header value contains CR, LF or NUL`);
  }
  return value;
}

/** Parses `bazel.auth_headers`: `{url: {header: value | [values]}}`. */
function parseAuthHeaders(value: string): Record<string, Record<string, string[]>> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    throw invalidArgument(`qualifier ${AUTH_HEADERS} is not valid JSON`);
  }
  const bad = () =>
    invalidArgument(
      `qualifier ${AUTH_HEADERS}: expected {"<url>": {"<header>": "<value>" or ["<value>", …]}}`,
    );
  if (!isObject(parsed)) throw bad();
  const result: Record<string, Record<string, string[]>> = {};
  for (const [url, headers] of Object.entries(parsed)) {
    if (!isObject(headers)) throw bad();
    const entry: Record<string, string[]> = {};
    for (const [name, values] of Object.entries(headers)) {
      const list = typeof values === 'string' ? [values] : values;
      if (!Array.isArray(list) || !list.every((v) => typeof v === 'string')) throw bad();
      entry[headerName(name, AUTH_HEADERS)] = list.map((v: string) => headerValue(v, AUTH_HEADERS));
    }
    result[normalizeUrl(url)] = entry;
  }
  return result;
}

/** Legacy headers apply to the URL they are keyed by, compared after normalization. */
function legacyFor(
  legacy: Record<string, Record<string, string[]>>,
  uri: string,
): Record<string, string[]> | undefined {
  return Object.hasOwn(legacy, normalizeUrl(uri)) ? legacy[normalizeUrl(uri)] : undefined;
}

function normalizeUrl(url: string): string {
  return URL.canParse(url) ? new URL(url).href : url;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}
