/**
 * The CAS browser: `/cas` (lookup and store statistics), `/cas/:fn/:hash/:size`
 * (a blob shown as what it is: Directory, Tree, Action, Command or file) and
 * `/cas/:fn/:hash/:size/download` (the raw bytes, streamed).
 */
import { Readable } from 'node:stream';
import { status } from '@grpc/grpc-js';
import type { FastifyInstance, FastifyReply } from 'fastify';
import type { VNode } from 'preact';
import { type Digest, digestOf } from '../../digest/digest.ts';
import { hasCode, invalidArgument, type KilnError, notFound } from '../../errors.ts';
import {
  Directory,
  type Tree,
} from '../../gen/build/bazel/remote/execution/v2/remote_execution.js';
import type { StoreStats } from '../../storage/blob-store.ts';
import { BLOB_KINDS, type BlobKind, type DecodedBlob, decodeBlob } from '../blob-kind.ts';
import { readHeadIfPresent } from '../blob-reader.ts';
import { fileView, treeView } from '../components/blob-views.ts';
import { actionFields, commandView } from '../components/command-view.ts';
import { fullDigest } from '../components/digest-link.ts';
import { directoryListing } from '../components/directory-listing.ts';
import { layout, lookupForm } from '../components/layout.ts';
import { digestFromParams } from '../digest-input.ts';
import { formatAge, formatBytes, formatCount, formatDuration } from '../format.ts';
import { html } from '../html.ts';
import { pageHandler, queryString, setSecurityHeaders } from '../respond.ts';
import type { UiDeps } from '../ui-deps.ts';
import { actionUrl, casUrl, downloadUrl } from '../urls.ts';

/** Blobs up to this size are decoded as messages; larger ones are files. */
const DECODE_LIMIT = 4 * 1024 * 1024;
/** A file's text is shown up to this many bytes. */
const TEXT_LIMIT = 1024 * 1024;

type DigestParams = { fn: string; hash: string; size: string };

/** The CAS landing page. */
export function casIndexPage(stats: StoreStats | undefined, nowMs: number): VNode {
  return layout({
    title: 'CAS',
    section: 'cas',
    body: html`<div>
      <p>
        Paste a digest as Bazel prints it (<code>HASH/SIZE</code>), as <code>HASH-SIZE</code>,
        <code>sha256/HASH/SIZE</code> or a ByteStream resource name. Action digests open the
        action with its Command and cached result; directories open as listings.
      </p>
      ${lookupForm('', true)}
      <h2>Store</h2>
      ${
        stats === undefined
          ? html`<p class="muted">This CAS backend reports no statistics.</p>`
          : html`<table class="kv">
            <tbody>
              <tr><th>Size</th><td>${formatBytes(stats.bytes)} of ${formatBytes(stats.maxBytes)}</td></tr>
              <tr><th>Blobs</th><td>${formatCount(stats.blobs)}</td></tr>
              <tr><th>Evictions</th><td>${formatCount(stats.evictions)} (${formatBytes(stats.evictedBytes)})</td></tr>
              <tr>
                <th>Reach</th>
                <td>
                  ${
                    stats.oldestAccessMs === undefined
                      ? '—'
                      : `${formatDuration(nowMs - stats.oldestAccessMs)}: the least recently used blob was last used ${formatAge(nowMs, stats.oldestAccessMs)}`
                  }
                </td>
              </tr>
            </tbody>
          </table>`
      }
    </div>`,
  });
}

async function treeChildren(tree: Tree, fn: Digest['fn']): Promise<Map<string, Directory>> {
  const map = new Map<string, Directory>();
  for (const child of tree.children) {
    const d = await digestOf(fn, Directory.encode(child).finish());
    map.set(d.key, child);
  }
  return map;
}

async function contentView(
  digest: Digest,
  decoded: DecodedBlob,
  data: Buffer,
  truncated: boolean,
  path: string,
): Promise<VNode> {
  switch (decoded.kind) {
    case 'directory':
      return directoryListing(decoded.directory, digest.fn, path);
    case 'tree':
      return treeView(decoded.tree, await treeChildren(decoded.tree, digest.fn), digest.fn, path);
    case 'action':
      return html`<div>
        <p><a href=${actionUrl(digest)}>Open the action page</a> for its Command and cached result.</p>
        ${actionFields(decoded.action, undefined)}
      </div>`;
    case 'command':
      return commandView(decoded.command, digest);
    case 'file':
      return fileView(
        data.subarray(0, TEXT_LIMIT),
        truncated || data.length > TEXT_LIMIT,
        digest.size,
      );
  }
}

const KIND_LABELS: Record<BlobKind, string> = {
  directory: 'Directory',
  tree: 'Tree',
  action: 'Action',
  command: 'Command',
  file: 'File',
};

/** The smart view of one blob. */
export async function blobPage(
  digest: Digest,
  data: Buffer,
  truncated: boolean,
  forced: BlobKind | undefined,
  path: string,
): Promise<VNode> {
  const canDecode = !truncated && digest.size <= DECODE_LIMIT;
  const decoded = canDecode ? decodeBlob(digest, data, forced) : undefined;
  const shown: DecodedBlob = decoded ?? { kind: 'file' };
  const name = path.split('/').pop() || digest.hash;
  const note =
    forced !== undefined && forced !== 'file' && decoded === undefined
      ? html`<p class="problems">This blob is not a valid ${KIND_LABELS[forced]}; it is shown as a file.</p>`
      : null;
  return layout({
    title: path === '' ? KIND_LABELS[shown.kind] : path,
    section: 'cas',
    subtitle: html`<span>${KIND_LABELS[shown.kind]} · ${fullDigest(digest)} · ${formatBytes(digest.size)}</span>`,
    body: html`<div class="blob" data-kind=${shown.kind}>
      <p class="blob-actions">
        <a href=${downloadUrl(digest, name)} download=${name}>Download</a>
        <span class="muted"> · view as </span>
        ${BLOB_KINDS.map(
          (k, i) =>
            html`<span>${i > 0 ? ' · ' : ''}<a href=${casUrl(digest, { path, as: k })} class=${k === shown.kind ? 'current' : undefined}>${k}</a></span>`,
        )}
      </p>
      ${note}
      ${await contentView(digest, shown, data, truncated, path)}
    </div>`,
  });
}

/** A file name safe for Content-Disposition: no directories, quotes or control characters. */
export function contentDisposition(name: string): string {
  const base = name.split(/[/\\]/).pop() ?? '';
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters must not reach a header.
  const cleaned = base.replace(/[\u0000-\u001f\u007f"]/g, '').trim() || 'blob';
  const ascii = cleaned.replace(/[^\x20-\x7e]/g, '_');
  return `attachment; filename="${ascii}"; filename*=UTF-8''${encodeURIComponent(cleaned)}`;
}

/** The 404 for a blob the CAS does not hold. */
export function blobNotFound(digest: Digest): KilnError {
  return notFound(
    `blob ${digest.fn.name}/${digest.hash}/${digest.size} is not in the CAS: ` +
      'it was never uploaded, or it has been evicted',
  );
}

function parseKind(value: string | undefined): BlobKind | undefined {
  if (value === undefined || value === '') return undefined;
  if (!BLOB_KINDS.includes(value as BlobKind)) {
    throw invalidArgument(`unknown view "${value}"; expected one of ${BLOB_KINDS.join(', ')}`);
  }
  return value as BlobKind;
}

async function sendDownload(
  reply: FastifyReply,
  deps: UiDeps,
  digest: Digest,
  name: string | undefined,
): Promise<void> {
  // Opened before the headers go out, so a missing blob is still a 404 page.
  let body: AsyncIterable<Uint8Array>;
  try {
    body = await deps.cas.get(digest);
  } catch (err) {
    throw hasCode(err, status.NOT_FOUND) ? blobNotFound(digest) : err;
  }
  setSecurityHeaders(reply)
    .header('content-type', 'application/octet-stream')
    .header('content-length', String(digest.size))
    .header('content-disposition', contentDisposition(name ?? digest.hash))
    .header('cache-control', 'public, max-age=31536000, immutable');
  reply.send(Readable.from(body, { objectMode: false }));
}

/** Registers the CAS browser routes. */
export function registerCasPages(app: FastifyInstance, deps: UiDeps): void {
  app.get(
    '/cas',
    pageHandler(deps.log, async () => casIndexPage(await deps.metrics.casStats(), Date.now())),
  );
  app.get<{ Params: DigestParams; Querystring: Record<string, unknown> }>(
    '/cas/:fn/:hash/:size',
    pageHandler(deps.log, async (request) => {
      const { fn, hash, size } = request.params;
      const digest = digestFromParams(fn, hash, size);
      const forced = parseKind(queryString(request.query.as));
      const path = queryString(request.query.path) ?? '';
      const limit = forced === 'file' || digest.size > DECODE_LIMIT ? TEXT_LIMIT : DECODE_LIMIT;
      const head = await readHeadIfPresent(deps.cas, digest, limit);
      if (head === undefined) throw blobNotFound(digest);
      return blobPage(digest, head.data, head.truncated, forced, path);
    }),
  );
  app.get<{ Params: DigestParams; Querystring: Record<string, unknown> }>(
    '/cas/:fn/:hash/:size/download',
    pageHandler(deps.log, async (request, reply) => {
      const { fn, hash, size } = request.params;
      const digest = digestFromParams(fn, hash, size);
      await sendDownload(reply, deps, digest, queryString(request.query.name));
      return undefined;
    }),
  );
}
