// The page draws every sport the way its fans read it, through the real
// binary: `livescore serve --feed FILE.json` on the ESPN documents of
// tests/fixtures/espn-sports/ (one league per server), checked as a fan
// sees them: status lines (period labels, clocks, match minutes, HT, AET,
// shoot-outs), shoot-out goals beside the score, baseball's count, outs and
// runners on the diamond, line score cells, "TBD" for a kickoff not set,
// the date of a day league instead of a week, the league buttons and
// `?league=` deep links, and a phone-wide viewport with no horizontal
// scroll. A stub server (no binary) checks that games with unknown sports
// and missing fields still draw.
//
// Several leagues on one server: `--feed a.json,b.json`.
//
//   cargo build --release && npm ci --no-audit --no-fund
//   LIVESCORE_BIN=$PWD/target/release/livescore node --test tests/browser/leagues.test.mjs

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { OUT, ROOT, Server, launchBrowser, waitFor as waitOn } from './lib.mjs';

// Bounds that only guard against hangs; none is a timing assertion.
const TIMEOUT_MS = 60_000;
const PHONE = { width: 375, height: 812 };

const fixture = (name) => path.join(ROOT, 'tests/fixtures/espn-sports', name);

let browser;
let workDir;
const servers = [];
/** fixture name(s) -> the URL of a server following them (started once). */
const urls = new Map();

before(async () => {
  browser = await launchBrowser();
  workDir = mkdtempSync(path.join(tmpdir(), 'livescore-leagues-browser-'));
});

after(async () => {
  await browser?.close().catch(() => {});
  for (const s of servers) await s.stop();
  if (workDir) rmSync(workDir, { recursive: true, force: true });
});

/** A server on `--feed` of these fixtures (comma-separated when several), started once per list. */
async function serverFor(names) {
  const key = names.join(',');
  if (!urls.has(key)) {
    const server = new Server({
      // A database of its own: servers of other leagues run in the same directory.
      args: ['serve', '--addr', '127.0.0.1:0', '--database-url', 'sqlite::memory:', '--feed', names.map(fixture).join(','), '--poll-interval', '1s'],
      cwd: workDir,
    });
    servers.push(server);
    urls.set(key, { url: await server.start(), server });
  }
  return urls.get(key);
}

/**
 * The page on a server of `names`, at `query` (e.g. `?league=nba`), in a
 * fixed zone and locale; resolves once `ready` holds in the page.
 */
async function open(names, { query = '', viewport = { width: 1280, height: 900 }, ready } = {}) {
  const { url, server } = await serverFor(names);
  const context = await browser.newContext({ viewport, timezoneId: 'America/New_York', locale: 'en-US' });
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (err) => errors.push(String(err)));
  await page.goto(`${url}/${query}`, { waitUntil: 'domcontentloaded' });
  const waitFor = (what, fn, arg) => waitOn(page, what, fn, arg, TIMEOUT_MS, () => server.tail());
  await waitFor('the board is drawn', ready ?? (() => document.querySelectorAll('.game').length > 0));
  return { page, errors, waitFor, context };
}

/** What a fan reads on one card. */
function card(page, eid) {
  return page.evaluate((id) => {
    const el = document.querySelector(`.game[data-eid="${id}"]`);
    if (!el) return null;
    const side = (s) => {
      const row = el.querySelector(`.team[data-side="${s}"]`);
      return {
        abbr: row.querySelector('.abbr').textContent,
        score: row.querySelector('.score').textContent,
        shootout: row.querySelector('.shootout').textContent,
        loser: row.classList.contains('loser'),
      };
    };
    const table = el.querySelector('.linescore');
    const bso = el.querySelector('.bso');
    return {
      state: el.dataset.state,
      sport: el.dataset.sport,
      league: el.dataset.league,
      live: el.classList.contains('is-live'),
      status: el.querySelector('.status-text').textContent,
      away: side('away'),
      home: side('home'),
      // Heading row, then away and home: every cell's text.
      linescore: table ? [...table.querySelectorAll('tr')].map((tr) => [...tr.cells].map((c) => c.textContent)) : null,
      bso: bso && !bso.hidden && getComputedStyle(bso).display !== 'none'
        ? {
          count: bso.querySelector('.count').textContent,
          outs: bso.querySelector('.outs').textContent,
          runners: [...bso.querySelectorAll('.base.on')].map((b) => b.dataset.base).sort(),
          said: bso.querySelector('.runners').textContent,
        }
        : null,
    };
  }, eid);
}

/** The header line, the league buttons (name, live count, pressed) and the visible cards' eids. */
function chrome(page) {
  return page.evaluate(() => ({
    week: document.getElementById('week').textContent,
    tabsShown: !document.getElementById('leagues').hidden,
    tabs: [...document.querySelectorAll('#leagues .league-tab')].map((t) => [
      t.querySelector('.tab-name').textContent,
      Number(t.querySelector('.tab-live').dataset.live),
      t.getAttribute('aria-pressed') === 'true',
    ]),
    visible: [...document.querySelectorAll('.game')].filter((c) => c.offsetParent !== null).map((c) => c.dataset.eid).sort(),
    empty: document.getElementById('empty').hidden ? '' : document.getElementById('empty').textContent,
    title: document.title,
  }));
}

/** True when the page is no wider than the viewport (no sideways scroll on a phone). */
function fitsWidth(page) {
  return page.evaluate(() => ({
    scroll: document.documentElement.scrollWidth,
    view: document.documentElement.clientWidth,
    widest: [...document.querySelectorAll('body *')]
      .filter((e) => e.getBoundingClientRect().right > document.documentElement.clientWidth + 0.5)
      .map((e) => `${e.tagName.toLowerCase()}.${e.className?.baseVal ?? e.className}`)
      .slice(0, 5),
  }));
}

async function shot(page, name) {
  mkdirSync(OUT, { recursive: true });
  await page.screenshot({ path: path.join(OUT, name), fullPage: true });
}

test('baseball: half-inning, count, outs, runners on the diamond, line score with X, the date', async () => {
  const { page, errors } = await open(['mlb-2025-06-04-live.json']);
  const live = await card(page, '401695826');
  assert.deepEqual(
    [live.sport, live.league, live.state, live.live, live.status],
    ['baseball', 'mlb', 'live', true, 'Top 6th'],
  );
  assert.deepEqual(live.bso, { count: '0-2', outs: '2 outs', runners: [], said: 'bases empty' });
  assert.deepEqual(live.linescore, [
    ['', '1', '2', '3', '4', '5', '6', '7', '8', '9', 'R'],
    ['DET', '4', '0', '0', '0', '0', '0', '', '', '', '4'],
    ['CHW', '0', '0', '2', '1', '1', '', '', '', '', '4'],
  ]);
  const mid = await card(page, '401695830');
  assert.deepEqual([mid.status, mid.bso], ['Mid 4th', null], 'between halves: no count');
  // The home side won without batting in the 9th: an X there.
  const won = await card(page, '401695822');
  assert.deepEqual([won.status, won.bso, won.away.loser], ['Final', null, true]);
  assert.deepEqual(won.linescore[2], ['PIT', '0', '2', '1', '0', '0', '0', '0', '0', 'X', '3']);
  const pp = await card(page, '401695827');
  assert.deepEqual([pp.status, pp.linescore, pp.bso], ['Postponed', null, null]);
  const top = await chrome(page);
  assert.match(top.week, /^Wed, Jun 4, 2025/, 'a day league shows its date');
  assert.doesNotMatch(top.week, /Week/);
  assert.equal(top.tabsShown, false, 'one league: no league buttons');
  assert.equal(top.title, '(2 live) livescore');
  await shot(page, 'leagues-mlb.png');
  assert.deepEqual(errors, []);
});

test('baseball: a rain delay and extra innings with a full count and runners on the corners', async () => {
  const { page, errors } = await open(['handmade-mlb-rain-delay-extra-innings.json']);
  const rain = await card(page, '900041');
  assert.deepEqual([rain.state, rain.status, rain.live, rain.bso], ['delayed', 'Delayed \u00b7 Top 1st', false, null]);
  const extra = await card(page, '900042');
  assert.deepEqual([extra.state, extra.status, extra.live], ['overtime', 'Top 11th', true]);
  assert.deepEqual(extra.bso, { count: '3-2', outs: '1 out', runners: ['first', 'third'], said: 'runners on first and third' });
  assert.deepEqual(extra.linescore, [
    ['', '1', '2', '3', '4', '5', '6', '7', '8', '9', '10', '11', 'R'],
    ['DET', '1', '0', '0', '0', '0', '0', '0', '2', '0', '0', '1', '4'],
    ['CHW', '0', '0', '1', '0', '0', '2', '0', '0', '0', '0', '', '3'],
  ]);
  assert.deepEqual(errors, []);
});

test('hockey: periods, an intermission, a shoot-out in the line score, overtime', async () => {
  const { page, errors } = await open(['handmade-nhl-shootout-intermission.json']);
  const so = await card(page, '900021');
  assert.deepEqual([so.sport, so.state, so.status], ['hockey', 'final_shootout', 'Final/SO']);
  assert.deepEqual(so.linescore, [
    ['', '1', '2', '3', 'OT', 'SO', 'T'],
    ['NYR', '0', '2', '0', '0', '1', '2'],
    ['FLA', '1', '1', '0', '0', '2', '3'],
  ]);
  assert.deepEqual([so.away.loser, so.home.loser, so.home.shootout], [true, false, ''], 'the SO column holds the shoot-out');
  const intermission = await card(page, '900022');
  assert.deepEqual([intermission.state, intermission.status, intermission.live], ['intermission', '2nd Intermission', true]);
  assert.deepEqual(intermission.linescore[0], ['', '1', '2', '3', 'T']);
  assert.equal((await card(page, '900023')).status, 'Final/OT');
  assert.deepEqual(errors, []);
});

test('soccer: extra time, penalties with the shoot-out score beside the goals, AET, abandoned', async () => {
  const { page, errors } = await open(['handmade-uefa-champions-extra-time-penalties.json']);
  const et = await card(page, '900011');
  assert.deepEqual([et.league, et.state, et.status, et.live], ['uefa.champions', 'overtime', "ET \u00b7 105'+1'", true]);
  const pens = await card(page, '900012');
  assert.deepEqual(
    [pens.status, pens.home.score, pens.home.shootout, pens.away.score, pens.away.shootout],
    ['Penalties', '2', '(3)', '2', '(2)'],
  );
  const done = await card(page, '900013');
  assert.deepEqual(
    [done.status, `${done.home.score} ${done.home.shootout}`, `${done.away.score} ${done.away.shootout}`],
    ['FT (Pens)', '1 (4)', '1 (3)'],
  );
  assert.deepEqual([done.away.loser, done.home.loser], [true, false], 'the shoot-out decides who lost a draw');
  assert.equal((await card(page, '900014')).status, 'AET');
  assert.equal((await card(page, '900015')).status, 'Abandoned');
  const ft = await card(page, '900016');
  assert.deepEqual([ft.status, ft.home.shootout, ft.away.loser, ft.home.loser], ['FT', '', false, false]);
  assert.equal(et.linescore, null, 'no line score when the feed gives none');
  assert.equal((await chrome(page)).tabsShown, false);
  await shot(page, 'leagues-soccer.png');
  assert.deepEqual(errors, []);
});

test('soccer: the match minute in stoppage time, half-time', async () => {
  const { page, errors } = await open(['handmade-eng1-live-stoppage-time.json']);
  const status = async (eid) => (await card(page, eid)).status;
  assert.equal(await status('900001'), "1st half \u00b7 45'+2'");
  assert.equal(await status('900002'), 'HT');
  assert.equal(await status('900003'), "2nd half \u00b7 67'");
  assert.equal(await status('900004'), '2nd half', 'a clock that is no minute is not shown');
  assert.match((await chrome(page)).week, /May 25, 2025/);
  assert.deepEqual(errors, []);
});

test('basketball: overtime in the line score, tenths of a second, halftime, the end of a quarter', async () => {
  const { page, errors } = await open(['handmade-nba-overtime-tenths.json']);
  const ot = await card(page, '900031');
  assert.deepEqual([ot.sport, ot.status], ['basketball', 'Final/OT']);
  assert.deepEqual(ot.linescore, [
    ['', '1', '2', '3', '4', 'OT', 'T'],
    ['NO', '28', '30', '26', '23', '8', '115'],
    ['IND', '30', '28', '25', '24', '13', '120'],
  ]);
  assert.equal((await card(page, '900032')).status, 'Q4 \u00b7 00:45.3');
  const half = await card(page, '900033');
  assert.deepEqual([half.status, half.linescore[0]], ['Halftime', ['', '1', '2', '3', '4', 'T']], 'quarters, at halftime too');
  const end = await card(page, '900034');
  assert.deepEqual([end.state, end.status, end.live], ['intermission', 'End of Q1', true]);
  assert.deepEqual(errors, []);
});

test('college football: a kickoff not yet set reads TBD, in its own slot; the week stays', async () => {
  const { page, errors } = await open(['handmade-college-football-kickoff-tbd.json']);
  const tbd = await card(page, '900051');
  assert.deepEqual([tbd.sport, tbd.state, tbd.status], ['football', 'pregame', 'TBD']);
  const slot = await page.evaluate(() =>
    document.querySelector('.game[data-eid="900051"]').closest('.slot').querySelector('.slot-title').textContent);
  assert.equal(slot, 'Kickoff time to be announced');
  assert.match((await chrome(page)).week, /Week 1/);
  assert.deepEqual(errors, []);
});

test('?league= naming a league the server does not follow: buttons to get back, and All clears the URL', async () => {
  const { page, errors } = await open(['handmade-nba-overtime-tenths.json'], {
    query: '?league=nhl',
    ready: () => !document.getElementById('leagues').hidden && document.querySelectorAll('.game').length > 0,
  });
  let top = await chrome(page);
  assert.deepEqual(top.tabs, [['All', 3, false], ['NBA', 3, false], ['NHL', 0, true]]);
  assert.deepEqual([top.visible, top.empty], [[], 'No NHL games right now.']);
  await page.click('#leagues .league-tab[data-league=""]');
  top = await chrome(page);
  assert.deepEqual(top.visible, ['900031', '900032', '900033', '900034']);
  assert.equal(new URL(page.url()).searchParams.getAll('league').length, 0, 'All: no league= left');
  assert.equal(top.week.startsWith('Sun, Dec 15, 2024'), true, top.week);
  assert.deepEqual(errors, []);
});

test('on a phone (375 px) every sport fits without scrolling sideways', async () => {
  const files = [
    'handmade-mlb-rain-delay-extra-innings.json', 'mlb-2025-06-04-live.json',
    'handmade-nhl-shootout-intermission.json', 'handmade-uefa-champions-extra-time-penalties.json',
    'handmade-eng1-live-stoppage-time.json', 'handmade-nba-overtime-tenths.json',
    'handmade-college-football-kickoff-tbd.json',
  ];
  for (const file of files) {
    const { page, errors, context } = await open([file], { viewport: PHONE });
    const fit = await fitsWidth(page);
    assert.ok(fit.scroll <= fit.view, `${file}: page ${fit.scroll} px wide in a ${fit.view} px viewport: ${fit.widest.join(', ')}`);
    if (file.startsWith('handmade-mlb')) await shot(page, 'leagues-phone-mlb.png');
    assert.deepEqual(errors, [], file);
    await context.close();
  }
  // Many league buttons wrap rather than widen the page.
  const { page, context } = await open(['handmade-nba-overtime-tenths.json'], {
    viewport: PHONE,
    query: `?${['nhl', 'mlb', 'eng.1', 'uefa.champions', 'mens-college-basketball', 'college-football', 'wnba']
      .map((l) => `league=${encodeURIComponent(l)}`).join('&')}`,
    ready: () => document.querySelectorAll('#leagues .league-tab').length === 9,
  });
  const fit = await fitsWidth(page);
  assert.ok(fit.scroll <= fit.view, `buttons: page ${fit.scroll} px wide in ${fit.view} px: ${fit.widest.join(', ')}`);
  await shot(page, 'leagues-phone-buttons.png');
  await context.close();
});

// ---- unknown sports and missing fields (a stub server, no binary) -------------

test('a game of an unknown sport, or with only the football fields, still draws', async () => {
  const weird = [
    // The NFL's fields and nothing more (an old server).
    { eid: 'a1', season: 2015, week: 1, season_type: 'REG', kickoff: '2015-09-13T17:00:00Z', day: 'Sun', time: '1:00',
      state: 'live', quarter: '3', clock: '04:12', possession: 'GB', red_zone: false,
      home: { abbr: 'CHI', nickname: 'bears', score: 3 }, away: { abbr: 'GB', nickname: 'packers', score: 7 } },
    // A sport the page does not know, a state it does not know, odd optional fields.
    { eid: 'b1', league: 'ipl', sport: 'cricket', season: 2025, season_type: 'REG', date: '2025-04-01',
      kickoff: '2025-04-01T14:00:00Z', day: 'Tue', time: '10:00', state: 'innings_break', period: 1,
      period_label: '1st innings', quarter: '2', clock: null, possession: null, red_zone: false,
      situation: { balls: 'x' }, home: { abbr: 'MI', nickname: 'mumbai', score: 180, linescore: [180] },
      away: { abbr: 'CSK', nickname: 'chennai', score: 0, linescore: 'n/a', shootout: null } },
    // Baseball without its situation or line score, live.
    { eid: 'c1', league: 'mlb', sport: 'baseball', season: 2025, season_type: 'REG', kickoff: '2025-06-04T23:00:00Z',
      day: 'Wed', time: '7:00', state: 'live', period: 3, period_label: null, quarter: '2', clock: null,
      possession: null, red_zone: false, home: { abbr: 'NYY', nickname: 'yankees', score: 1 },
      away: { abbr: 'BOS', nickname: 'red sox', score: 0 } },
  ];
  const page = await stubPage(weird);
  try {
    const old = await card(page.page, 'a1');
    assert.deepEqual([old.sport, old.league, old.status, old.live, old.linescore], ['football', 'nfl', 'Q3 \u00b7 04:12', true, null]);
    const cricket = await card(page.page, 'b1');
    assert.deepEqual([cricket.sport, cricket.status, cricket.home.score], ['cricket', 'Innings break', '180']);
    assert.deepEqual(cricket.linescore, [['', '1', 'T'], ['CSK', '', '0'], ['MI', '180', '180']]);
    const bb = await card(page.page, 'c1');
    assert.deepEqual([bb.status, bb.bso, bb.linescore], ['Live', null, null]);
    const top = await chrome(page.page);
    assert.deepEqual(top.tabs.map((t) => t[0]), ['All', 'NFL', 'MLB', 'IPL'], 'an unknown league is named by its key');
    assert.deepEqual(page.errors, []);
  } finally {
    await page.close();
  }
});

/** The page's files served with one `update` of `games` on the stream, and a 404 for the rest. */
async function stubPage(games) {
  const assets = {
    '/': ['index.html', 'text/html; charset=utf-8'],
    '/sport.js': ['sport.js', 'text/javascript'],
    '/leagues.js': ['leagues.js', 'text/javascript'],
    '/app.js': ['app.js', 'text/javascript'],
    '/style.css': ['style.css', 'text/css'],
  };
  const server = createServer((req, res) => {
    const url = new URL(req.url, 'http://x');
    if (url.pathname === '/api/stream') {
      res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache' });
      res.write(`id: 1-1\nevent: update\ndata: ${JSON.stringify(games)}\n\n`);
      return;
    }
    const asset = assets[url.pathname];
    if (!asset) {
      res.writeHead(404, { 'Content-Type': 'application/json' });
      res.end('{"error":"not found"}');
      return;
    }
    res.writeHead(200, { 'Content-Type': asset[1] });
    res.end(readFileSync(path.join(ROOT, 'crates/livescore/web', asset[0])));
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const context = await browser.newContext({ timezoneId: 'America/New_York', locale: 'en-US' });
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (err) => errors.push(String(err)));
  await page.goto(`http://127.0.0.1:${server.address().port}/`);
  await waitOn(page, 'the stub board is drawn', (n) => document.querySelectorAll('.game').length === n, games.length, TIMEOUT_MS);
  return {
    page,
    errors,
    close: async () => {
      await context.close();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

// ---- several leagues on one server (`--feed a.json,b.json`) ---------------------

const multi = test;
const SEVERAL = ['handmade-nba-overtime-tenths.json', 'mlb-2025-06-04-live.json', 'handmade-nhl-shootout-intermission.json'];
const NBA = ['900031', '900032', '900033', '900034'];
const NHL = ['900021', '900022', '900023'];
const MLB = ['401695821', '401695822', '401695826', '401695827', '401695830'];
const sorted = (...lists) => lists.flat().sort();

multi('several leagues: buttons with live counts, All, picking one updates the URL', async () => {
  const { page, errors } = await open(SEVERAL, {
    ready: () => document.querySelectorAll('.game').length === 12 && !document.getElementById('leagues').hidden,
  });
  let top = await chrome(page);
  // Live: NBA's Q4, halftime and end of Q1; MLB's Top 6th and Mid 4th; NHL's 2nd intermission.
  // Leagues in the server's order (`/api/leagues`: by key).
  assert.deepEqual(top.tabs, [['All', 6, true], ['MLB', 2, false], ['NBA', 3, false], ['NHL', 1, false]]);
  assert.deepEqual(top.visible, sorted(NBA, NHL, MLB));
  assert.equal(top.week, 'All leagues');
  assert.equal(top.title, '(6 live) livescore');
  const headings = await page.evaluate(() =>
    [...document.querySelectorAll('.league')].map((s) => [s.dataset.league, s.querySelector('.league-name').textContent,
      getComputedStyle(s.querySelector('.league-title')).display !== 'none']));
  assert.deepEqual(headings, [['mlb', 'MLB', true], ['nba', 'NBA', true], ['nhl', 'NHL', true]]);
  await shot(page, 'leagues-all.png');

  await page.click('#leagues .league-tab[data-league="nhl"]');
  top = await chrome(page);
  assert.deepEqual(top.visible, sorted(NHL));
  assert.deepEqual(top.tabs.map((t) => t[2]), [false, false, false, true]);
  assert.equal(new URL(page.url()).search, '?league=nhl');
  assert.equal(top.title, '(1 live) livescore');

  // A modifier adds a second league.
  await page.click('#leagues .league-tab[data-league="mlb"]', { modifiers: ['Control'] });
  assert.deepEqual(new URL(page.url()).searchParams.getAll('league').sort(), ['mlb', 'nhl']);
  assert.deepEqual((await chrome(page)).visible, sorted(NHL, MLB));

  await page.click('#leagues .league-tab[data-league=""]');
  assert.equal(new URL(page.url()).search, '');
  assert.deepEqual((await chrome(page)).visible, sorted(NBA, NHL, MLB));
  assert.deepEqual(errors, []);
});

multi('several leagues: ?league= deep links select one or several', async () => {
  const one = await open(SEVERAL, {
    query: '?league=nba',
    ready: () => document.querySelectorAll('.game').length === 12,
  });
  let top = await chrome(one.page);
  assert.deepEqual(top.visible, sorted(NBA));
  assert.deepEqual(top.tabs.map((t) => t[2]), [false, false, true, false]);
  assert.match(top.week, /^Sun, Dec 15, 2024/, 'one league shown: its date in the header');

  const two = await open(SEVERAL, {
    query: '?league=mlb&league=nhl',
    ready: () => document.querySelectorAll('.game').length === 12,
  });
  top = await chrome(two.page);
  assert.deepEqual(top.visible, sorted(NHL, MLB));
  assert.deepEqual(top.tabs.map((t) => t[2]), [false, true, false, true]);
  assert.equal(top.title, '(3 live) livescore');
  const phone = await open(SEVERAL, { viewport: PHONE, ready: () => document.querySelectorAll('.game').length === 12 });
  const fit = await fitsWidth(phone.page);
  assert.ok(fit.scroll <= fit.view, `page ${fit.scroll} px wide in ${fit.view} px: ${fit.widest.join(', ')}`);
  await shot(phone.page, 'leagues-all-phone.png');
  assert.deepEqual([...one.errors, ...two.errors, ...phone.errors], []);
});
