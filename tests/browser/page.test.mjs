// Behaviour of the scoreboard page (web/) on hand-made stream events, with no
// Rust server: a tiny in-test HTTP server serves web/ and an SSE endpoint that
// the test drives. Covers what the replay cannot show on demand: every status
// line, possession and red-zone markers, overtime, dimmed losers, in-place
// updates, reconnect state and that feed text can never become markup.
//
//   npm ci && node --test tests/browser/

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
  '--disable-component-update', '--disable-quic', '--no-first-run', '--disable-sync',
];
const TIMEOUT_MS = 10_000; // guards hangs only
const ASSETS = {
  '/': ['index.html', 'text/html; charset=utf-8'],
  '/app.js': ['app.js', 'text/javascript'],
  '/style.css': ['style.css', 'text/css'],
};

function team(abbr, nickname, score) {
  return { abbr, nickname, score };
}

function game(eid, over) {
  return {
    eid, season: 2015, week: 1, season_type: 'REG',
    kickoff: '2015-09-13T17:00:00Z', day: 'Sun', time: '1:00',
    state: 'pregame', quarter: 'P', clock: null, possession: null, red_zone: false,
    home: team('CHI', 'bears', 0), away: team('GB', 'packers', 0),
    ...over,
  };
}

/** A week with one game in each state. */
function week() {
  return [
    game('2015091300', { state: 'live', quarter: '2', clock: '02:36', possession: 'GB', red_zone: true,
      home: team('CHI', 'bears', 3), away: team('GB', 'packers', 7) }),
    game('2015091301', { state: 'live', quarter: '5', clock: '09:12', possession: 'STL',
      home: team('STL', 'rams', 31), away: team('SEA', 'seahawks', 31) }),
    game('2015091302', { state: 'halftime', quarter: 'H', home: team('JAC', 'jaguars', 3), away: team('CAR', 'panthers', 10) }),
    game('2015091303', { state: 'final', quarter: 'F', home: team('NE', 'patriots', 28), away: team('PIT', 'steelers', 21),
      kickoff: '2015-09-11T00:30:00Z', day: 'Thu', time: '8:30' }),
    game('2015091304', { state: 'final_overtime', quarter: 'FO', home: team('NYJ', 'jets', 31), away: team('CLE', 'browns', 34) }),
    game('2015091305', { state: 'suspended', quarter: 'S', home: team('MIA', 'dolphins', 0), away: team('WAS', 'redskins', 0) }),
    game('2015091306', { kickoff: '2015-09-14T23:10:00Z', day: 'Mon', time: '7:10',
      home: team('ATL', 'falcons', 0), away: team('PHI', '<img src=x onerror="window.__pwned=1">', 0) }),
  ];
}

let server;
let baseUrl;
let browser;
let page;
const streams = new Set();
const pageErrors = [];
let nextId = 1;

function send(games) {
  const frame = `id: ${nextId++}\nevent: update\ndata: ${JSON.stringify(games)}\n\n`;
  for (const res of streams) res.write(frame);
}

function dropStreams() {
  for (const res of streams) res.destroy();
  streams.clear();
}

/** Text and classes of one card, for assertions. */
function card(eid) {
  return page.evaluate((id) => {
    const el = document.querySelector(`.game[data-eid="${id}"]`);
    if (!el) return null;
    const side = (s) => {
      const row = el.querySelector(`[data-side="${s}"]`);
      return {
        abbr: row.querySelector('.abbr').textContent,
        name: row.querySelector('.name').textContent,
        score: row.querySelector('.score').textContent,
        classes: [...row.classList].sort(),
      };
    };
    return {
      state: el.dataset.state,
      status: el.querySelector('.status-text').textContent,
      classes: [...el.classList].sort(),
      away: side('away'),
      home: side('home'),
    };
  }, eid);
}

before(async () => {
  try {
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, timeout: 60_000 });
  } catch (err) {
    throw new Error(
      `Chromium could not start from ${CHROMIUM} (install it with \`apt-get install -y chromium\` ` +
        `or set CHROMIUM_PATH): ${err.message}`,
    );
  }
  server = createServer((req, res) => {
    const url = new URL(req.url, 'http://x');
    if (url.pathname === '/api/livescore') {
      res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache' });
      res.write('retry: 500\n\n');
      streams.add(res);
      res.on('close', () => streams.delete(res));
      send(week());
      return;
    }
    if (url.pathname === '/api/') {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ season: 2015, week: 1, season_type: 'REG', games: week(), last_event_id: '0' }));
      return;
    }
    const asset = ASSETS[url.pathname];
    if (!asset) {
      res.writeHead(404, { 'Content-Type': 'application/json' });
      res.end('{"error":"not found"}');
      return;
    }
    res.writeHead(200, { 'Content-Type': asset[1] });
    res.end(readFileSync(path.join(ROOT, 'web', asset[0])));
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  baseUrl = `http://127.0.0.1:${server.address().port}/`;
  // Fixed zone and locale so the pregame kickoff text is predictable.
  const context = await browser.newContext({ timezoneId: 'America/New_York', locale: 'en-US' });
  page = await context.newPage();
  page.on('pageerror', (err) => pageErrors.push(String(err)));
  await page.goto(baseUrl);
  await page.waitForFunction(
    () => document.getElementById('conn').dataset.state === 'live' && document.querySelectorAll('.game').length === 7,
    undefined,
    { timeout: TIMEOUT_MS },
  );
});

after(async () => {
  await browser?.close().catch(() => {});
  dropStreams();
  server?.closeAllConnections?.();
  await new Promise((resolve) => (server ? server.close(resolve) : resolve()));
});

test('header shows the week and a live indicator', async () => {
  assert.equal((await page.textContent('#week')).trim(), '2015 \u00b7 Week 1 \u00b7 Regular season');
  assert.equal((await page.textContent('#conn')).trim(), 'live');
});

test('status lines for every state', async () => {
  assert.equal((await card('2015091300')).status, 'Q2 \u00b7 02:36');
  assert.equal((await card('2015091301')).status, 'OT \u00b7 09:12');
  assert.equal((await card('2015091302')).status, 'Halftime');
  assert.equal((await card('2015091303')).status, 'Final');
  assert.equal((await card('2015091304')).status, 'Final/OT');
  assert.equal((await card('2015091305')).status, 'Suspended');
  // Kickoff 23:10 UTC is 7:10 PM in New York (EDT) on the Monday.
  assert.match((await card('2015091306')).status, /^Mon,? 7:10\sPM/);
});

test('teams: away first, abbreviation, capitalized nickname, score', async () => {
  const c = await card('2015091300');
  assert.deepEqual([c.away.abbr, c.away.name, c.away.score], ['GB', 'Packers', '7']);
  assert.deepEqual([c.home.abbr, c.home.name, c.home.score], ['CHI', 'Bears', '3']);
  const order = await page.evaluate(() =>
    [...document.querySelector('.game[data-eid="2015091300"]').querySelectorAll('.team')].map((r) => r.dataset.side));
  assert.deepEqual(order, ['away', 'home']);
});

test('possession and red-zone markers, live cards distinct', async () => {
  const rz = await card('2015091300');
  assert.ok(rz.away.classes.includes('has-ball') && rz.away.classes.includes('in-red-zone'), JSON.stringify(rz));
  assert.ok(!rz.home.classes.includes('has-ball'));
  assert.ok(rz.classes.includes('red-zone') && rz.classes.includes('is-live'));
  const ot = await card('2015091301');
  assert.ok(ot.home.classes.includes('has-ball') && !ot.classes.includes('red-zone'));
  const visible = await page.evaluate(() => {
    const el = document.querySelector('.game[data-eid="2015091300"]');
    const shown = (sel) => getComputedStyle(el.querySelector(sel)).visibility === 'visible' &&
      getComputedStyle(el.querySelector(sel)).display !== 'none';
    return { ball: shown('[data-side="away"] .poss'), rz: shown('.rz-badge'), pill: shown('.live-pill') };
  });
  assert.deepEqual(visible, { ball: true, rz: true, pill: true });
  assert.ok(!(await card('2015091303')).classes.includes('is-live'));
});

test('the losing team of a final game is dimmed', async () => {
  const f = await card('2015091303');
  assert.ok(f.away.classes.includes('loser') && !f.home.classes.includes('loser'));
  const ot = await card('2015091304');
  assert.ok(ot.home.classes.includes('loser') && !ot.away.classes.includes('loser'));
  const opacity = await page.evaluate(() =>
    Number(getComputedStyle(document.querySelector('.game[data-eid="2015091303"] [data-side="away"]')).opacity));
  assert.ok(opacity < 1, `loser opacity ${opacity}`);
  assert.ok(!(await card('2015091300')).away.classes.includes('loser'), 'no loser while live');
});

test('cards are grouped by kickoff slot in time order', async () => {
  const slots = await page.evaluate(() =>
    [...document.querySelectorAll('.slot')].map((s) => [...s.querySelectorAll('.game')].map((g) => g.dataset.eid)));
  assert.deepEqual(slots, [
    ['2015091303'],
    ['2015091300', '2015091301', '2015091302', '2015091304', '2015091305'],
    ['2015091306'],
  ]);
});

test('feed text is shown as text, never parsed as markup', async () => {
  const c = await card('2015091306');
  assert.equal(c.away.name.toLowerCase(), '<img src=x onerror="window.__pwned=1">'); // capitalized, still text
  assert.equal(await page.evaluate(() => document.querySelectorAll('.game img').length), 0);
  assert.equal(await page.evaluate(() => window.__pwned), undefined);
});

test('a score change updates the card in place and highlights the score', async () => {
  await page.evaluate(() => {
    window.__card = document.querySelector('.game[data-eid="2015091300"]');
    window.__score = window.__card.querySelector('[data-side="home"] .score');
  });
  const games = week();
  games[0].home.score = 10;
  games[0].possession = 'CHI';
  games[0].red_zone = false;
  send(games);
  await page.waitForFunction(
    () => document.querySelector('.game[data-eid="2015091300"] [data-side="home"] .score').textContent === '10',
    undefined,
    { timeout: TIMEOUT_MS },
  );
  const same = await page.evaluate(() =>
    window.__card === document.querySelector('.game[data-eid="2015091300"]') &&
    window.__score === window.__card.querySelector('[data-side="home"] .score'));
  assert.ok(same, 'the card and score elements were replaced instead of updated');
  const state = await page.evaluate(() => ({
    changed: window.__score.classList.contains('changed'),
    awayChanged: window.__card.querySelector('[data-side="away"] .score').classList.contains('changed'),
    announced: document.getElementById('announcer').textContent,
  }));
  assert.deepEqual(
    { changed: state.changed, awayChanged: state.awayChanged },
    { changed: true, awayChanged: false },
    'only the changed score is highlighted',
  );
  assert.match(state.announced, /Packers 7, Bears 10/);
  const c = await card('2015091300');
  assert.ok(c.home.classes.includes('has-ball') && !c.away.classes.includes('has-ball'));
  assert.ok(!c.classes.includes('red-zone'));
  // The highlight goes away again by itself.
  await page.waitForFunction(() => !window.__score.classList.contains('changed'), undefined, { timeout: TIMEOUT_MS });
});

test('the indicator shows reconnecting while the stream is down, then live again', async () => {
  dropStreams();
  await page.waitForFunction(() => document.getElementById('conn').dataset.state === 'reconnecting', undefined, { timeout: TIMEOUT_MS });
  assert.match((await page.textContent('#conn')).trim(), /^reconnecting/);
  await page.waitForFunction(() => document.getElementById('conn').dataset.state === 'live', undefined, { timeout: TIMEOUT_MS });
  assert.equal(await page.evaluate(() => document.querySelectorAll('.game').length), 7);
});

test('a game that leaves the list loses its card; no page errors', async () => {
  send(week().slice(0, 6));
  await page.waitForFunction(() => document.querySelectorAll('.game').length === 6, undefined, { timeout: TIMEOUT_MS });
  assert.equal(await page.evaluate(() => document.querySelectorAll('.slot').length), 2, 'the empty slot is removed');
  assert.deepEqual(pageErrors, []);
});
