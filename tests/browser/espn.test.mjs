// The page on an ESPN scoreboard feed, through the real binary: a
// recording (what `livescore record` writes) played by `serve
// --feed-replay`. Built from the tests/fixtures ESPN samples, so the page
// must show ESPN's games exactly as scorestrip ones: teams, scores, quarter
// and clock, possession and red zone, halftime, the end of a period, the
// states only ESPN has (postponed, canceled, delayed), then the 16 official
// finals, one in overtime.
//
//   cargo build && npm ci && LIVESCORE_BIN=target/debug/livescore node --test tests/browser/

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { OUT, ROOT, Server, launchBrowser, readBoard, waitFor as waitOn } from './lib.mjs';

// Bounds that only guard against hangs; none is a timing assertion.
const TIMEOUT_MS = 60_000;

const fixture = (name) => JSON.parse(readFileSync(path.join(ROOT, 'tests/fixtures', name), 'utf8'));

/** The official finals by home team, in ESPN's spelling. */
function officialByHome() {
  const week = JSON.parse(readFileSync(path.join(ROOT, 'crates/livescore/data/nfl-2015-week1.json'), 'utf8'));
  const espn = { JAC: 'JAX', WAS: 'WSH' };
  return new Map(week.games.map((g) => [espn[g.home.abbr] ?? g.home.abbr, g]));
}

/** The midday sample with the states the scorestrip never had. */
function unusualDay() {
  const doc = fixture('espn-2015-w1-midday.json');
  const status = (e, name, state, period, clock) => {
    e.status = {
      clock: 0, displayClock: clock, period,
      type: { id: '0', name, state, completed: false, description: name, detail: name, shortDetail: name },
    };
  };
  const ev = (id) => doc.events.find((e) => e.id === id);
  status(ev('405091307'), 'STATUS_POSTPONED', 'post', 0, '0:00');
  status(ev('405091308'), 'STATUS_CANCELED', 'post', 0, '0:00');
  status(ev('405091309'), 'STATUS_DELAYED', 'pre', 0, '0:00');
  status(ev('405091305'), 'STATUS_RAIN_DELAY', 'in', 4, '7:32');
  ev('405091303').competitions[0].situation.isRedZone = true;
  return doc;
}

/** A recording directory: [ms, document] pairs as `<ms>.json` files. */
function recording(dir, docs) {
  mkdirSync(dir, { recursive: true });
  for (const [ms, doc] of docs) writeFileSync(path.join(dir, `${ms}.json`), JSON.stringify(doc));
  return dir;
}

let browser;
let workDir;
const servers = [];
const pageErrors = [];

before(async () => {
  browser = await launchBrowser();
  workDir = mkdtempSync(path.join(tmpdir(), 'livescore-espn-browser-'));
});

after(async () => {
  await browser?.close().catch(() => {});
  for (const s of servers) await s.stop();
  if (workDir) rmSync(workDir, { recursive: true, force: true });
});

/** A page on `serve --feed-replay DIR`. */
async function open(dir) {
  const server = new Server({ args: ['serve', '--addr', '127.0.0.1:0', '--feed-replay', dir], cwd: workDir });
  servers.push(server);
  const url = await server.start();
  const page = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
  page.on('pageerror', (err) => pageErrors.push(String(err)));
  await page.goto(url, { waitUntil: 'domcontentloaded' });
  const waitFor = (what, fn, arg) => waitOn(page, what, fn, arg, TIMEOUT_MS, () => server.tail());
  return { page, waitFor };
}

test('ESPN games in every state, as the scorestrip ones are shown', async () => {
  const dir = recording(path.join(workDir, 'unusual'), [
    [0, fixture('espn-2015-w1-pregame.json')],
    [200, unusualDay()],
  ]);
  const { page, waitFor } = await open(dir);
  await waitFor(
    'the unusual day is shown',
    () => document.querySelector('.game[data-eid="405091307"]')?.dataset.state === 'postponed',
  );
  const board = await readBoard(page);
  const shown = (eid) => [board[eid]?.state, board[eid]?.status, board[eid]?.home, board[eid]?.away];
  assert.deepEqual(shown('405091000'), ['final', 'Final', 28, 21]);
  assert.deepEqual(shown('405091300'), ['live', 'Q1 \u00b7 04:53', 3, 0]);
  assert.deepEqual(shown('405091302'), ['halftime', 'Halftime', 9, 10]);
  assert.deepEqual(shown('405091304'), ['live', 'Q1 \u00b7 00:00', 7, 0]);
  assert.deepEqual(shown('405091307'), ['postponed', 'Postponed', 0, 0]);
  assert.deepEqual(shown('405091308'), ['canceled', 'Canceled', 0, 0]);
  assert.deepEqual(shown('405091309'), ['delayed', 'Delayed', 0, 0]);
  assert.deepEqual(shown('405091305'), ['delayed', 'Delayed \u00b7 Q4 \u00b7 07:32', 31, 10]);

  const marks = await page.evaluate(() => {
    const card = (eid) => document.querySelector(`.game[data-eid="${eid}"]`);
    const side = (eid, s) => card(eid).querySelector(`[data-side="${s}"]`);
    return {
      gbBall: side('405091300', 'away').classList.contains('has-ball'),
      chiBall: side('405091300', 'home').classList.contains('has-ball'),
      wshRedZone: side('405091303', 'home').classList.contains('in-red-zone'),
      cardRedZone: card('405091303').classList.contains('red-zone'),
      delayedBall: side('405091305', 'away').classList.contains('has-ball'),
      names: [side('405091300', 'away').querySelector('.name').textContent, side('405091302', 'home').querySelector('.abbr').textContent],
      fullName: side('405091300', 'home').querySelector('.name').title,
      situations: ['405091300', '405091302', '405091000'].map((eid) => card(eid).querySelector('.situation').textContent),
    };
  });
  assert.deepEqual(marks, {
    gbBall: true, chiBall: false, wshRedZone: true, cardRedZone: true, delayedBall: false,
    names: ['Packers', 'JAX'],
    fullName: 'Chicago Bears (0-0)',
    situations: ['1st & 10 at GB 43', '', ''],
  });
  assert.match(await page.textContent('#week'), /2015 · Week 1 · Regular season/);
  mkdirSync(OUT, { recursive: true });
  await page.screenshot({ path: path.join(OUT, 'scoreboard-espn.png'), fullPage: true });
  assert.deepEqual(pageErrors, [], 'no uncaught errors in the page');
});

test('a recorded ESPN day ends on the 16 official finals', async () => {
  const dir = recording(path.join(workDir, 'day'), [
    [0, fixture('espn-2015-w1-pregame.json')],
    [300, fixture('espn-2015-w1-midday.json')],
    [600, fixture('espn-2015-w1-final.json')],
  ]);
  const { page, waitFor } = await open(dir);
  await waitFor('every game is final', () => {
    const cards = [...document.querySelectorAll('.game')];
    return cards.length === 16 && cards.every((c) => c.dataset.state.startsWith('final'));
  });
  const board = await readBoard(page);
  const official = officialByHome();
  const final = fixture('espn-2015-w1-final.json');
  const wrong = [];
  for (const e of final.events) {
    const home = e.competitions[0].competitors.find((c) => c.homeAway === 'home').team.abbreviation;
    const o = official.get(home);
    const ot = o.final_quarter === 'FO';
    const want = { state: ot ? 'final_overtime' : 'final', status: ot ? 'Final/OT' : 'Final', home: o.home.final, away: o.away.final };
    const got = board[e.id];
    if (!got || Object.entries(want).some(([k, v]) => got[k] !== v) || got.homeLoser !== o.home.final < o.away.final) {
      wrong.push(`${e.id} ${home}: page ${JSON.stringify(got)}, official ${JSON.stringify(want)}`);
    }
  }
  assert.deepEqual(wrong, [], wrong.join('\n'));
  assert.deepEqual(pageErrors, [], 'no uncaught errors in the page');
});
