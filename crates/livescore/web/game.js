// livescore - the game view: one game's scoring timeline and its chat.
//
// Opened by clicking (or Enter on) a card on the board, or by a
// `#game/{eid}` link; the browser's Back returns to the board. The timeline
// is loaded from `GET /api/games/{eid}/events` and then follows the live
// `score` events; the chat follows `chat/{eid}`. Both come over one
// WebSocket (`/ws`) that reconnects with back-off and resumes with
// `last_event_id`, so nothing said or scored while away is lost. Messages
// are de-duplicated by their ids, since a resume may repeat a few.
//
// Separate from app.js (the board) on purpose: the board works without it.
// Chat names and texts are other people's words: they only ever go into the
// DOM with textContent, never as markup. No innerHTML in this file.
// Kept ASCII-only (non-ASCII as \u escapes), like app.js.
'use strict';

(() => {
  const RETRY_MIN_MS = 5000;
  const RETRY_MAX_MS = 30000;
  /** The page's token (`/?access_token=...`), for private game topics. */
  const TOKEN = new URLSearchParams(location.search).get('access_token');
  /** Chat lines kept on the page; older ones are dropped from the DOM. */
  const MAX_CHAT_LINES = 200;
  /** Matches the server's defaults (SPEC: name 32, text 500 characters). */
  const MAX_NAME = 32;
  const MAX_TEXT = 500;
  const NAME_KEY = 'livescore.chat-name';
  const ERROR_MS = 6000;

  const $ = (id) => document.getElementById(id);
  const board = $('board');
  const view = $('game-view');
  if (!board || !view) return;
  const title = $('gv-title');
  const status = $('gv-status');
  const events = $('gv-events');
  const noEvents = $('gv-noevents');
  const messages = $('gv-messages');
  const form = $('gv-form');
  const nameBox = $('gv-name');
  const textBox = $('gv-text');
  const errorLine = $('gv-error');
  const connLine = $('gv-conn');

  /** The game shown, or null on the board. */
  let eid = null;
  /** ScoreEvent ids and chat ids already drawn. */
  let scoreIds = new Set();
  let chatIds = new Set();
  let ws = null;
  let lastId = null;
  let retryMs = RETRY_MIN_MS;
  let retryTimer = null;
  let errorTimer = null;

  const timeFormat = new Intl.DateTimeFormat(undefined, { hour: 'numeric', minute: '2-digit' });

  function capitalize(s) {
    return String(s ?? '').replace(/(^|[\s-])(\p{L})/gu, (_, sep, c) => sep + c.toUpperCase());
  }

  function teamName(t) {
    return capitalize(t?.nickname || t?.abbr || '');
  }

  function quarterLabel(q) {
    if (q === '5') return 'OT';
    if (/^[1-4]$/.test(q)) return `Q${q}`;
    return String(q ?? '');
  }

  function el(tag, className, text) {
    const e = document.createElement(tag);
    if (className) e.className = className;
    if (text != null) e.textContent = String(text);
    return e;
  }

  // ---- header -----------------------------------------------------------------

  function drawGame(g) {
    title.textContent = `${teamName(g.away)} at ${teamName(g.home)}`;
    for (const side of ['away', 'home']) {
      const row = view.querySelector(`.gv-team[data-side="${side}"]`);
      row.querySelector('.gv-abbr').textContent = String(g[side].abbr ?? '');
      // Penalty or shoot-out goals beside the score, as on the card: `1 (4)`.
      const so = Number.isFinite(g[side].shootout) ? ` (${g[side].shootout})` : '';
      row.querySelector('.gv-pts').textContent = `${g[side].score ?? 0}${so}`;
    }
    // How the game's sport reads (sport.js, loaded before this file); before the start, say so.
    const sport = window.livescoreSport;
    if (g.state === 'pregame') status.textContent = 'Not started';
    else if (sport) status.textContent = sport.statusText(g);
    else status.textContent = capitalize(String(g.state ?? ''));
    view.dataset.state = String(g.state ?? '');
  }

  // ---- timeline ---------------------------------------------------------------

  /** `<eid>-<n>` -> n, for ordering score events. */
  function scoreSeq(ev) {
    const n = Number(String(ev.id ?? '').split('-').pop());
    return Number.isFinite(n) ? n : 0;
  }

  function addScore(ev) {
    if (!ev || typeof ev.id !== 'string' || scoreIds.has(ev.id)) return;
    scoreIds.add(ev.id);
    const li = el('li', 'gv-event');
    li.dataset.seq = String(scoreSeq(ev));
    const pts = Number(ev.points);
    // `period_label` names any sport's period (`Top 7th`, `2nd half`); the quarter is football's.
    const period = typeof ev.period_label === 'string' && ev.period_label ? ev.period_label : quarterLabel(ev.quarter);
    const when = ev.clock ? `${period} ${ev.clock}` : period;
    li.append(
      el('span', 'gv-when', when),
      el('span', 'gv-what', `${String(ev.team ?? '')} ${pts > 0 ? '+' : ''}${pts}`),
      el('span', 'gv-after', `${ev.away_score}\u2013${ev.home_score}`),
    );
    // Newest first; keep feed order even when the API and the stream race.
    const after = [...events.children].find((c) => Number(c.dataset.seq) < scoreSeq(ev));
    events.insertBefore(li, after ?? null);
    noEvents.hidden = true;
  }

  async function loadTimeline(forEid) {
    try {
      const headers = { Accept: 'application/json' };
      if (TOKEN) headers.Authorization = `Bearer ${TOKEN}`;
      const res = await fetch(`/api/games/${encodeURIComponent(forEid)}/events`, { headers });
      if (!res.ok || forEid !== eid) return;
      const list = await res.json();
      if (forEid !== eid || !Array.isArray(list)) return;
      for (const ev of list) addScore(ev);
    } catch (err) {
      console.warn('livescore: timeline failed', err);
    }
  }

  // ---- chat -------------------------------------------------------------------

  function addChat(m) {
    if (!m || typeof m.id !== 'string' || chatIds.has(m.id)) return;
    chatIds.add(m.id);
    const nearBottom = messages.scrollHeight - messages.scrollTop - messages.clientHeight < 40;
    const li = el('li', 'gv-msg');
    const at = new Date(m.at);
    const name = el('span', 'gv-msg-name', m.name);
    // A name the server took from a verified token, not one typed.
    if (typeof m.user === 'string') {
      name.classList.add('gv-msg-verified');
      name.title = `signed in (user ${m.user})`;
    }
    li.append(
      name,
      el('span', 'gv-msg-text', m.text),
      el('time', 'gv-msg-at', Number.isNaN(at.getTime()) ? '' : timeFormat.format(at)),
    );
    messages.append(li);
    while (messages.children.length > MAX_CHAT_LINES) messages.firstElementChild.remove();
    if (nearBottom) messages.scrollTop = messages.scrollHeight;
  }

  function showError(text) {
    errorLine.textContent = text;
    clearTimeout(errorTimer);
    errorTimer = setTimeout(() => { errorLine.textContent = ''; }, ERROR_MS);
  }

  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const name = nameBox.value.trim();
    const text = textBox.value.trim();
    // With a token the server shows the token's name; a typed one is moot.
    if (!name && !TOKEN) return showError('Pick a name first.');
    if (!text) return;
    if (!ws || ws.readyState !== WebSocket.OPEN) return showError('Not connected; try again in a moment.');
    try { localStorage.setItem(NAME_KEY, name); } catch { /* private mode */ }
    ws.send(JSON.stringify({ type: 'chat', eid, name, text }));
    textBox.value = '';
  });

  // ---- the WebSocket ------------------------------------------------------------

  function topics(forEid) {
    return [`game/${forEid}`, `chat/${forEid}`];
  }

  function setConn(state) {
    connLine.dataset.state = state;
    connLine.textContent = { live: 'live', connecting: 'connecting\u2026', reconnecting: 'reconnecting\u2026' }[state];
  }

  function send(msg) {
    if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(msg));
  }

  function onEvent(msg) {
    if (typeof msg.id === 'string') lastId = msg.id;
    if (msg.event === 'reset') {
      // Our resume point was lost (server restart, history gone): start over.
      scoreIds = new Set();
      chatIds = new Set();
      events.replaceChildren();
      messages.replaceChildren();
      noEvents.hidden = false;
      if (eid) loadTimeline(eid);
      return;
    }
    if (!eid) return;
    if (msg.topic === `game/${eid}` && msg.event === 'game') drawGame(msg.data);
    else if (msg.topic === `game/${eid}` && msg.event === 'score') addScore(msg.data);
    else if (msg.topic === `chat/${eid}` && msg.event === 'chat') addChat(msg.data);
  }

  function connect() {
    clearTimeout(retryTimer);
    const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
    const query = TOKEN ? `?access_token=${encodeURIComponent(TOKEN)}` : '';
    const sock = new WebSocket(`${scheme}://${location.host}/ws${query}`);
    ws = sock;
    setConn(lastId ? 'reconnecting' : 'connecting');
    sock.addEventListener('open', () => {
      retryMs = RETRY_MIN_MS;
      setConn('live');
      if (!eid) return;
      const req = { type: 'subscribe', topics: topics(eid) };
      if (lastId) req.last_event_id = lastId;
      sock.send(JSON.stringify(req));
    });
    sock.addEventListener('message', (e) => {
      let msg;
      try { msg = JSON.parse(e.data); } catch { return; }
      if (msg.type === 'event') onEvent(msg);
      else if (msg.type === 'error') showError(String(msg.message ?? 'error'));
    });
    sock.addEventListener('close', () => {
      if (ws !== sock) return; // replaced or closed on purpose
      ws = null;
      if (!eid) return;
      setConn('reconnecting');
      // Exponential back-off with full jitter (anywhere up to the doubling
      // ceiling, from 5 s like the stream's `retry:`), so the pages a
      // restart cut off together do not all return in the same instant.
      retryTimer = setTimeout(connect, Math.random() * retryMs);
      retryMs = Math.min(retryMs * 2, RETRY_MAX_MS);
    });
  }

  // ---- navigation -----------------------------------------------------------------

  function open(newEid) {
    if (newEid === eid) return;
    const old = eid;
    eid = newEid;
    scoreIds = new Set();
    chatIds = new Set();
    events.replaceChildren();
    messages.replaceChildren();
    noEvents.hidden = false;
    title.textContent = '';
    status.textContent = '';
    errorLine.textContent = '';
    board.hidden = true;
    view.hidden = false;
    window.scrollTo(0, 0);
    if (ws && ws.readyState === WebSocket.OPEN) {
      if (old) send({ type: 'unsubscribe', topics: topics(old) });
      send({ type: 'subscribe', topics: topics(eid) });
    } else if (!ws) {
      lastId = null;
      connect();
    } // else: connecting; `open` subscribes to the current game.
    loadTimeline(eid);
  }

  function close() {
    if (eid === null) return;
    eid = null;
    openedFromBoard = false;
    view.hidden = true;
    board.hidden = false;
    clearTimeout(retryTimer);
    const sock = ws;
    ws = null;
    if (sock) sock.close(1000, 'back to the board');
  }

  function route() {
    const m = /^#game\/([A-Za-z0-9_.:-]{1,64})$/.exec(location.hash);
    if (m) open(m[1]);
    else close();
  }

  /** True when the view was opened from the board (so Back can go back). */
  let openedFromBoard = false;

  function go(cardEid) {
    openedFromBoard = true;
    location.hash = `game/${cardEid}`;
  }

  function cardOf(target) {
    const card = target instanceof Element ? target.closest('.game[data-eid]') : null;
    return card && board.contains(card) ? card : null;
  }

  board.addEventListener('click', (e) => {
    const card = cardOf(e.target);
    if (card) go(card.dataset.eid);
  });
  board.addEventListener('keydown', (e) => {
    const card = cardOf(e.target);
    if (card && (e.key === 'Enter' || e.key === ' ')) {
      e.preventDefault();
      go(card.dataset.eid);
    }
  });
  // Cards are drawn by app.js; make each one reachable from the keyboard.
  const markCards = () => {
    for (const card of board.querySelectorAll('.game[data-eid]:not([tabindex])')) {
      card.tabIndex = 0;
      card.setAttribute('role', 'link');
      card.title = 'Open the game: scoring and chat';
    }
  };
  new MutationObserver(markCards).observe(board, { childList: true, subtree: true });
  markCards();

  $('gv-back').addEventListener('click', () => {
    // Back where we came from when that was the board; else to the board.
    if (openedFromBoard) history.back();
    else location.hash = '';
  });
  window.addEventListener('hashchange', route);

  nameBox.maxLength = MAX_NAME;
  textBox.maxLength = MAX_TEXT;
  try { nameBox.value = localStorage.getItem(NAME_KEY) ?? ''; } catch { /* private mode */ }
  route();
})();
