// The dashboard (GET /) in a real browser: Debian's Chromium driven by playwright-core. Traffic
// goes through the gateway first; then what the page shows is checked against what the gateway
// itself reports (/metrics, /api/cache/stats), and a screenshot is saved under build/.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { useStack } from '../support/stack.js';

const repository = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const adminToken = 'dashboard-test-admin-token';
const browserPath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

const stack = useStack();

async function chat(gateway, prompt) {
  const answer = await fetch(`${gateway.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ model: 'fake-model', messages: [{ role: 'user', content: prompt }] }),
  });
  await answer.arrayBuffer();
  assert.equal(answer.status, 200);
  return answer.headers.get('x-cache');
}

async function stats(gateway) {
  const answer = await fetch(`${gateway.url}/api/cache/stats`, {
    headers: { Authorization: `Bearer ${adminToken}` },
  });
  assert.equal(answer.status, 200);
  return answer.json();
}

test('the dashboard shows what the gateway reports, and invalidates', async (t) => {
  assert.ok(existsSync(browserPath), `${browserPath} missing: scripts/bootstrap installs chromium`);
  const gateway = await stack.gateway({ OPENCODE_CACHE_ADMIN_TOKEN: adminToken });
  const answers = [];
  for (const prompt of ['one', 'two', 'three']) {
    answers.push(await chat(gateway, prompt), await chat(gateway, prompt));
  }
  assert.deepEqual(answers, ['MISS', 'HIT', 'MISS', 'HIT', 'MISS', 'HIT']);

  // Chromium's sandbox needs user namespaces that a root CI container may not have.
  const browser = await chromium.launch({ executablePath: browserPath, args: ['--no-sandbox'] });
  t.after(() => browser.close());
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  // Script errors, and requests the gateway refused. The live events are optional: a gateway
  // without /api/events must leave the page working.
  const eventsOffered = (await fetch(`${gateway.url}/api/events`, { method: 'HEAD' })).status !== 404;
  const problems = [];
  page.on('pageerror', (error) => problems.push(error.message));
  page.on('response', (response) => {
    const path = new URL(response.url()).pathname;
    if (response.status() >= 400 && (eventsOffered || path !== '/api/events')) {
      problems.push(`${response.status()} ${path}`);
    }
  });

  await page.goto(`${gateway.url}/`);
  await page.fill('#token', adminToken);
  await page.dispatchEvent('#token', 'change');
  await page.waitForFunction(() => document.querySelector('#namespaces .row') !== null);

  const reported = await stats(gateway);
  assert.equal(await page.textContent('#hits'), '3');
  assert.equal(await page.textContent('#misses'), '3');
  assert.equal(await page.textContent('#hit-ratio'), '50.0 %');
  assert.equal(await page.textContent('#breaker'), 'closed');
  assert.notEqual(await page.textContent('#tokens-saved'), '0');
  const shownKeys = await page.$$eval('#namespaces .row', (rows) =>
    Object.fromEntries(rows.map((row) => [row.children[0].textContent, row.children[1].textContent])),
  );
  assert.equal(shownKeys.response, String(reported.keys.response));
  assert.equal(reported.keys.response, 3);
  assert.match(await page.textContent('#memory'), /\d+(\.\d)? (B|KB|MB)/);

  const screenshots = join(repository, 'build');
  mkdirSync(screenshots, { recursive: true });
  await page.screenshot({ path: join(screenshots, 'dashboard.png'), fullPage: true });

  // The invalidation control, with the admin token the page holds.
  await page.selectOption('#inv-kind', 'namespace');
  await page.fill('#inv-value', 'response');
  await page.click('#invalidate button');
  await page.waitForFunction(() => document.querySelector('#inv-result').textContent !== '');
  assert.equal(await page.textContent('#inv-result'), 'deleted 3');
  assert.equal((await stats(gateway)).keys.response ?? 0, 0);
  assert.equal(await chat(gateway, 'one'), 'MISS');
  assert.deepEqual(problems, []);
});
