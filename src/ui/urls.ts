/**
 * Every URL the web UI links to, built in one place so that links and routes
 * cannot drift apart. Path segments and query values are percent-encoded.
 */
import type { Digest } from '../digest/digest.ts';

/** Extra context a CAS view shows: the blob's path (breadcrumbs, download name) and instance. */
export interface CasLinkOptions {
  /** Path of the file or directory inside its tree, shown as context and used for downloads. */
  readonly path?: string;
  /** Force a view instead of detecting the blob's kind: `directory`, `tree`, `file`, … */
  readonly as?: string;
}

function query(params: Record<string, string | undefined>): string {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== '') search.set(key, value);
  }
  const s = search.toString();
  return s === '' ? '' : `?${s}`;
}

function digestPath(d: Digest): string {
  return `${d.fn.name}/${d.hash}/${d.size}`;
}

/** The smart CAS view of a blob. */
export function casUrl(d: Digest, options: CasLinkOptions = {}): string {
  return `/cas/${digestPath(d)}${query({ path: options.path, as: options.as })}`;
}

/** A raw download of a blob, saved as `name`. */
export function downloadUrl(d: Digest, name?: string): string {
  return `/cas/${digestPath(d)}/download${query({ name })}`;
}

/** The Action view: Action, Command and the cached ActionResult. */
export function actionUrl(d: Digest, instanceName = ''): string {
  return `/action/${digestPath(d)}${query({ instance: instanceName })}`;
}

/** The operation detail page; `name` is the full `operations/<id>` name. */
export function operationUrl(name: string): string {
  const id = name.startsWith('operations/') ? name.slice('operations/'.length) : name;
  return `/operations/${encodeURIComponent(id)}`;
}

/** The operation name a `/operations/:id` URL refers to. */
export function operationNameOf(id: string): string {
  return `operations/${id}`;
}

/** Filters of the operations list. */
export interface OperationsFilter {
  readonly state?: string;
  readonly instance?: string;
  readonly build?: string;
  readonly page?: string;
}

/** The operations list with filters. */
export function operationsUrl(filter: OperationsFilter = {}): string {
  return `/operations${query({ ...filter })}`;
}

/** One build (tool invocation). */
export function buildUrl(invocationId: string): string {
  return `/builds/${encodeURIComponent(invocationId)}`;
}

/** Filters and page of the workers list (see workers-data.ts). */
export interface WorkersLinkFilter {
  readonly platform?: string;
  readonly state?: string;
  readonly name?: string;
  readonly page?: string;
}

/** The workers list with filters; page 1 is left out of the link. */
export function workersUrl(filter: WorkersLinkFilter = {}): string {
  const page = filter.page === '1' ? undefined : filter.page;
  return `/workers${query({ platform: filter.platform, state: filter.state, name: filter.name, page })}`;
}
