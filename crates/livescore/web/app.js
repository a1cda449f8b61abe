// livescore - the live scoreboard page.
//
// Follows `GET /api/stream?topic=scores&delta=true` (SSE): `update` carries
// the JSON array of every Game the server follows, all leagues together
// (on connect, and whenever the server cannot send less), `patch` an RFC
// 7396 merge patch of that board keyed by eid, which the server sends only
// when this page holds the board it applies to (the one of the last id it
// got, or resumed from). The page keeps one card per game, keyed by eid,
// updated in place so that a running highlight animation is never cut
// short by a re-render. How each sport reads (status line, line score,
// baseball's bases) is sport.js's.
//
// Leagues: the cards are grouped by `game.league`, one section each, with
// buttons to pick which show and `?league=` deep links: leagues.js.
//
// The stream is resumable: on a reconnect the browser sends Last-Event-ID
// (our own reconnect, after EventSource gives up, passes ?lastEventId=), the
// server replays every `update` missed meanwhile, or sends `event: reset`
// when it cannot, and the page says which in #notice (see "catch-up" below).
//
// Everything that comes from the feed goes into the DOM with textContent;
// there is no innerHTML anywhere in this file.
// Kept ASCII-only (non-ASCII text as \u escapes) so it decodes the same
// whatever charset the server does or does not announce.
'use strict';

(() => {
  // A token for a server whose scoreboard is private (`--auth required`,
  // docs/SECURITY.md), given to the page as `/?access_token=...`: sent on
  // the stream (EventSource cannot set headers) and as a bearer token on
  // the snapshot.
  const TOKEN = new URLSearchParams(location.search).get('access_token');
  const STREAM_URL = TOKEN
    ? `/api/stream?topic=scores&delta=true&access_token=${encodeURIComponent(TOKEN)}`
    : '/api/stream?topic=scores&delta=true';
  const SNAPSHOT_URL = '/api/';
  const SNAPSHOT_HEADERS = TOKEN
    ? { Accept: 'application/json', Authorization: `Bearer ${TOKEN}` }
    : { Accept: 'application/json' };
  /** How long a changed score stays highlighted (matches style.css). */
  const HIGHLIGHT_MS = 1500;
  /** How long the reconnect notice stays before it fades (fade: style.css). */
  const NOTICE_MS = 8000;
  const NOTICE_FADE_MS = 600;
  /**
   * Catch-up safety net: with neither end condition met (see catch-up
   * below), the replay counts as over after this long without an update.
   */
  const CATCHUP_QUIET_MS = 3000;
  /** Back-off ceilings (full jitter under them) for when the browser gives up on the EventSource (HTTP error). */
  const RETRY_MIN_MS = 1000;
  const RETRY_MAX_MS = 30000;

  const S = window.livescoreSport;

  const SEASON_TYPES = {
    PRE: 'Preseason',
    REG: 'Regular season',
    POST: 'Postseason',
    PRO: 'Pro Bowl',
    OFF: 'Off-season',
  };
  /** Football states in which the team with the ball is marked (its overtime is `live`). */
  const POSSESSION_STATES = new Set(['live', 'halftime']);

  const $ = (id) => document.getElementById(id);
  const board = $('board');
  const conn = $('conn');
  const connText = $('conn-text');
  const weekLine = $('week');
  const updated = $('updated');
  const announcer = $('announcer');
  const notice = $('notice');
  const template = $('game-template');

  /** eid -> { el, game } for every card on the page. */
  const cards = new Map();
  /** True once a stream event has been drawn: a late /api/ answer must not undo it. */
  let haveStreamData = false;
  let firstDraw = true;

  // ---- formatting ---------------------------------------------------------

  const slotFormat = new Intl.DateTimeFormat(undefined, {
    weekday: 'long', month: 'short', day: 'numeric', hour: 'numeric', minute: '2-digit', timeZoneName: 'short',
  });
  const clockFormat = new Intl.DateTimeFormat(undefined, {
    hour: 'numeric', minute: '2-digit', second: '2-digit',
  });

  const { capitalize, statusText, validDate } = S;

  /** `2015 \u00b7 Week 1 \u00b7 Regular season`; a day league: `Sun, Dec 15, 2024 \u00b7 Regular season`. */
  function weekText(info) {
    const parts = [];
    if (info.week != null) {
      if (info.season != null) parts.push(String(info.season));
      parts.push(`Week ${info.week}`);
    } else if (S.dateText(info.date)) {
      parts.push(S.dateText(info.date));
    } else if (info.season != null) {
      parts.push(String(info.season));
    }
    if (info.season_type) parts.push(SEASON_TYPES[info.season_type] ?? String(info.season_type));
    return parts.join(' \u00b7 ');
  }

  function teamName(t) {
    return capitalize(t?.nickname || t?.abbr || '');
  }

  function scoreLine(g) {
    return `${teamName(g.away)} ${g.away.score}, ${teamName(g.home)} ${g.home.score}`;
  }

  // ---- connection indicator ------------------------------------------------

  function setConn(state) {
    if (conn.dataset.state === state) return;
    conn.dataset.state = state;
    connText.textContent = { connecting: 'connecting\u2026', live: 'live', reconnecting: 'reconnecting\u2026' }[state];
  }

  // ---- reconnect notice -----------------------------------------------------

  let noticeTimer = null;

  /**
   * Shows `text` near the indicator; it fades out by itself. `kind`, `by`
   * (why: the catch-up rule that ended it, or the reset's reason) and a
   * catch-up's ids stay on the element as data-*, for styling and tests.
   */
  function showNotice(kind, text, by, ids = {}) {
    clearTimeout(noticeTimer);
    notice.dataset.kind = kind;
    notice.dataset.by = by;
    // A catch-up's bounds: it counted the updates after `since` up to `head`.
    for (const k of ['since', 'head']) {
      if (ids[k]) notice.dataset[k] = ids[k];
      else delete notice.dataset[k];
    }
    notice.textContent = text;
    // Screen readers hear it through the live region (the notice itself was hidden).
    announcer.textContent = text;
    notice.classList.remove('fading');
    notice.hidden = false;
    noticeTimer = setTimeout(() => {
      notice.classList.add('fading');
      noticeTimer = setTimeout(() => { notice.hidden = true; }, NOTICE_FADE_MS);
    }, NOTICE_MS);
  }

  // ---- leagues ------------------------------------------------------------------

  const leagues = window.livescoreLeagues.create({
    board,
    bar: $('leagues'),
    headers: SNAPSHOT_HEADERS,
    weekText,
    onChange: drawLeagues,
  });

  /**
   * What depends on the leagues on screen: their sections and buttons
   * (leagues.js), the header line, the title's live count, the empty-board text.
   */
  function drawLeagues() {
    const { visible, live } = leagues.draw([...cards.values()].map((c) => c.game));
    const picked = leagues.picked();
    const games = [...cards.values()].map((c) => c.game);
    if (visible.length === 1) {
      const first = games.find((g) => S.leagueOf(g) === visible[0]);
      weekLine.textContent = first ? weekText(first) : leagues.name(visible[0]);
    } else if (visible.length > 1) {
      weekLine.textContent = picked.length === 0 ? 'All leagues' : visible.map(leagues.name).join(', ');
    } else if (picked.length > 0) {
      weekLine.textContent = picked.map(leagues.name).join(', ');
    }
    document.title = live > 0 ? `(${live} live) livescore` : 'livescore';
    const shownCards = games.filter((g) => leagues.shown(S.leagueOf(g))).length;
    const empty = $('empty');
    empty.hidden = shownCards > 0;
    empty.textContent = cards.size === 0 || picked.length === 0
      ? 'No games this week.'
      : `No ${picked.map(leagues.name).join(' or ')} games right now.`;
  }

  // ---- cards ----------------------------------------------------------------

  /** Games without a set start time sort after every timed one. */
  const TBD_SLOT = '~tbd';

  function slotKey(g) {
    return g.kickoff_tbd ? TBD_SLOT : String(g.kickoff ?? '');
  }

  function slotFor(g) {
    const key = slotKey(g);
    const league = leagues.section(S.leagueOf(g));
    let slot = league.slots.get(key);
    if (slot) return slot;
    slot = document.createElement('section');
    slot.className = 'slot';
    slot.dataset.kickoff = key;
    const h = document.createElement('h2');
    h.className = 'slot-title';
    const d = key === TBD_SLOT ? null : validDate(key);
    const sport = S.sportOf(g);
    h.textContent = d ? slotFormat.format(d)
      : `${sport === 'football' || sport === 'soccer' ? 'Kickoff time' : 'Start time'} to be announced`;
    const grid = document.createElement('div');
    grid.className = 'grid';
    slot.append(h, grid);
    // Keep slots in kickoff order (ISO UTC strings sort chronologically).
    const after = [...league.slots.keys()].filter((k) => k > key).sort()[0];
    league.el.insertBefore(slot, after ? league.slots.get(after) : null);
    league.slots.set(key, slot);
    return slot;
  }

  function placeCard(el, g) {
    const grid = slotFor(g).querySelector('.grid');
    if (el.parentElement === grid) return;
    const oldGrid = el.parentElement;
    // Within a slot, order by eid (the feed's own order: date + index).
    const next = [...grid.children].find((c) => c.dataset.eid > g.eid);
    grid.insertBefore(el, next ?? null);
    if (oldGrid && oldGrid.children.length === 0) dropSlot(oldGrid.parentElement);
  }

  /** Removes an empty slot, and its league's section once that holds no slot. */
  function dropSlot(slot) {
    const key = slot.parentElement?.dataset.league;
    slot.remove();
    if (key == null) return;
    const league = leagues.section(key);
    league.slots.delete(slot.dataset.kickoff);
    if (league.slots.size === 0) leagues.drop(key);
  }

  function createCard(g) {
    const el = template.content.firstElementChild.cloneNode(true);
    el.dataset.eid = g.eid;
    return el;
  }

  /** score element -> pending timer that ends its highlight. */
  const highlightTimers = new WeakMap();

  /** Re-trigger the highlight on a score element, even mid-animation. */
  function highlight(scoreEl) {
    clearTimeout(highlightTimers.get(scoreEl));
    scoreEl.classList.remove('changed');
    void scoreEl.offsetWidth; // force a style flush so the CSS animation restarts
    scoreEl.classList.add('changed');
    highlightTimers.set(scoreEl, setTimeout(() => scoreEl.classList.remove('changed'), HIGHLIGHT_MS));
  }

  function setText(el, text) {
    if (el && el.textContent !== text) el.textContent = text;
  }

  /** Who won: the score, then a shoot-out's goals (a soccer draw decided on penalties). */
  function beats(a, b) {
    if (a.score !== b.score) return a.score > b.score;
    return Number.isFinite(a.shootout) && Number.isFinite(b.shootout) && a.shootout > b.shootout;
  }

  function drawTeam(row, team, g, side, prev) {
    setText(row.querySelector('.abbr'), String(team.abbr ?? ''));
    setText(row.querySelector('.name'), teamName(team));
    const scoreEl = row.querySelector('.score');
    const score = String(team.score ?? 0);
    if (scoreEl.textContent !== score) {
      scoreEl.textContent = score;
      if (prev && prev[side]?.score !== team.score) highlight(scoreEl);
    }
    setText(row.querySelector('.shootout'), S.shootoutBeside(g, side));
    const hasBall = POSSESSION_STATES.has(g.state) && g.possession != null && g.possession === team.abbr;
    row.classList.toggle('has-ball', hasBall);
    row.classList.toggle('in-red-zone', hasBall && !!g.red_zone);
    const other = side === 'home' ? g.away : g.home;
    const done = S.isFinal(g);
    row.classList.toggle('loser', done && beats(other, team));
    row.classList.toggle('winner', done && beats(team, other));
  }

  function drawCard(el, g, prev) {
    el.dataset.state = String(g.state ?? '');
    el.dataset.sport = S.sportOf(g);
    el.dataset.league = S.leagueOf(g);
    el.classList.toggle('is-live', S.isPlaying(g));
    el.classList.toggle('red-zone', g.state === 'live' && !!g.red_zone);
    el.setAttribute('aria-label', `${teamName(g.away)} at ${teamName(g.home)}`);
    setText(el.querySelector('.status-text'), statusText(g));
    drawTeam(el.querySelector('[data-side="away"]'), g.away, g, 'away', prev);
    drawTeam(el.querySelector('[data-side="home"]'), g.home, g, 'home', prev);
    // Down and distance while live, when the feed gives it (ESPN does).
    const d = g.details ?? {};
    setText(el.querySelector('.situation'), g.state === 'live' ? String(d.down_distance ?? '') : '');
    for (const side of ['away', 'home']) {
      const t = d[side] ?? {};
      const title = [t.name, t.record && `(${t.record})`].filter(Boolean).join(' ');
      const name = el.querySelector(`[data-side="${side}"] .name`);
      if (title) name.title = title;
      else name.removeAttribute('title');
    }
    const bso = el.querySelector('.bso');
    if (bso) S.drawSituation(bso, g);
    const box = el.querySelector('.linescore-box');
    if (box) S.drawLineScore(box, g);
  }

  function announce(messages) {
    if (messages.length === 0) return;
    // Replace, don't append: the region only ever holds the latest changes.
    announcer.textContent = messages.join('. ');
  }

  function isGame(g) {
    return g && typeof g === 'object' && typeof g.eid === 'string'
      && g.home && typeof g.home === 'object' && g.away && typeof g.away === 'object';
  }

  /** What changed that a screen reader should hear, for a game of a league on screen. */
  function newsOf(g, prev) {
    if (prev.home.score !== g.home.score || prev.away.score !== g.away.score) {
      return `${scoreLine(g)}, ${statusText(g)}`;
    }
    if (prev.state === g.state) return null;
    if (S.isFinal(g)) return `${statusText(g)}: ${scoreLine(g)}`;
    if (prev.state !== 'pregame') return null;
    const sport = S.sportOf(g);
    const start = sport === 'football' || sport === 'soccer' ? 'Kickoff' : 'Under way';
    return `${start}: ${teamName(g.away)} at ${teamName(g.home)}`;
  }

  /** Draw a full list of games: update existing cards, add new, drop gone ones. */
  function render(games) {
    if (!Array.isArray(games)) {
      console.warn('livescore: ignoring update that is not an array of games', games);
      return;
    }
    const messages = [];
    const seen = new Set();
    for (const g of games) {
      if (!isGame(g)) continue;
      seen.add(g.eid);
      let entry = cards.get(g.eid);
      const prev = entry?.game;
      if (!entry) {
        entry = { el: createCard(g), game: null };
        cards.set(g.eid, entry);
      }
      placeCard(entry.el, g);
      drawCard(entry.el, g, prev);
      entry.game = g;
      if (prev && !firstDraw && leagues.shown(S.leagueOf(g))) {
        const news = newsOf(g, prev);
        if (news) messages.push(news);
      }
    }
    for (const [eid, entry] of cards) {
      if (seen.has(eid)) continue;
      const grid = entry.el.parentElement;
      entry.el.remove();
      cards.delete(eid);
      if (grid && grid.children.length === 0) dropSlot(grid.parentElement);
    }

    drawLeagues();
    leagues.learn();
    board.removeAttribute('aria-busy');
    updated.textContent = `Updated ${clockFormat.format(new Date())}`;
    announce(messages);
    firstDraw = false;
  }

  // ---- data sources ---------------------------------------------------------

  /** Draw the current state at once, before the stream's first event arrives. */
  async function loadSnapshot() {
    try {
      const res = await fetch(SNAPSHOT_URL, { headers: SNAPSHOT_HEADERS });
      if (!res.ok) return;
      const body = await res.json();
      if (haveStreamData || !body || !Array.isArray(body.games)) return;
      render(body.games);
      // No games to read it from: the board's own week (an NFL server says it at the top).
      if (body.season != null && cards.size === 0 && leagues.picked().length === 0) weekLine.textContent = weekText(body);
    } catch (err) {
      console.warn('livescore: snapshot failed', err);
    }
  }

  // ---- catch-up after a reconnect ---------------------------------------------
  //
  // On a reconnect the server first replays every `update` published after
  // our last id, then goes live; nothing on the wire marks the end of the
  // replay. So on `open` the page asks GET /api/ for `last_event_id`, the
  // newest id on the server (the head). It is read after the server took
  // our subscription, so every replayed update has an id at or below it.
  // The replay is over, and "caught up: N updates" is shown, as soon as
  //   (a) an update with seq >= the head's seq has arrived, or
  //   (b) the board last received equals the games /api/ returned (the head
  //       may be a chat or game event after the last board: then no update
  //       reaches it, but the last replayed board is the current one), or
  //   (c) as a safety net (e.g. /api/ failed), CATCHUP_QUIET_MS pass with
  //       no update.
  // N counts the updates received since `open` with seq <= the head's seq,
  // i.e. those published while the page was away (plus any published in the
  // instant between the server taking the reconnect and answering /api/).
  // Nothing missed gives "caught up: 0 updates". `event: reset` ends the
  // catch-up and shows "history reset: showing current scores" instead.
  // Ids are `<epoch>-<seq>`: only seqs of the same epoch are compared.

  /** Id of the last event seen on the stream: where a reconnect resumes. */
  let lastId = '';
  /** Games of the last `update` drawn from the stream. */
  let lastGames = null;
  /** The catch-up in progress, or null. */
  let catchup = null;

  function parseId(id) {
    const m = /^(.+)-(\d+)$/.exec(String(id ?? ''));
    return m ? { epoch: m[1], seq: Number(m[2]) } : null;
  }

  /** a is at or after b, when both are ids of the same history. */
  function reached(a, b) {
    return !!(a && b && a.epoch === b.epoch && a.seq >= b.seq);
  }

  /** Equal as boards: a missing key and `null` are the same (a patch removes a value that turns null). */
  function sameJson(a, b) {
    if (a === b || (a == null && b == null)) return true;
    if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
    if (Array.isArray(a) !== Array.isArray(b)) return false;
    if (Array.isArray(a)) return a.length === b.length && a.every((v, i) => sameJson(v, b[i]));
    const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
    return [...keys].every((k) => sameJson(a[k], b[k]));
  }

  /** RFC 7396: `patch` applied to `target`, as a new value (the old one untouched). */
  function mergePatch(target, patch) {
    if (typeof patch !== 'object' || patch === null || Array.isArray(patch)) return patch;
    const out = (typeof target === 'object' && target !== null && !Array.isArray(target)) ? { ...target } : {};
    for (const [k, v] of Object.entries(patch)) {
      if (v === null) delete out[k];
      else out[k] = mergePatch(out[k], v);
    }
    return out;
  }

  /** The board after a `patch` (keyed by eid), or null when it cannot apply. */
  function patchBoard(games, patch) {
    if (!Array.isArray(games) || typeof patch !== 'object' || patch === null || Array.isArray(patch)) return null;
    const eids = new Set(games.map((g) => g?.eid));
    if (!Object.keys(patch).every((eid) => eids.has(eid))) return null;
    return games.map((g) => (Object.prototype.hasOwnProperty.call(patch, g?.eid) ? mergePatch(g, patch[g.eid]) : g));
  }

  function beginCatchUp() {
    endCatchUp();
    const run = { sinceId: lastId, since: parseId(lastId), ids: [], headId: '', head: undefined, games: null, timer: null };
    catchup = run;
    armQuiet(run);
    fetch(SNAPSHOT_URL, { headers: SNAPSHOT_HEADERS, cache: 'no-store' })
      .then((res) => (res.ok ? res.json() : Promise.reject(new Error(`HTTP ${res.status}`))))
      .then((body) => {
        if (catchup !== run) return;
        run.headId = String(body?.last_event_id ?? '');
        run.head = parseId(run.headId);
        run.games = Array.isArray(body?.games) ? body.games : null;
        checkCaughtUp(run);
      })
      .catch((err) => {
        console.warn('livescore: cannot read the head id', err);
        if (catchup === run) run.head = null; // the quiet timer ends it
      });
  }

  function armQuiet(run) {
    clearTimeout(run.timer);
    run.timer = setTimeout(() => { if (catchup === run) finishCatchUp(run, 'quiet'); }, CATCHUP_QUIET_MS);
  }

  function endCatchUp() {
    if (catchup) clearTimeout(catchup.timer);
    catchup = null;
  }

  /** After each update of a catch-up and when the head arrives. */
  function checkCaughtUp(run) {
    if (run.head === undefined) return armQuiet(run); // /api/ not answered yet
    const newest = run.ids.length ? run.ids[run.ids.length - 1] : run.since;
    if (reached(newest, run.head)) return finishCatchUp(run, 'head');
    if (run.games && lastGames && sameJson(lastGames, run.games)) return finishCatchUp(run, 'board');
    armQuiet(run);
  }

  /** `how` (head, board or quiet: which rule ended it) goes on #notice as data-by. */
  function finishCatchUp(run, how) {
    endCatchUp();
    const head = run.head;
    // Updates past the head arrived live, after the replay.
    const n = run.ids.filter((id) => !(head && id && id.epoch === head.epoch && id.seq > head.seq)).length;
    showNotice('caught-up', `caught up: ${n} update${n === 1 ? '' : 's'}`, how, { since: run.sinceId, head: run.headId });
  }

  // ---- the stream ------------------------------------------------------------

  let source = null;
  let retryMs = RETRY_MIN_MS;
  let retryTimer = null;

  function connect() {
    clearTimeout(retryTimer);
    // A new EventSource starts without an id: resume with the query parameter.
    const url = lastId ? `${STREAM_URL}&lastEventId=${encodeURIComponent(lastId)}` : STREAM_URL;
    source = new EventSource(url);
    source.addEventListener('open', () => {
      retryMs = RETRY_MIN_MS;
      setConn('live');
      // A reconnect (we had events before): the server replays what we missed.
      if (lastId) beginCatchUp();
    });
    source.addEventListener('update', (ev) => {
      let games;
      try {
        games = JSON.parse(ev.data);
      } catch (err) {
        console.warn('livescore: bad update data', err);
        return;
      }
      applyBoard(games, ev);
    });
    // The change from the board we hold (the server checked which one we
    // hold). Without a board, or naming a game we lack, it cannot apply:
    // start over from the whole board rather than show a half-applied one.
    source.addEventListener('patch', (ev) => {
      let games = null;
      try {
        games = patchBoard(lastGames, JSON.parse(ev.data));
      } catch (err) {
        console.warn('livescore: bad patch data', err);
      }
      if (!games) {
        console.warn('livescore: a patch that does not apply; reloading the board');
        source.close();
        lastId = '';
        lastGames = null;
        connect();
        return;
      }
      applyBoard(games, ev);
    });
    function applyBoard(games, ev) {
      if (ev.lastEventId) lastId = ev.lastEventId;
      haveStreamData = true;
      setConn('live');
      render(games);
      lastGames = games;
      if (catchup) {
        catchup.ids.push(parseId(ev.lastEventId));
        checkCaughtUp(catchup);
      }
    }
    // The server could not resume from our id (history evicted, reset, or
    // unknown id): the current list follows at once and replaces the board.
    source.addEventListener('reset', (ev) => {
      if (ev.lastEventId) lastId = ev.lastEventId;
      // The board is from the old history: no patch may build on it (the
      // current board follows whole).
      lastGames = null;
      endCatchUp();
      let reason = '';
      try {
        reason = String(JSON.parse(ev.data)?.reason ?? '');
      } catch (err) {
        console.warn('livescore: bad reset data', err);
      }
      showNotice('reset', 'history reset: showing current scores', reason);
    });
    // The token expired: the same one would be refused, so stop and say so.
    source.addEventListener('expired', () => {
      source.close();
      setConn('reconnecting');
      showNotice('expired', 'access expired: reload the page with a fresh token', 'token');
    });
    source.addEventListener('error', () => {
      setConn('reconnecting');
      endCatchUp();
      if (source.readyState === EventSource.CLOSED) {
        // The browser gave up (e.g. an HTTP error from a proxy): retry ourselves.
        source.close();
        // Exponential back-off with full jitter (anywhere up to the
        // doubling ceiling), so pages cut off together do not return together.
        retryTimer = setTimeout(connect, Math.random() * retryMs);
        retryMs = Math.min(retryMs * 2, RETRY_MAX_MS);
      }
      // Otherwise readyState is CONNECTING: the browser retries on its own,
      // after the server's `retry:` delay, and sends Last-Event-ID itself.
    });
  }

  setConn('connecting');
  connect();
  loadSnapshot();
  leagues.learn();
})();
