// The page on a server whose scoreboard is private (`--auth required`,
// docs/SECURITY.md): opened as `/?access_token=...` it follows the stream
// with its token and shows a change that only the stream brings; without a
// token the stream and the snapshot are refused.
//
//   cargo build --release && npm ci && node --test tests/browser/

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ROOT, Server, allFinal, launchBrowser, waitFor as waitOn } from './lib.mjs';

// Bounds that only guard against hangs; none is a timing assertion.
const TIMEOUT_MS = 60_000;
const SECRET = 'browser-test-secret-0123456789abcdef';

/** An HS256 JWT, signed as an identity provider would. */
function token(claims) {
  const b64 = (v) => Buffer.from(JSON.stringify(v)).toString('base64url');
  const body = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64(claims)}`;
  return `${body}.${createHmac('sha256', SECRET).update(body).digest('base64url')}`;
}

let browser;
let server;
let url;
let workDir;
let feed;

before(async () => {
  browser = await launchBrowser();
  workDir = mkdtempSync(path.join(tmpdir(), 'livescore-auth-browser-'));
  feed = path.join(workDir, 'feed.xml');
  copyFileSync(path.join(ROOT, 'tests/fixtures/ss-2015-w1-midday.xml'), feed);
  server = new Server({
    args: ['serve', '--addr', '127.0.0.1:0', '--jwt-secret', SECRET, '--auth', 'required',
      '--feed', feed, '--poll-interval', '300ms'],
    cwd: workDir,
  });
  url = await server.start();
});

after(async () => {
  await browser?.close().catch(() => {});
  await server?.stop();
  if (workDir) rmSync(workDir, { recursive: true, force: true });
});

/**
 * The page in a new browser context as `/?access_token=<claims + 10 min,
 * following the board, games and chats>`; page errors are collected.
 */
async function openWith(claims) {
  const signed = token({ ...claims, exp: Math.floor(Date.now() / 1000) + 600,
    livescore: { subscribe: ['scores', 'game/*', 'chat/*'] } });
  const page = await (await browser.newContext()).newPage();
  const errors = [];
  page.on('pageerror', (err) => errors.push(String(err)));
  await page.goto(`${url}/?access_token=${signed}`, { waitUntil: 'domcontentloaded' });
  const waitFor = (what, fn) => waitOn(page, what, fn, undefined, TIMEOUT_MS, () => server.tail());
  return { page, errors, waitFor };
}

test('the page reads a private scoreboard with ?access_token=', async () => {
  // Without a token: refused, both the stream and the snapshot.
  const stream = await fetch(`${url}/api/stream?topic=scores`, { headers: { Accept: 'text/event-stream' } });
  assert.equal(stream.status, 401);
  assert.match((await stream.json()).error, /needs a token/);
  assert.equal((await fetch(`${url}/api/`)).status, 401);

  const { page, errors, waitFor } = await openWith({ sub: 'fan-1' });
  await waitFor('the stream is live', () => document.getElementById('conn').dataset.state === 'live');
  await waitFor('the midday board', () => document.querySelectorAll('.game').length === 16);
  assert.ok(!(await page.evaluate(allFinal)), 'midday: games still on');

  // Only the stream brings the finals (the page never reloads).
  copyFileSync(path.join(ROOT, 'tests/fixtures/ss-2015-w1-final.xml'), feed);
  await waitFor('every game final, from the stream', allFinal);
  assert.equal(await page.evaluate(() => document.getElementById('conn').dataset.state), 'live');
  assert.deepEqual(errors, [], 'no uncaught errors in the page');
});

test('chat shows the name from the token, marked as signed in, not the typed one', async () => {
  const { page, errors, waitFor } = await openWith({ sub: '42', name: 'Ada' });
  const card = page.locator('.game').first();
  await card.waitFor({ timeout: TIMEOUT_MS });
  await card.click();
  await waitFor('the game view is live', () => document.getElementById('gv-conn').dataset.state === 'live');

  await page.fill('#gv-name', 'Mallory');
  await page.fill('#gv-text', 'signed hello');
  await page.press('#gv-text', 'Enter');
  await waitFor('the message is back', () => document.querySelectorAll('#gv-messages li').length === 1);
  const shown = await page.$eval('#gv-messages li .gv-msg-name', (n) => ({
    name: n.textContent, verified: n.classList.contains('gv-msg-verified'), title: n.title,
  }));
  assert.deepEqual(shown, { name: 'Ada', verified: true, title: 'signed in (user 42)' });
  assert.deepEqual(errors, [], 'no uncaught errors in the page');
});
