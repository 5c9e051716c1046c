/**
 * The web UI's entry point: pages rendered on the server, a small
 * stylesheet and a small live-update script, sign-in, and the one action
 * (cancel) for admins. `createServer` calls {@link registerUi} on the HTTP
 * server with the same objects the gRPC services use, after the access
 * layer ({@link uiAccessRegistrar}). See docs/web-ui.md for every page and URL.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { RouteRegistrar } from '../http/http-server.ts';
import type { WebAccess } from '../http/web-access.ts';
import { registerActionPage } from './pages/action-page.ts';
import { registerBuildsPages } from './pages/builds-page.ts';
import { registerCasPages } from './pages/cas-page.ts';
import { registerLookup } from './pages/lookup-page.ts';
import { registerOperationPage } from './pages/operation-page.ts';
import { registerOperationsPage } from './pages/operations-page.ts';
import { registerOverviewPage } from './pages/overview-page.ts';
import { registerSignInPages } from './pages/signin-page.ts';
import { registerWorkersPage } from './pages/workers-page.ts';
import { errorPage, sendPage, setSecurityHeaders } from './respond.ts';
import type { UiDeps } from './ui-deps.ts';

const ASSETS_DIR = join(import.meta.dirname, 'assets');

/** Static files under `/ui/`, with their content types. */
const ASSETS: readonly { file: string; type: string }[] = [
  { file: 'app.js', type: 'text/javascript; charset=utf-8' },
  { file: 'style.css', type: 'text/css; charset=utf-8' },
  { file: 'favicon.svg', type: 'image/svg+xml' },
];

/**
 * The access layer of the HTTP server (sessions, who may read what), with
 * refusals answered by error pages. Register it before every route,
 * `/metrics` included.
 */
export function uiAccessRegistrar(access: WebAccess): RouteRegistrar {
  return access.registrar((reply, denial) =>
    sendPage(reply, errorPage(denial.statusCode, denial.message), denial.statusCode),
  );
}

/**
 * Registers every UI route on `app`, after {@link uiAccessRegistrar}. Call
 * before the server starts listening.
 */
export async function registerUi(app: FastifyInstance, deps: UiDeps): Promise<void> {
  for (const asset of ASSETS) {
    const body = await readFile(join(ASSETS_DIR, asset.file));
    app.get(`/ui/${asset.file}`, async (_request, reply) =>
      setSecurityHeaders(reply)
        .type(asset.type)
        // Short: a restarted server may ship a new version under the same name.
        .header('cache-control', 'public, max-age=300')
        .send(body),
    );
  }
  registerOverviewPage(app, deps);
  registerBuildsPages(app, deps);
  registerOperationsPage(app, deps);
  registerOperationPage(app, deps);
  registerWorkersPage(app, deps);
  registerCasPages(app, deps);
  registerActionPage(app, deps);
  registerLookup(app, deps);
  registerSignInPages(app, deps);
}
