// Headless-Chromium test of the game view (crates/livescore/web/game.js) on the real binary:
// click a game, see its scoring timeline follow the replay to the same list
// as `GET /api/games/{eid}/events`, chat between two browsers over the
// WebSocket with hostile text staying text, and go back to the board. One
// browser is phone-sized. Leaves test-output/game-view-phone.png.
//
//   cargo build --release && npm ci && node --test tests/browser/
//
// Environment: LIVESCORE_BIN (default target/release/livescore), CHROMIUM_PATH.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const BIN = path.resolve(ROOT, process.env.LIVESCORE_BIN || 'target/release/livescore');
const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const OUT = path.join(ROOT, 'test-output');
const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
  '--disable-component-update', '--disable-quic', '--no-first-run', '--disable-sync',
];
const TIMEOUT_MS = 120_000; // guards hangs only
const EID = '2015091300'; // GB at CHI, 2015 week 1
const HOSTILE = '<img src=x onerror="window.__pwned=1"> & <b>bold</b>';

let server;
let browser;
let baseUrl;
const log = [];
const pageErrors = [];

function startServer() {
  if (!existsSync(BIN)) throw new Error(`server binary not found at ${BIN}: cargo build --release or set LIVESCORE_BIN`);
  server = spawn(BIN, ['demo', '--addr', '127.0.0.1:0', '--speed', '2000'], {
    cwd: mkdtempSync(path.join(tmpdir(), 'livescore-game-view-')),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  createInterface({ input: server.stderr }).on('line', (l) => log.push(l));
  const stdout = createInterface({ input: server.stdout });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no listening line\n${log.slice(-20).join('\n')}`)), TIMEOUT_MS);
    stdout.on('line', (line) => {
      const m = /listening on (http:\/\/\S+)/.exec(line);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    server.once('exit', (code) => reject(new Error(`server exited (${code})\n${log.slice(-20).join('\n')}`)));
  });
}

async function newPage(viewport) {
  const context = await browser.newContext({ viewport });
  const page = await context.newPage();
  page.on('pageerror', (err) => pageErrors.push(String(err)));
  return page;
}

before(async () => {
  baseUrl = await startServer();
  browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
});

after(async () => {
  await browser?.close();
  if (server && server.exitCode === null) {
    const exited = new Promise((r) => server.once('exit', r));
    server.kill('SIGTERM');
    await exited;
  }
});

test('a game opens with its timeline, chat goes both ways as text, and Back returns', { timeout: TIMEOUT_MS * 2 }, async () => {
  const desk = await newPage({ width: 1200, height: 900 });
  await desk.goto(`${baseUrl}/`);
  const card = desk.locator(`.game[data-eid="${EID}"]`);
  await card.waitFor({ timeout: TIMEOUT_MS });
  await card.click();
  await desk.waitForFunction(() => !document.getElementById('game-view').hidden
    && document.getElementById('board').hidden
    && document.getElementById('gv-title').textContent.includes('Bears'), null, { timeout: TIMEOUT_MS });
  assert.equal(new URL(desk.url()).hash, `#game/${EID}`);
  await desk.waitForFunction(() => document.getElementById('gv-conn').dataset.state === 'live', null, { timeout: TIMEOUT_MS });

  // The timeline follows the replay to the game's end and matches the API.
  await desk.waitForFunction(() => /^Final/.test(document.getElementById('gv-status').textContent), null, { timeout: TIMEOUT_MS });
  const api = await (await fetch(`${baseUrl}/api/games/${EID}/events`)).json();
  assert.ok(api.length > 0, 'the game had scores');
  await desk.waitForFunction((n) => document.querySelectorAll('#gv-events li').length === n, api.length, { timeout: TIMEOUT_MS });
  const last = api[api.length - 1];
  const top = await desk.locator('#gv-events li').first().locator('.gv-after').textContent();
  assert.equal(top, `${last.away_score}\u2013${last.home_score}`, 'newest score first');
  const header = await desk.locator('.gv-team[data-side="home"] .gv-pts').textContent();
  assert.equal(header, String(last.home_score));

  // A second browser, phone-sized, opened straight on the game's link.
  const phone = await newPage({ width: 390, height: 844 });
  await phone.goto(`${baseUrl}/#game/${EID}`);
  await phone.waitForFunction(() => document.getElementById('gv-conn').dataset.state === 'live', null, { timeout: TIMEOUT_MS });

  await desk.fill('#gv-name', 'alice');
  await desk.fill('#gv-text', HOSTILE);
  await desk.press('#gv-text', 'Enter');
  await phone.fill('#gv-name', 'bob');
  await phone.fill('#gv-text', 'what a catch');
  await phone.click('.gv-send');

  const chatOf = (page) => page.waitForFunction(
    () => document.querySelectorAll('#gv-messages li').length >= 2,
    null,
    { timeout: TIMEOUT_MS },
  ).then(() => page.$$eval('#gv-messages li', (lis) => lis.map((li) => [
    li.querySelector('.gv-msg-name').textContent,
    li.querySelector('.gv-msg-text').textContent,
  ])));
  const deskChat = await chatOf(desk);
  const phoneChat = await chatOf(phone);
  assert.deepEqual(deskChat, phoneChat, 'both see the same messages in the same order');
  assert.ok(deskChat.some(([n, t]) => n === 'alice' && t === HOSTILE), 'hostile text arrives as text');
  for (const page of [desk, phone]) {
    assert.equal(await page.evaluate(() => window.__pwned), undefined, 'chat text never runs');
    assert.equal(await page.locator('#gv-messages img, #gv-messages b').count(), 0, 'chat text never becomes markup');
  }
  // The phone layout fits the screen: no sideways scrolling.
  const overflow = await phone.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, `phone view overflows by ${overflow}px`);
  mkdirSync(OUT, { recursive: true });
  await phone.screenshot({ path: path.join(OUT, 'game-view-phone.png'), fullPage: true });

  // Errors from the server (here: over the chat rate limit) are shown.
  for (let i = 0; i < 8; i++) {
    await phone.fill('#gv-text', `spam ${i}`);
    await phone.click('.gv-send');
  }
  await phone.waitForFunction(() => /rate limit/.test(document.getElementById('gv-error').textContent), null, { timeout: TIMEOUT_MS });

  // Back to the board.
  await desk.click('#gv-back');
  await desk.waitForFunction(() => document.getElementById('game-view').hidden && !document.getElementById('board').hidden, null, { timeout: TIMEOUT_MS });
  assert.equal(await desk.locator('.game').count(), 16);
  assert.deepEqual(pageErrors, []);
});
