// The web UI in a real headless Chromium, after a real Bazel remote build on Kiln.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { type BrowserContext, chromium, type Page } from 'playwright-core';
import { type Exposition, parsePrometheusText } from '../observe/prometheus-text.ts';
import { freePort } from '../support/free-port.ts';
import { ROOT } from '../support/kiln-process.ts';
import { runBazel } from './bazel-harness.ts';
import { startKilnSession } from './kiln-session.ts';

const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
/** Screenshots of every page, kept as test artifacts (gitignored). */
const ARTIFACTS = join(ROOT, 'test-artifacts', 'ui');
/** What `//ui:hello_ui` prints on stdout. */
const KNOWN_STDOUT = 'kiln-ui-e2e: hello from the web UI test';

/** Chromium for the test; skips locally without it, fails under CI. */
function requireChromium(t: TestContext): boolean {
  if (existsSync(CHROMIUM)) return true;
  const message = `chromium not found at ${CHROMIUM}`;
  if (process.env.CI === 'true') {
    throw new Error(`${message}; CI must run the web UI browser test (apt-get install chromium)`);
  }
  t.skip(message);
  return false;
}

/** A port that was free a moment ago, for `--http-listen`. */
async function launch(t: TestContext): Promise<BrowserContext> {
  const userDataDir = await mkdtemp(join(tmpdir(), 'kiln-chromium-'));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
    viewport: { width: 1280, height: 900 },
  });
  t.after(async () => {
    await context.close();
    await rm(userDataDir, { recursive: true, force: true });
  });
  return context;
}

/** Fetches and parses `/metrics` (the parser throws on anything that is not exposition format). */
async function scrape(base: string): Promise<Exposition> {
  const response = await fetch(`${base}/metrics`);
  assert.equal(response.status, 200);
  assert.match(response.headers.get('content-type') ?? '', /^text\/plain/);
  return parsePrometheusText(await response.text());
}

async function screenshot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });
}

test('the web UI shows a real remote build in a real browser', {
  timeout: 15 * 60_000,
}, async (t) => {
  if (!requireChromium(t)) return;
  const port = await freePort();
  const session = await startKilnSession(t, ['--http-listen', `127.0.0.1:${port}`]);
  if (session === undefined) return;
  const base = `http://127.0.0.1:${port}`;
  await mkdir(ARTIFACTS, { recursive: true });

  const before = await scrape(base);
  const ws = await session.newWorkspace();
  const result = await runBazel(ws, [
    'build',
    '//ui:hello_ui',
    `--remote_executor=grpc://${session.kiln.address}`,
    '--remote_timeout=120',
  ]);
  assert.equal(result.code, 0, result.stderr);
  assert.ok(
    `${result.stdout}${result.stderr}`.includes(KNOWN_STDOUT),
    'Bazel shows the stdout too',
  );

  await t.test(
    '/metrics parses as Prometheus text and its counters moved with the build',
    async () => {
      const after = await scrape(base);
      const total = (e: Exposition, name: string, labels: Record<string, string> = {}): number =>
        e.samples
          .filter(
            (x) => x.name === name && Object.entries(labels).every(([k, v]) => x.labels[k] === v),
          )
          .reduce((sum, x) => sum + x.value, 0);
      const moved = (name: string, labels: Record<string, string> = {}): void =>
        assert.ok(
          total(after, name, labels) > total(before, name, labels),
          `${name} ${JSON.stringify(labels)}: ${total(before, name, labels)} -> ${total(after, name, labels)}`,
        );
      moved('kiln_rpc_requests_total', { method: 'Execute', code: 'OK' });
      moved('kiln_rpc_requests_total', { method: 'GetActionResult' });
      moved('kiln_executions_total');
      moved('kiln_cas_written_bytes_total');
      moved('kiln_execution_stage_duration_seconds_count', { stage: 'execution' });
    },
  );

  const context = await launch(t);
  const page = await context.newPage();
  const problems: string[] = [];
  page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
  page.on('response', (response) => {
    if (response.status() >= 400) problems.push(`HTTP ${response.status()}: ${response.url()}`);
  });
  page.on('console', (msg) => {
    if (msg.type() === 'error') problems.push(`console: ${msg.text()}`);
  });

  let invocationId = '';
  await t.test('the overview shows the build and refreshes itself', async () => {
    await page.goto(`${base}/`);
    assert.equal(await page.title(), 'Overview · Kiln');
    assert.equal(await page.textContent('[data-card="builds"] .card-value'), '1');
    assert.match((await page.textContent('[data-card="workers"] .card-value')) ?? '', /^[1-9]/);
    invocationId = (await page.getAttribute('tr[data-invocation]', 'data-invocation')) ?? '';
    assert.match(invocationId, /^[0-9a-f-]{36}$/, 'Bazel sends a UUID tool invocation id');
    // The live-update script ran (the CSP allows it) and refreshed the sections.
    await page.waitForSelector('[data-poll][data-updates]', { timeout: 15_000 });
    assert.equal(await page.textContent('[data-card="builds"] .card-value'), '1');
    await screenshot(page, 'overview');
  });

  let operationLinks: string[] = [];
  await t.test('the build page lists its operations', async () => {
    await page.click(`tr[data-invocation="${invocationId}"] a`);
    await page.waitForURL(`${base}/builds/${invocationId}`);
    operationLinks = await page.$$eval('table.operations a[href^="/operations/"]', (links) =>
      links.map((a) => a.getAttribute('href') ?? ''),
    );
    assert.ok(operationLinks.length >= 1, 'at least the genrule ran remotely');
    const executed = Number(
      await page.textContent('table.build-summary tr:has(th:text-is("Actions executed")) td'),
    );
    assert.ok(executed >= 1, `actions executed: ${executed}`);
    await screenshot(page, 'build');
    await page.goto(`${base}/builds`);
    await screenshot(page, 'builds');
  });

  await t.test('the operation page shows the command and the known stdout', async () => {
    let found = false;
    for (const href of operationLinks) {
      await page.goto(`${base}${href}`);
      const stdout = await page.textContent('section[data-log="stdout.txt"]');
      if (!stdout?.includes(KNOWN_STDOUT)) continue;
      found = true;
      const command = (await page.textContent('pre.cmdline')) ?? '';
      assert.match(command, /kiln-ui-e2e: hello from the web UI test/);
      assert.match(command, /message\.txt/);
      assert.equal(await page.textContent('[data-exit-code]'), '0');
      assert.ok(await page.isVisible('table.timeline .bar-execution'));
      assert.ok(
        await page.isVisible('table.outputs a:text("bazel-out/k8-fastbuild/bin/ui/hello_ui.txt")'),
      );
      await screenshot(page, 'operation');
      break;
    }
    assert.ok(found, `no operation of ${operationLinks.join(', ')} printed the known line`);
  });

  await t.test('the CAS browser navigates from the input root into a directory', async () => {
    await page.click('section.input-root h2 a');
    await page.waitForURL(/\/cas\/sha256\/[0-9a-f]{64}\/\d+\?as=directory$/);
    assert.equal(await page.getAttribute('.blob', 'data-kind'), 'directory');
    await screenshot(page, 'cas-input-root');
    await page.click('table.listing a:text-is("ui/")');
    await page.waitForURL(/path=ui&as=directory$/);
    assert.equal(await page.title(), 'ui · Kiln');
    await screenshot(page, 'cas-directory');
    await page.click('table.listing a:text-is("message.txt")');
    await page.waitForURL(/path=ui%2Fmessage\.txt&as=file$/);
    assert.match(
      (await page.textContent('pre.file-text')) ?? '',
      /the web ui shows this file in the cas browser/,
    );
    await screenshot(page, 'cas-file');
  });

  await t.test('the workers and operations pages render', async () => {
    await page.goto(`${base}/workers`);
    assert.ok(await page.isVisible('tr[data-worker="local"]'));
    await screenshot(page, 'workers');
    await page.goto(`${base}/operations?state=completed`);
    assert.ok((await page.$$('table.operations tbody tr')).length >= 1);
    await screenshot(page, 'operations');
  });

  await t.test('the browser reported no script errors or CSP violations', () => {
    assert.deepEqual(problems, []);
  });
});
