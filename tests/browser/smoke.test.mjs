// Headless-Chromium smoke test of the live scoreboard page.
//
// Runs the real binary (`livescore demo`, fast replay of 2015 week 1), opens
// its page in Chromium and checks, without ever reloading, that the page
// connects, shows all 16 games, follows score changes live, and ends on the
// 16 official final scores. Leaves screenshots in test-output/
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
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const BIN = path.resolve(ROOT, process.env.LIVESCORE_BIN || 'target/release/livescore');
const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const SPEED = process.env.LIVESCORE_SPEED || '600';
const OUT = path.join(ROOT, 'test-output');
const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
  '--disable-component-update', '--disable-quic', '--no-first-run', '--disable-sync',
];

// Bounds that only guard against hangs; none is a timing assertion.
const LISTEN_TIMEOUT_MS = 60_000;
const CONNECT_TIMEOUT_MS = 60_000;
const SCORE_CHANGE_TIMEOUT_MS = 90_000;
const REPLAY_END_TIMEOUT_MS = 150_000;

/** The official result of every game: eid -> {home, away, overtime}. */
const week = JSON.parse(readFileSync(path.join(ROOT, 'data/nfl-2015-week1.json'), 'utf8'));
const OFFICIAL = new Map(
  week.games.map((g) => [g.eid, { home: g.home.final, away: g.away.final, overtime: g.final_quarter === 'FO' }]),
);

let server;          // child process
let serverLog = [];  // last lines of its stdout + stderr, for failure messages
let workDir;
let baseUrl;
let browser;
let page;
const pageErrors = [];
let connected = false;

function remember(line) {
  serverLog.push(line);
  if (serverLog.length > 200) serverLog = serverLog.slice(-200);
}

function serverTail() {
  return serverLog.length ? `\n--- server output (last lines) ---\n${serverLog.slice(-40).join('\n')}` : '';
}

/** Start `livescore demo` and resolve with its URL once it prints the listening line. */
function startServer() {
  if (!existsSync(BIN)) {
    throw new Error(`server binary not found at ${BIN}: run \`cargo build --release\` or set LIVESCORE_BIN`);
  }
  workDir = mkdtempSync(path.join(tmpdir(), 'livescore-browser-'));
  server = spawn(BIN, ['demo', '--addr', '127.0.0.1:0', '--speed', SPEED], {
    cwd: workDir,
    env: { ...process.env, NO_COLOR: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  // Keep draining both pipes for the whole run, so the server never blocks on a full pipe.
  createInterface({ input: server.stderr }).on('line', remember);
  const stdout = createInterface({ input: server.stdout });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`no "listening on http://…" line within ${LISTEN_TIMEOUT_MS / 1000} s${serverTail()}`)),
      LISTEN_TIMEOUT_MS,
    );
    stdout.on('line', (line) => {
      remember(line);
      const m = /listening on (http:\/\/\S+)/.exec(line);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    server.once('error', (err) => {
      clearTimeout(timer);
      reject(new Error(`cannot start ${BIN}: ${err.message}`));
    });
    server.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`server exited early (code ${code}, signal ${signal})${serverTail()}`));
    });
  });
}

async function stopServer() {
  if (!server || server.exitCode !== null || server.signalCode !== null) return;
  const exited = new Promise((resolve) => server.once('exit', resolve));
  server.kill('SIGTERM');
  const timer = setTimeout(() => server.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}

/** Every card's scores, read from the page: eid -> {state, home, away, status}. */
function readBoard() {
  return page.evaluate(() =>
    Object.fromEntries(
      [...document.querySelectorAll('.game')].map((card) => [
        card.dataset.eid,
        {
          state: card.dataset.state,
          status: card.querySelector('.status-text')?.textContent ?? '',
          home: Number(card.querySelector('[data-side="home"] .score')?.textContent),
          away: Number(card.querySelector('[data-side="away"] .score')?.textContent),
          homeLoser: card.querySelector('[data-side="home"]')?.classList.contains('loser') ?? false,
          awayLoser: card.querySelector('[data-side="away"]')?.classList.contains('loser') ?? false,
        },
      ]),
    ),
  );
}

/** waitForFunction with a message that says what was awaited and what the page showed. */
async function waitFor(what, fn, arg, timeout) {
  try {
    await page.waitForFunction(fn, arg, { timeout, polling: 250 });
  } catch (err) {
    const snapshot = await page
      .evaluate(() => ({
        conn: document.getElementById('conn')?.dataset.state,
        cards: document.querySelectorAll('.game').length,
        states: [...document.querySelectorAll('.game')].map((c) => `${c.dataset.eid}:${c.dataset.state}`).join(' '),
      }))
      .catch(() => ({}));
    throw new Error(
      `timed out after ${timeout / 1000} s waiting until ${what}: ${err.message.split('\n')[0]}\n` +
        `page: ${JSON.stringify(snapshot)}${pageErrors.length ? `\npage errors: ${pageErrors.join('; ')}` : ''}${serverTail()}`,
    );
  }
}

before(async () => {
  // Browser first: a missing or broken Chromium fails fast with a clear message.
  try {
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, timeout: 60_000 });
  } catch (err) {
    throw new Error(
      `Chromium could not start from ${CHROMIUM} (install it with \`apt-get install -y chromium\` ` +
        `or set CHROMIUM_PATH): ${err.message}`,
    );
  }
  baseUrl = await startServer();
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  page = await context.newPage();
  page.on('pageerror', (err) => pageErrors.push(String(err)));
});

after(async () => {
  await browser?.close().catch(() => {});
  await stopServer();
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
  const board = await readBoard();
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
  const before = await readBoard();
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
  await waitFor(
    'every game is final',
    () => {
      const cards = [...document.querySelectorAll('.game')];
      return cards.length === 16 && cards.every((c) => c.dataset.state === 'final' || c.dataset.state === 'final_overtime');
    },
    undefined,
    REPLAY_END_TIMEOUT_MS,
  );
  assert.equal(await page.evaluate(() => window.__smokeNoReload), true, 'the page was reloaded');
  const board = await readBoard();
  const wrong = [];
  for (const [eid, want] of OFFICIAL) {
    const got = board[eid];
    const wantState = want.overtime ? 'final_overtime' : 'final';
    const wantStatus = want.overtime ? 'Final/OT' : 'Final';
    if (!got || got.home !== want.home || got.away !== want.away || got.state !== wantState || got.status !== wantStatus) {
      wrong.push(`${eid}: page ${JSON.stringify(got)}, official ${want.away}-${want.home} ${wantState}`);
      continue;
    }
    if (got.homeLoser !== want.home < want.away || got.awayLoser !== want.away < want.home) {
      wrong.push(`${eid}: losing team not dimmed as expected: ${JSON.stringify(got)}`);
    }
  }
  assert.deepEqual(wrong, [], `finals differ from data/nfl-2015-week1.json:\n${wrong.join('\n')}`);
  assert.deepEqual(pageErrors, [], 'no uncaught errors in the page');

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
