/**
 * `/lookup?digest=…[&fn=…][&instance=…]`: the target of the search box on
 * every page. Redirects to the page for what was entered: an operation, a
 * build, an action (by its digest, even when only the action cache knows
 * it) or any other CAS blob.
 */
import type { FastifyInstance } from 'fastify';
import { notFound } from '../../errors.ts';
import { decodeBlob } from '../blob-kind.ts';
import { readHeadIfPresent } from '../blob-reader.ts';
import { parseDigestText } from '../digest-input.ts';
import { pageHandler, queryString } from '../respond.ts';
import type { UiDeps } from '../ui-deps.ts';
import { actionUrl, buildUrl, casUrl, operationUrl } from '../urls.ts';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Blobs up to this size are checked for being an Action before redirecting. */
const ACTION_PROBE_LIMIT = 1024 * 1024;

/** Where a lookup leads. */
export async function resolveLookup(
  deps: UiDeps,
  text: string,
  fnName: string | undefined,
  instanceName: string,
): Promise<string> {
  const input = text.trim();
  if (/^operations\/\S+$/.test(input)) return operationUrl(input);
  // Bazel's invocation ids are UUIDs; the build page also finds builds the
  // tracker has forgotten but whose operations the scheduler still holds.
  if (input !== '' && (deps.builds.get(input) !== undefined || UUID.test(input))) {
    return buildUrl(input);
  }
  const digest = parseDigestText(input, fnName);
  const head =
    digest.size <= ACTION_PROBE_LIMIT
      ? await readHeadIfPresent(deps.cas, digest, ACTION_PROBE_LIMIT)
      : (await deps.cas.findMissing([digest])).length === 0
        ? { data: Buffer.alloc(0), truncated: true }
        : undefined;
  if (head !== undefined) {
    const isAction =
      !head.truncated && digest.size > 0 && decodeBlob(digest, head.data)?.kind === 'action';
    return isAction ? actionUrl(digest, instanceName) : casUrl(digest);
  }
  if ((await deps.actionCache.get(instanceName, digest)) !== undefined) {
    return actionUrl(digest, instanceName);
  }
  throw notFound(
    `${digest.fn.name}/${digest.hash}/${digest.size} is neither a blob in the CAS nor an action ` +
      'in the action cache (never uploaded, or evicted)',
  );
}

/** Registers `/lookup`. */
export function registerLookup(app: FastifyInstance, deps: UiDeps): void {
  app.get<{ Querystring: Record<string, unknown> }>(
    '/lookup',
    pageHandler(deps.log, async (request, reply) => {
      const q = request.query;
      const target = await resolveLookup(
        deps,
        queryString(q.digest) ?? '',
        queryString(q.fn),
        queryString(q.instance) ?? '',
      );
      reply.redirect(target, 303);
      return undefined;
    }),
  );
}
