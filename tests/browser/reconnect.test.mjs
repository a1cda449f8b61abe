// Headless-Chromium test of a real outage: the page follows the real binary
// (`livescore demo`, fast replay of 2015 week 1, state in an explicit SQLite
// file), the server is killed with SIGKILL, the page shows "reconnecting",
// the server is started again on the same port and database, and the page,
// never reloaded, catches up by itself, says so ("caught up: N updates", or
// "history reset: showing current scores" if the server could not resume),
// keeps following the replay and ends on the 16 official finals. Leaves
// test-output/scoreboard-final.png (and scoreboard-reconnected.png, taken
// when the notice shows).
//
//   cargo build --release && npm ci && node --test tests/browser/
//
// Environment: LIVESCORE_BIN, CHROMIUM_PATH (see lib.mjs), LIVESCORE_SPEED (default 600).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  OFFICIAL, OUT, Server, allFinal, launchBrowser, readBoard, readSse, waitFor as waitOn, wrongFinals,
} from './lib.mjs';

const SPEED = process.env.LIVESCORE_SPEED || '600';

// Bounds that only guard against hangs; none is a timing assertion.
const CONNECT_TIMEOUT_MS = 60_000;
const SCORE_CHANGE_TIMEOUT_MS = 90_000;
const RECONNECT_TIMEOUT_MS = 60_000;
const REPLAY_END_TIMEOUT_MS = 150_000;
/** How long the server stays down: longer than the stream's `retry: 2000`, so the browser fails at least once. */
const OUTAGE_MS = 4_000;

const CAUGHT_UP = /^caught up: (\d+) updates?$/;
const RESET = /^history reset: showing current scores$/;

let server;
let workDir;
let baseUrl;
let browser;
let page;
const pageErrors = [];
/** Every request the page made for the stream: where it resumed from. */
const streamRequests = [];
let phase = 'start';
let connected = false;
let reconnected = false;

function waitFor(what, fn, arg, timeout) {
  return waitOn(page, what, fn, arg, timeout, () =>
    `\nstream requests: ${JSON.stringify(streamRequests)}` +
    `${pageErrors.length ? `\npage errors: ${pageErrors.join('; ')}` : ''}${server?.tail() ?? ''}`);
}

function demoArgs(addr) {
  // One `retry:` value (not the default 1-5 s range), so the outage below
  // is known to outlast it.
  return ['demo', '--speed', SPEED, '--database-url', `sqlite://${path.join(workDir, 'demo.db')}`, '--addr', addr,
    '--retry-min', '2s', '--retry-max', '2s'];
}

/** Signature of the board's scores and states, to see that it changes. */
function boardKey(board) {
  return JSON.stringify(Object.entries(board).map(([eid, c]) => [eid, c.state, c.status, c.home, c.away]));
}

before(async () => {
  browser = await launchBrowser();
  workDir = mkdtempSync(path.join(tmpdir(), 'livescore-reconnect-'));
  server = new Server({ args: demoArgs('127.0.0.1:0'), cwd: workDir });
  baseUrl = await server.start();
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  page = await context.newPage();
  page.on('pageerror', (err) => pageErrors.push(String(err)));
  page.on('request', (req) => {
    const url = new URL(req.url());
    if (url.pathname !== '/api/stream') return;
    const entry = { phase, query: url.search, lastEventId: null };
    streamRequests.push(entry);
    // allHeaders(): the headers as sent, including Last-Event-ID (headers() may lack it).
    req.allHeaders().then((h) => { entry.lastEventId = h['last-event-id'] ?? null; }, () => {});
  });
});

after(async () => {
  await browser?.close().catch(() => {});
  await server?.stop();
  if (workDir) rmSync(workDir, { recursive: true, force: true });
});

test('the page follows the real server live', async () => {
  const res = await page.goto(baseUrl, { waitUntil: 'domcontentloaded' });
  assert.equal(res?.status(), 200);
  // Marks this document: if it were ever reloaded the mark would be gone.
  await page.evaluate(() => {
    window.__reconnectNoReload = true;
    // Record every notice and indicator state, however briefly shown.
    window.__notices = [];
    window.__connStates = [];
    const notice = document.getElementById('notice');
    const conn = document.getElementById('conn');
    new MutationObserver(() => {
      if (notice.textContent) window.__notices.push(notice.textContent);
    }).observe(notice, { childList: true, characterData: true, subtree: true });
    new MutationObserver(() => window.__connStates.push(conn.dataset.state))
      .observe(conn, { attributes: true, attributeFilter: ['data-state'] });
  });
  await waitFor(
    'the indicator says "live" and 16 game cards are shown',
    () => document.getElementById('conn')?.dataset.state === 'live' && document.querySelectorAll('.game').length === 16,
    undefined,
    CONNECT_TIMEOUT_MS,
  );
  const board = await readBoard(page);
  assert.deepEqual(Object.keys(board).sort(), [...OFFICIAL.keys()].sort(), 'the cards are the 16 games of the week');
  await waitFor(
    'some score on the page changes',
    (initial) =>
      [...document.querySelectorAll('.game')].some((card) => {
        const was = initial[card.dataset.eid];
        const home = Number(card.querySelector('[data-side="home"] .score').textContent);
        const away = Number(card.querySelector('[data-side="away"] .score').textContent);
        return was && (was.home !== home || was.away !== away);
      }),
    board,
    SCORE_CHANGE_TIMEOUT_MS,
  );
  assert.ok(!(await allFinalOnPage()), 'the replay is still running (else the outage proves nothing)');
  assert.equal(await page.evaluate(() => window.__notices.length), 0, 'no notice on the first connect');
  connected = true;
});

function allFinalOnPage() {
  return page.evaluate(allFinal);
}

test('server killed: reconnecting; restarted on the same port and database: the page catches up by itself', async (t) => {
  if (!connected) return t.skip('page never connected');
  const port = new URL(baseUrl).port;
  phase = 'outage';
  await server.stop('SIGKILL');
  await waitFor(
    'the indicator shows reconnecting',
    () => document.getElementById('conn')?.dataset.state === 'reconnecting',
    undefined,
    10_000,
  );
  assert.match((await page.textContent('#conn'))?.trim(), /^reconnecting/);
  await new Promise((resolve) => setTimeout(resolve, OUTAGE_MS));
  assert.equal(await page.getAttribute('#conn', 'data-state'), 'reconnecting', 'still reconnecting while the server is down');

  phase = 'restarted';
  const again = await server.start(demoArgs(`127.0.0.1:${port}`));
  assert.equal(new URL(again).port, port, 'the server is back on the same port');

  await waitFor(
    'the page shows what the reconnect did',
    () => (window.__notices ?? []).length > 0,
    undefined,
    RECONNECT_TIMEOUT_MS,
  );
  const notices = await page.evaluate(() => window.__notices);
  const text = notices[0];
  assert.ok(CAUGHT_UP.test(text) || RESET.test(text), `unexpected notice ${JSON.stringify(text)}`);
  t.diagnostic(`notice: ${text}`);
  assert.ok(await page.isVisible('#notice'), 'the notice is visible');
  assert.equal(await page.getAttribute('#conn', 'data-state'), 'live');
  assert.equal(await page.evaluate(() => window.__reconnectNoReload), true, 'the page was reloaded');
  mkdirSync(OUT, { recursive: true });
  await page.screenshot({ path: path.join(OUT, 'scoreboard-reconnected.png') });

  // The stream request that reconnected resumed from an id the page had.
  const resumed = streamRequests.filter((r) => r.phase === 'restarted');
  t.diagnostic(`stream requests: ${JSON.stringify(streamRequests)}`);
  assert.ok(resumed.length > 0, 'the page reconnected to the restarted server');
  const last = resumed[resumed.length - 1];
  const id = last.lastEventId ?? new URLSearchParams(last.query).get('lastEventId');
  assert.match(id ?? '', /^.+-\d+$/, `the reconnect carried no Last-Event-ID: ${JSON.stringify(last)}`);
  reconnected = true;

  // The count is right: the page counted the updates after the id it resumed
  // from (data-since) up to the server's newest id when it reconnected
  // (data-head). Ask the server for the same replay and count them.
  const info = await page.evaluate(() => ({ ...document.getElementById('notice').dataset }));
  t.diagnostic(`notice data: ${JSON.stringify(info)}`);
  if (CAUGHT_UP.test(text)) {
    const n = Number(CAUGHT_UP.exec(text)[1]);
    assert.equal(info.since, id, 'the page counted from the id it resumed with');
    const seq = (s) => Number(/-(\d+)$/.exec(s ?? '')?.[1]);
    const headSeq = seq(info.head);
    assert.ok(Number.isFinite(headSeq), `no head id on the notice: ${JSON.stringify(info)}`);
    const replay = await readSse(`${new URL('/api/stream?topic=scores', baseUrl)}`, {
      headers: { 'Last-Event-ID': info.since },
      stop: (e) => seq(e.id) > headSeq,
    });
    assert.ok(!replay.some((e) => e.event === 'reset'), 'the server can replay after that id');
    const missed = replay.filter((e) => e.event === 'update' && seq(e.id) <= headSeq).length;
    // `board` may end one update short in a microsecond race on the server (see app.js).
    if (info.by === 'board') assert.ok(n === missed || n === missed - 1, `page said ${n}, server replays ${missed}`);
    else assert.equal(n, missed, `page said ${n}, the server replays ${missed} updates after ${info.since} up to ${info.head}`);
  }

  // The board keeps changing after the reconnect, without a reload.
  const atNotice = await readBoard(page);
  await waitFor(
    'the board changes after the reconnect',
    (key) =>
      JSON.stringify(
        [...document.querySelectorAll('.game')].map((c) => [
          c.dataset.eid,
          c.dataset.state,
          c.querySelector('.status-text').textContent,
          Number(c.querySelector('[data-side="home"] .score').textContent),
          Number(c.querySelector('[data-side="away"] .score').textContent),
        ]),
      ) !== key,
    boardKey(atNotice),
    SCORE_CHANGE_TIMEOUT_MS,
  );
  const states = await page.evaluate(() => window.__connStates);
  assert.ok(states.includes('reconnecting') && states.at(-1) === 'live', `indicator went ${states.join(' -> ')}`);
});

test('after the outage the page ends on the official finals of all 16 games', async (t) => {
  if (!reconnected) return t.skip('page never reconnected');
  await waitFor('every game is final', allFinal, undefined, REPLAY_END_TIMEOUT_MS);
  assert.equal(await page.evaluate(() => window.__reconnectNoReload), true, 'the page was reloaded');
  const wrong = wrongFinals(await readBoard(page));
  assert.deepEqual(wrong, [], `finals differ from crates/livescore/data/nfl-2015-week1.json:\n${wrong.join('\n')}`);
  // One outage, one notice.
  const notices = await page.evaluate(() => window.__notices);
  assert.equal(notices.length, 1, `notices: ${JSON.stringify(notices)}`);
  assert.deepEqual(pageErrors, [], 'no uncaught errors in the page');
  // Let the last highlight and the notice fade so the picture shows the resting page.
  await page.waitForFunction(() => !document.querySelector('.score.changed') && document.getElementById('notice').hidden,
    undefined, { timeout: 15_000 }).catch(() => {});
  mkdirSync(OUT, { recursive: true });
  await page.screenshot({ path: path.join(OUT, 'scoreboard-final.png'), fullPage: true });
});
