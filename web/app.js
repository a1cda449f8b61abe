// livescore - the live scoreboard page.
//
// Follows `GET /api/livescore` (SSE, named event `update`, data = JSON array
// of every Game of the week, sent in full on connect and after each change)
// and keeps one card per game, keyed by eid, updated in place so that a
// running highlight animation is never cut short by a re-render.
//
// Everything that comes from the feed goes into the DOM with textContent;
// there is no innerHTML anywhere in this file.
// Kept ASCII-only (non-ASCII text as \u escapes) so it decodes the same
// whatever charset the server does or does not announce.
'use strict';

(() => {
  const STREAM_URL = '/api/livescore';
  const SNAPSHOT_URL = '/api/';
  /** How long a changed score stays highlighted (matches style.css). */
  const HIGHLIGHT_MS = 1500;
  /** Back-off for when the browser gives up on the EventSource (HTTP error). */
  const RETRY_MIN_MS = 1000;
  const RETRY_MAX_MS = 30000;

  const SEASON_TYPES = {
    PRE: 'Preseason',
    REG: 'Regular season',
    POST: 'Postseason',
    PRO: 'Pro Bowl',
  };
  const STATUS_TEXT = {
    halftime: 'Halftime',
    final: 'Final',
    final_overtime: 'Final/OT',
    suspended: 'Suspended',
    postponed: 'Postponed',
  };
  const FINAL_STATES = new Set(['final', 'final_overtime']);
  const PLAYING_STATES = new Set(['live', 'halftime']);

  const $ = (id) => document.getElementById(id);
  const board = $('board');
  const conn = $('conn');
  const connText = $('conn-text');
  const weekLine = $('week');
  const updated = $('updated');
  const announcer = $('announcer');
  const template = $('game-template');

  /** eid -> { el, game } for every card on the page. */
  const cards = new Map();
  /** kickoff ISO -> <section> holding that slot's cards. */
  const slots = new Map();
  /** True once a stream event has been drawn: a late /api/ answer must not undo it. */
  let haveStreamData = false;
  let firstDraw = true;

  // ---- formatting ---------------------------------------------------------

  const slotFormat = new Intl.DateTimeFormat(undefined, {
    weekday: 'long', month: 'short', day: 'numeric', hour: 'numeric', minute: '2-digit', timeZoneName: 'short',
  });
  const kickoffFormat = new Intl.DateTimeFormat(undefined, {
    weekday: 'short', hour: 'numeric', minute: '2-digit', timeZoneName: 'short',
  });
  const clockFormat = new Intl.DateTimeFormat(undefined, {
    hour: 'numeric', minute: '2-digit', second: '2-digit',
  });

  function validDate(iso) {
    const d = new Date(iso);
    return Number.isNaN(d.getTime()) ? null : d;
  }

  /** "patriots" -> "Patriots", "san diego" -> "San Diego". */
  function capitalize(s) {
    return String(s ?? '').replace(/(^|[\s-])(\p{L})/gu, (_, sep, c) => sep + c.toUpperCase());
  }

  function quarterLabel(q) {
    if (q === '5') return 'OT';
    if (/^[1-4]$/.test(q)) return `Q${q}`;
    return String(q ?? '');
  }

  function statusText(g) {
    if (g.state === 'live') {
      const q = quarterLabel(g.quarter);
      return g.clock ? `${q} \u00b7 ${g.clock}` : q;
    }
    if (g.state === 'pregame') {
      const d = validDate(g.kickoff);
      return d ? kickoffFormat.format(d) : `${g.day ?? ''} ${g.time ?? ''}`.trim();
    }
    return STATUS_TEXT[g.state] ?? capitalize(String(g.state ?? ''));
  }

  function weekText(info) {
    const parts = [];
    if (info.season != null) parts.push(String(info.season));
    if (info.week != null) parts.push(`Week ${info.week}`);
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
    conn.dataset.state = state;
    connText.textContent = { connecting: 'connecting\u2026', live: 'live', reconnecting: 'reconnecting\u2026' }[state];
  }

  // ---- cards ----------------------------------------------------------------

  function slotFor(kickoff) {
    const key = String(kickoff ?? '');
    let slot = slots.get(key);
    if (slot) return slot;
    slot = document.createElement('section');
    slot.className = 'slot';
    slot.dataset.kickoff = key;
    const h = document.createElement('h2');
    h.className = 'slot-title';
    const d = validDate(key);
    h.textContent = d ? slotFormat.format(d) : 'Kickoff time to be announced';
    const grid = document.createElement('div');
    grid.className = 'grid';
    slot.append(h, grid);
    // Keep slots in kickoff order (ISO UTC strings sort chronologically).
    const after = [...slots.keys()].filter((k) => k > key).sort()[0];
    board.insertBefore(slot, after ? slots.get(after) : null);
    slots.set(key, slot);
    return slot;
  }

  function placeCard(el, g) {
    const grid = slotFor(g.kickoff).querySelector('.grid');
    if (el.parentElement === grid) return;
    const oldGrid = el.parentElement;
    // Within a slot, order by eid (the feed's own order: date + index).
    const next = [...grid.children].find((c) => c.dataset.eid > g.eid);
    grid.insertBefore(el, next ?? null);
    if (oldGrid && oldGrid.children.length === 0) dropSlot(oldGrid.parentElement);
  }

  function dropSlot(slot) {
    slots.delete(slot.dataset.kickoff);
    slot.remove();
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
    if (el.textContent !== text) el.textContent = text;
  }

  function drawTeam(row, team, g, side, prev) {
    setText(row.querySelector('.abbr'), String(team.abbr ?? ''));
    setText(row.querySelector('.name'), teamName(team));
    const scoreEl = row.querySelector('.score');
    const score = String(team.score ?? 0);
    if (scoreEl.textContent !== score) {
      scoreEl.textContent = score;
      if (prev && prev[side].score !== team.score) highlight(scoreEl);
    }
    const hasBall = PLAYING_STATES.has(g.state) && g.possession != null && g.possession === team.abbr;
    row.classList.toggle('has-ball', hasBall);
    row.classList.toggle('in-red-zone', hasBall && !!g.red_zone);
    const other = side === 'home' ? g.away : g.home;
    const done = FINAL_STATES.has(g.state);
    row.classList.toggle('loser', done && team.score < other.score);
    row.classList.toggle('winner', done && team.score > other.score);
  }

  function drawCard(el, g, prev) {
    el.dataset.state = String(g.state ?? '');
    el.classList.toggle('is-live', PLAYING_STATES.has(g.state));
    el.classList.toggle('red-zone', g.state === 'live' && !!g.red_zone);
    el.setAttribute('aria-label', `${teamName(g.away)} at ${teamName(g.home)}`);
    setText(el.querySelector('.status-text'), statusText(g));
    drawTeam(el.querySelector('[data-side="away"]'), g.away, g, 'away', prev);
    drawTeam(el.querySelector('[data-side="home"]'), g.home, g, 'home', prev);
  }

  function announce(messages) {
    if (messages.length === 0) return;
    // Replace, don't append: the region only ever holds the latest changes.
    announcer.textContent = messages.join('. ');
  }

  function isGame(g) {
    return g && typeof g === 'object' && typeof g.eid === 'string' && g.home && g.away;
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
      if (prev && !firstDraw) {
        if (prev.home.score !== g.home.score || prev.away.score !== g.away.score) {
          messages.push(`${scoreLine(g)}, ${statusText(g)}`);
        } else if (prev.state !== g.state && (FINAL_STATES.has(g.state) || prev.state === 'pregame')) {
          messages.push(FINAL_STATES.has(g.state) ? `${statusText(g)}: ${scoreLine(g)}` : `Kickoff: ${teamName(g.away)} at ${teamName(g.home)}`);
        }
      }
    }
    for (const [eid, entry] of cards) {
      if (seen.has(eid)) continue;
      const grid = entry.el.parentElement;
      entry.el.remove();
      cards.delete(eid);
      if (grid && grid.children.length === 0) dropSlot(grid.parentElement);
    }

    const first = games.find(isGame);
    if (first) weekLine.textContent = weekText(first);
    const live = [...cards.values()].filter((c) => PLAYING_STATES.has(c.game.state)).length;
    document.title = live > 0 ? `(${live} live) livescore` : 'livescore';
    $('empty').hidden = cards.size > 0;
    $('empty').textContent = 'No games this week.';
    board.removeAttribute('aria-busy');
    updated.textContent = `Updated ${clockFormat.format(new Date())}`;
    announce(messages);
    firstDraw = false;
  }

  // ---- data sources ---------------------------------------------------------

  /** Draw the current state at once, before the stream's first event arrives. */
  async function loadSnapshot() {
    try {
      const res = await fetch(SNAPSHOT_URL, { headers: { Accept: 'application/json' } });
      if (!res.ok) return;
      const body = await res.json();
      if (haveStreamData || !body || !Array.isArray(body.games)) return;
      render(body.games);
      if (body.season != null) weekLine.textContent = weekText(body);
    } catch (err) {
      console.warn('livescore: snapshot failed', err);
    }
  }

  let source = null;
  let retryMs = RETRY_MIN_MS;
  let retryTimer = null;

  function connect() {
    clearTimeout(retryTimer);
    source = new EventSource(STREAM_URL);
    source.addEventListener('open', () => {
      retryMs = RETRY_MIN_MS;
      setConn('live');
    });
    source.addEventListener('update', (ev) => {
      let games;
      try {
        games = JSON.parse(ev.data);
      } catch (err) {
        console.warn('livescore: bad update data', err);
        return;
      }
      haveStreamData = true;
      setConn('live');
      render(games);
    });
    source.addEventListener('error', () => {
      setConn('reconnecting');
      if (source.readyState === EventSource.CLOSED) {
        // The browser gave up (e.g. an HTTP error from a proxy): retry ourselves.
        source.close();
        retryTimer = setTimeout(connect, retryMs);
        retryMs = Math.min(retryMs * 2, RETRY_MAX_MS);
      }
      // Otherwise readyState is CONNECTING: the browser retries on its own,
      // after the server's `retry:` delay.
    });
  }

  setConn('connecting');
  connect();
  loadSnapshot();
})();
