// Headless-Chromium smoke test of the live scoreboard page.
//
// Runs the real binary (`livescore demo`, fast replay of 2015 week 1), opens
// its page in Chromium and checks, without ever reloading, that the page
// connects, shows all 16 games, follows score changes live (the board once,
// then merge patches: `?delta=true`), and ends on the 16 official final
// scores. Leaves screenshots in test-output/
// (scoreboard-live.png mid-replay, scoreboard.png, scoreboard-phone.png).
//
//   cargo build --release && npm ci && node --test tests/browser/
//
// Environment:
//   LIVESCORE_BIN       server binary (default target/release/livescore)
//   CHROMIUM_PATH       browser (default /usr/bin/chromium; Debian: apt-get install chromium)
//   LIVESCORE_SPEED     replay speed passed to `demo --speed` (default 600)

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { OFFICIAL, OUT, Server, allFinal, launchBrowser, readBoard, waitFor as waitOn, wrongFinals } from './lib.mjs';

const SPEED = process.env.LIVESCORE_SPEED || '600';

// Bounds that only guard against hangs; none is a timing assertion.
const CONNECT_TIMEOUT_MS = 60_000;
const SCORE_CHANGE_TIMEOUT_MS = 90_000;
const REPLAY_END_TIMEOUT_MS = 150_000;

let server;
let workDir;
let baseUrl;
let browser;
let page;
const pageErrors = [];
let connected = false;
/** Every SSE message the page received (DevTools protocol): name and size. */
const messages = [];

/** waitFor on this file's page, with page errors and server output on failure. */
function waitFor(what, fn, arg, timeout) {
  return waitOn(page, what, fn, arg, timeout, () =>
    `${pageErrors.length ? `\npage errors: ${pageErrors.join('; ')}` : ''}${server?.tail() ?? ''}`);
}

before(async () => {
  // Browser first: a missing or broken Chromium fails fast with a clear message.
  browser = await launchBrowser();
  workDir = mkdtempSync(path.join(tmpdir(), 'livescore-browser-'));
  server = new Server({ args: ['demo', '--addr', '127.0.0.1:0', '--speed', SPEED], cwd: workDir });
  baseUrl = await server.start();
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  page = await context.newPage();
  page.on('pageerror', (err) => pageErrors.push(String(err)));
  const cdp = await context.newCDPSession(page);
  await cdp.send('Network.enable');
  cdp.on('Network.eventSourceMessageReceived', (m) => messages.push({ event: m.eventName, bytes: m.data.length }));
});

after(async () => {
  await browser?.close().catch(() => {});
  await server?.stop();
  if (workDir) rmSync(workDir, { recursive: true, force: true });
});

test('page loads, connects to the stream and shows all 16 games', async () => {
  const res = await page.goto(baseUrl, { waitUntil: 'domcontentloaded' });
  assert.equal(res?.status(), 200, `GET ${baseUrl} answered ${res?.status()}`);
  // Marks this document: if it were ever reloaded the mark would be gone.
  await page.evaluate(() => { window.__smokeNoReload = true; });
  await waitFor(
    'the indicator says "live" and 16 game cards are shown',
    () => document.getElementById('conn')?.dataset.state === 'live' && document.querySelectorAll('.game').length === 16,
    undefined,
    CONNECT_TIMEOUT_MS,
  );
  const board = await readBoard(page);
  assert.deepEqual(Object.keys(board).sort(), [...OFFICIAL.keys()].sort(), 'the cards are the 16 games of the week');
  assert.equal((await page.textContent('#conn'))?.trim(), 'live', 'the connection indicator reads "live"');
  assert.match(await page.textContent('#week'), /2015 · Week 1 · Regular season/);
  connected = true;
});

test('a score changes on the page without a reload', async (t) => {
  if (!connected) return t.skip('page never connected');
  // Count score highlights from now on: the page must flag changes, not just swap digits.
  await page.evaluate(() => {
    window.__smokeHighlights = 0;
    new MutationObserver((records) => {
      for (const r of records) if (r.target.classList.contains('changed')) window.__smokeHighlights += 1;
    }).observe(document.getElementById('board'), { subtree: true, attributes: true, attributeFilter: ['class'] });
  });
  const before = await readBoard(page);
  await waitFor(
    'some score on the page changes',
    (initial) =>
      [...document.querySelectorAll('.game')].some((card) => {
        const was = initial[card.dataset.eid];
        const home = Number(card.querySelector('[data-side="home"] .score').textContent);
        const away = Number(card.querySelector('[data-side="away"] .score').textContent);
        return was && (was.home !== home || was.away !== away);
      }),
    before,
    SCORE_CHANGE_TIMEOUT_MS,
  );
  assert.equal(await page.evaluate(() => window.__smokeNoReload), true, 'the page was reloaded');
  assert.equal((await page.textContent('#conn'))?.trim(), 'live', 'the connection indicator reads "live"');
  await waitFor('the changed score is highlighted', () => window.__smokeHighlights > 0, undefined, 5_000);
  mkdirSync(OUT, { recursive: true });
  await page.screenshot({ path: path.join(OUT, 'scoreboard-live.png'), fullPage: true });
});

test('when the replay ends every game shows its official final score', async (t) => {
  if (!connected) return t.skip('page never connected');
  await waitFor('every game is final', allFinal, undefined, REPLAY_END_TIMEOUT_MS);
  assert.equal(await page.evaluate(() => window.__smokeNoReload), true, 'the page was reloaded');
  const wrong = wrongFinals(await readBoard(page));
  assert.deepEqual(wrong, [], `finals differ from crates/livescore/data/nfl-2015-week1.json:\n${wrong.join('\n')}`);
  assert.deepEqual(pageErrors, [], 'no uncaught errors in the page');
  // It got there on patches: the whole board once, then (nearly) only what changed.
  const count = (name) => messages.filter((m) => m.event === name).length;
  const bytes = (name) => messages.filter((m) => m.event === name).reduce((n, m) => n + m.bytes, 0);
  assert.ok(count('update') >= 1, `the board came whole first (${JSON.stringify(messages.slice(0, 3))})`);
  assert.ok(count('patch') > count('update'), `more patches (${count('patch')}) than boards (${count('update')})`);
  const perPatch = bytes('patch') / count('patch');
  const perBoard = bytes('update') / count('update');
  assert.ok(perBoard >= 10 * perPatch, `a patch (${perPatch.toFixed(0)} B) is a tenth of a board (${perBoard.toFixed(0)} B) or less`);

  // Let the last highlight fade so the picture shows the resting page.
  await page.waitForFunction(() => !document.querySelector('.score.changed'), undefined, { timeout: 5_000 }).catch(() => {});
  mkdirSync(OUT, { recursive: true });
  await page.screenshot({ path: path.join(OUT, 'scoreboard.png'), fullPage: true });
});

test('phone-sized viewport: no horizontal overflow, large scores', async (t) => {
  if (!connected) return t.skip('page never connected');
  await page.setViewportSize({ width: 360, height: 740 });
  const layout = await page.evaluate(() => ({
    scrollWidth: document.documentElement.scrollWidth,
    scoreFontPx: parseFloat(getComputedStyle(document.querySelector('.game .score')).fontSize),
  }));
  mkdirSync(OUT, { recursive: true });
  await page.screenshot({ path: path.join(OUT, 'scoreboard-phone.png') });
  assert.ok(layout.scrollWidth <= 360, `page is ${layout.scrollWidth}px wide on a 360px screen`);
  assert.ok(layout.scoreFontPx >= 24, `scores are only ${layout.scoreFontPx}px on a phone`);
});
