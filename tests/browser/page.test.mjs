// Behaviour of the scoreboard page (crates/livescore/web/) on hand-made stream events, with no
// Rust server: a tiny in-test HTTP server serves the page and an SSE endpoint that
// the test drives. Covers what the replay cannot show on demand: every status
// line, possession and red-zone markers, overtime, dimmed losers, in-place
// updates, reconnect state and that feed text can never become markup, and
// what the page says after a reconnect: the stub keeps a history like the
// real server's `/api/stream?topic=scores` (ids `<epoch>-<seq>`, replay after
// Last-Event-ID or `?lastEventId=`, `event: reset` when told to).
//
//   npm ci && node --test tests/browser/

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { launchBrowser, OUT, ROOT } from './lib.mjs';

const TIMEOUT_MS = 10_000; // guards hangs only
const ASSETS = {
  '/': ['index.html', 'text/html; charset=utf-8'],
  '/sport.js': ['sport.js', 'text/javascript'],
  '/leagues.js': ['leagues.js', 'text/javascript'],
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

// The stub's event history, as the real server keeps it: ids `1-<seq>`.
const EPOCH = '1';
let nextSeq = 1;
/** Every `update` published: {seq, games}. */
const history = [];
/** Each stream request: {lastEventIdHeader, lastEventIdQuery}. */
const streamRequests = [];
/** How the next stream request is answered: 'normal', 'reset' (send `event: reset` first) or 'fail' (HTTP 503). */
let nextAnswer = 'normal';

function frame(seq, event, data) {
  return `id: ${EPOCH}-${seq}\nevent: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}

/** Publishes a board: kept in history and sent to every open stream. */
function send(games) {
  const seq = nextSeq++;
  history.push({ seq, games });
  for (const res of streams) res.write(frame(seq, 'update', games));
}

function current() {
  return history.length ? history[history.length - 1] : null;
}

/** Id of the last `update`: what the page resumes from. */
function lastEventId() {
  return history.length ? `${EPOCH}-${current().seq}` : null;
}

/** The newest id on the stub, any topic (GET /api/'s last_event_id). */
function headId() {
  return nextSeq > 1 ? `${EPOCH}-${nextSeq - 1}` : null;
}

function dropStreams() {
  for (const res of streams) res.destroy();
  streams.clear();
}

/** `GET /api/stream?topic=scores`, like the server: replay after the id, or state; a reset when told. */
function serveStream(req, res, url) {
  const header = req.headers['last-event-id'] ?? null;
  const query = url.searchParams.get('lastEventId');
  streamRequests.push({ lastEventIdHeader: header, lastEventIdQuery: query });
  const answer = nextAnswer;
  nextAnswer = 'normal';
  // Other topics (the docs' snippet also asks for a game's) are accepted and stay silent.
  if (!url.searchParams.getAll('topic').includes('scores')) {
    res.writeHead(400, { 'Content-Type': 'application/json' });
    res.end('{"error":"this stub serves ?topic=scores only"}');
    return;
  }
  if (answer === 'fail') {
    res.writeHead(503, { 'Content-Type': 'application/json' });
    res.end('{"error":"try again"}');
    return;
  }
  res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache' });
  res.write('retry: 500\n\n');
  streams.add(res);
  res.on('close', () => streams.delete(res));
  const id = header ?? query;
  const m = /^1-(\d+)$/.exec(id ?? '');
  const last = current();
  if (answer === 'reset' || (id && !m)) {
    // The reset's id sits just before the state that follows (as on the server).
    res.write(frame(last.seq - 1, 'reset', { reason: 'evicted', last_id: id }));
    res.write(frame(last.seq, 'update', last.games));
  } else if (m) {
    for (const h of history) if (h.seq > Number(m[1])) res.write(frame(h.seq, 'update', h.games));
  } else if (last) {
    res.write(frame(last.seq, 'update', last.games));
  }
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
  browser = await launchBrowser();
  send(week());
  server = createServer((req, res) => {
    const url = new URL(req.url, 'http://x');
    if (url.pathname === '/api/stream') {
      serveStream(req, res, url);
      return;
    }
    if (url.pathname === '/api/') {
      res.writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'no-cache' });
      res.end(JSON.stringify({ season: 2015, week: 1, season_type: 'REG', games: current().games, last_event_id: headId() }));
      return;
    }
    const asset = ASSETS[url.pathname];
    if (!asset) {
      res.writeHead(404, { 'Content-Type': 'application/json' });
      res.end('{"error":"not found"}');
      return;
    }
    res.writeHead(200, { 'Content-Type': asset[1] });
    res.end(readFileSync(path.join(ROOT, 'crates/livescore/web', asset[0])));
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
  // Record every notice and indicator state, however briefly shown.
  await page.evaluate(() => {
    window.__notices = [];
    window.__connStates = [];
    const notice = document.getElementById('notice');
    const conn = document.getElementById('conn');
    new MutationObserver(() => {
      if (notice.textContent) window.__notices.push(`${notice.dataset.kind}|${notice.textContent}|${notice.dataset.by}`);
    }).observe(notice, { childList: true, characterData: true, subtree: true });
    new MutationObserver(() => window.__connStates.push(conn.dataset.state))
      .observe(conn, { attributes: true, attributeFilter: ['data-state'] });
  });
});

/** How many notices and indicator changes the page has shown so far. */
function marks() {
  return page.evaluate(() => ({ notices: window.__notices.length, conn: window.__connStates.length }));
}

/** The first notice shown after `mark`, once there is one: "kind|text|by". */
async function noticeAfter(mark) {
  await page.waitForFunction((n) => window.__notices.length > n.notices, mark, { timeout: TIMEOUT_MS });
  return page.evaluate((n) => window.__notices[n.notices], mark);
}

/** The indicator states shown after `mark`. */
function connStatesAfter(mark) {
  return page.evaluate((n) => window.__connStates.slice(n.conn), mark);
}

/** The stub's current board with one score changed, as the next update to publish. */
function withScore(eid, side, score) {
  const games = structuredClone(current().games);
  games.find((g) => g.eid === eid)[side].score = score;
  return games;
}

function homeScore(eid) {
  return page.evaluate((id) => document.querySelector(`.game[data-eid="${id}"] [data-side="home"] .score`).textContent, eid);
}

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

test('the indicator shows reconnecting while the stream is down, then live again; nothing missed', async () => {
  const mark = await marks();
  const seen = lastEventId();
  const requests = streamRequests.length;
  dropStreams();
  await page.waitForFunction(() => document.getElementById('conn').dataset.state === 'reconnecting', undefined, { timeout: TIMEOUT_MS });
  assert.match((await page.textContent('#conn')).trim(), /^reconnecting/);
  await page.waitForFunction(() => document.getElementById('conn').dataset.state === 'live', undefined, { timeout: TIMEOUT_MS });
  assert.equal(await page.evaluate(() => document.querySelectorAll('.game').length), 7);
  // Nothing was published meanwhile: the page says so.
  // (By the head id: /api/'s last_event_id is the id the page already had.)
  assert.equal(await noticeAfter(mark), 'caught-up|caught up: 0 updates|head');
  assert.equal(streamRequests[requests]?.lastEventIdHeader, seen, 'the browser resumed with Last-Event-ID');
});

test('after a drop the page resumes with Last-Event-ID and says how many updates it caught up on', async () => {
  const mark = await marks();
  const seen = lastEventId();
  const requests = streamRequests.length;
  dropStreams();
  // While the page is away, Jacksonville scores three times.
  for (const score of [6, 9, 12]) send(withScore('2015091302', 'home', score));
  assert.equal(await noticeAfter(mark), 'caught-up|caught up: 3 updates|head');
  assert.equal(await page.textContent('#announcer'), 'caught up: 3 updates', 'screen readers hear it');
  assert.deepEqual(
    streamRequests.slice(requests).map((r) => r.lastEventIdHeader),
    [seen],
    'one reconnect, by the browser, with the last id it had',
  );
  assert.equal(await homeScore('2015091302'), '12', 'the board shows the last replayed update');
  assert.deepEqual(await connStatesAfter(mark), ['reconnecting', 'live']);
  assert.ok(await page.isVisible('#notice'), 'the notice is shown');
  // On a phone it fits the screen too.
  await page.setViewportSize({ width: 360, height: 740 });
  const fit = await page.evaluate(() => {
    const r = document.getElementById('notice').getBoundingClientRect();
    return { left: r.left, right: r.right, scrollWidth: document.documentElement.scrollWidth };
  });
  mkdirSync(OUT, { recursive: true });
  await page.screenshot({ path: path.join(OUT, 'notice-phone.png') });
  await page.setViewportSize({ width: 1280, height: 720 });
  assert.ok(fit.left >= 0 && fit.right <= 360 && fit.scrollWidth <= 360, `the notice overflows a 360px screen: ${JSON.stringify(fit)}`);
  // Live again: a later update is drawn and is not a catch-up.
  send(withScore('2015091302', 'home', 15));
  await page.waitForFunction(() =>
    document.querySelector('.game[data-eid="2015091302"] [data-side="home"] .score').textContent === '15', undefined, { timeout: TIMEOUT_MS });
  assert.equal((await marks()).notices, mark.notices + 1, 'exactly one notice');
});

test('when the browser gives up (HTTP error), the page reconnects itself with ?lastEventId=', async () => {
  const mark = await marks();
  const seen = lastEventId();
  const requests = streamRequests.length;
  nextAnswer = 'fail'; // the browser's own reconnect gets a 503: EventSource closes for good
  dropStreams();
  for (const score of [10, 17]) send(withScore('2015091302', 'away', score));
  assert.equal(await noticeAfter(mark), 'caught-up|caught up: 2 updates|head');
  assert.deepEqual(streamRequests.slice(requests), [
    { lastEventIdHeader: seen, lastEventIdQuery: null }, // EventSource's reconnect: 503
    { lastEventIdHeader: null, lastEventIdQuery: seen }, // the page's new EventSource
  ]);
  assert.equal(await page.textContent('.game[data-eid="2015091302"] [data-side="away"] .score'), '17');
  assert.equal(await page.getAttribute('#conn', 'data-state'), 'live');
});

test('the replay also counts as over when the newest id is not a board (e.g. a chat message after it)', async () => {
  const mark = await marks();
  dropStreams();
  send(withScore('2015091302', 'home', 19));
  nextSeq += 2; // two events on other topics: /api/'s last_event_id is past the last update
  assert.equal(await noticeAfter(mark), 'caught-up|caught up: 1 update|board');
  assert.equal(await homeScore('2015091302'), '19');
});

test('when the server cannot resume, the page says the history was reset and shows the current scores', async () => {
  const mark = await marks();
  nextAnswer = 'reset';
  dropStreams();
  send(withScore('2015091302', 'home', 22));
  assert.equal(await noticeAfter(mark), 'reset|history reset: showing current scores|evicted');
  await page.waitForFunction(() =>
    document.querySelector('.game[data-eid="2015091302"] [data-side="home"] .score').textContent === '22', undefined, { timeout: TIMEOUT_MS });
  assert.equal(await page.getAttribute('#conn', 'data-state'), 'live');
  // No "caught up" after it (the catch-up safety net is 3 s), and the notice fades by itself.
  await page.waitForFunction(() => document.getElementById('notice').hidden, undefined, { timeout: 15_000 });
  assert.deepEqual(await page.evaluate((n) => window.__notices.slice(n), mark.notices), ['reset|history reset: showing current scores|evicted']);
});

test('a game that leaves the list loses its card; no page errors', async () => {
  send(week().slice(0, 6));
  await page.waitForFunction(() => document.querySelectorAll('.game').length === 6, undefined, { timeout: TIMEOUT_MS });
  assert.equal(await page.evaluate(() => document.querySelectorAll('.slot').length), 2, 'the empty slot is removed');
  assert.deepEqual(pageErrors, []);
});

test('the browser snippet of docs/CLIENTS.md works as shown: resumes by itself and with ?lastEventId=, sees a reset', async () => {
  await page.close(); // from here on only the snippet's page talks to the stub
  const doc = readFileSync(path.join(ROOT, 'docs/CLIENTS.md'), 'utf8');
  const code = /```js\n([\s\S]*?)```/.exec(doc.slice(doc.indexOf('## Browser: EventSource')))?.[1];
  assert.ok(code, 'docs/CLIENTS.md has a js block under "## Browser: EventSource"');
  const snippet = await browser.newPage();
  snippet.on('pageerror', (err) => pageErrors.push(String(err)));
  await snippet.goto(`${baseUrl}docs-snippet`); // any page of the stub's origin
  // The functions the snippet leaves to the reader, recording their calls.
  await snippet.addScriptTag({ content: `
    window.calls = [];
    function render(games) { calls.push('render ' + games.length); }
    function renderGame() { calls.push('game'); }
    function flash() { calls.push('score'); }
    function notice(text) { calls.push('notice ' + text); }
    function catchUp() { calls.push('catchUp'); }
  ` });
  await snippet.addScriptTag({ content: code });
  const calls = () => snippet.evaluate(() => window.calls);
  const waitCall = (c) => snippet.waitForFunction((want) => window.calls.includes(want), c, { timeout: TIMEOUT_MS });
  const games = current().games.length;
  await waitCall(`render ${games}`);

  // The browser gives up (HTTP 503): the snippet's own reconnect resumes with ?lastEventId=.
  const seen = lastEventId();
  const requests = streamRequests.length;
  nextAnswer = 'fail';
  dropStreams();
  send(withScore('2015091302', 'home', 30));
  await waitCall('catchUp');
  await snippet.waitForFunction((n) => window.calls.filter((c) => c.startsWith('render')).length === n, 2, { timeout: TIMEOUT_MS });
  assert.deepEqual(streamRequests.slice(requests), [
    { lastEventIdHeader: seen, lastEventIdQuery: null },
    { lastEventIdHeader: null, lastEventIdQuery: seen },
  ]);

  // A reset: the notice, then the current board.
  nextAnswer = 'reset';
  dropStreams();
  await waitCall('notice history reset: showing current scores');
  await snippet.waitForFunction((n) => window.calls.filter((c) => c.startsWith('render')).length === n, 3, { timeout: TIMEOUT_MS });
  assert.deepEqual((await calls()).slice(-2), ['notice history reset: showing current scores', `render ${games}`]);
  assert.deepEqual(pageErrors, []);
});
