// livescore - the board's leagues: one <section> per league the games
// name, the row of buttons that picks which show, and `?league=` in the URL.
//
// Used by app.js as `window.livescoreLeagues.create(...)`: app.js puts each
// game's card in its league's section (`section(key)`) and, after every
// board, calls `draw(games)`, which titles and shows or hides the sections
// and draws the buttons (All, then each league with how many of its games
// are live). With one league and nothing else picked there are no buttons,
// so an NFL-only page looks as it always did. A button picks its league
// alone; with Ctrl, Cmd or Shift it adds or removes one; All picks every
// league. Each pick rewrites `?league=` in place (history.replaceState) and
// calls `onChange`. League names and order come from `GET /api/leagues` when
// the server has it, else from sport.js's table.
//
// No feed text ever goes in as markup (textContent only). ASCII-only, like app.js.
'use strict';

(() => {
  const S = window.livescoreSport;
  const LEAGUES_URL = '/api/leagues';

  /**
   * `board`: the element holding the sections; `bar`: the <nav> of
   * buttons; `headers`: for GET /api/leagues (a private board's token);
   * `weekText(game)`: a section's subtitle; `onChange()`: after a pick, or when names arrive.
   */
  function create({ board, bar, headers, weekText, onChange }) {
    /** league key -> { el: <section>, name, when, slots: kickoff key -> slot } */
    const sections = new Map();
    /** The leagues picked (`?league=`); empty: all of them. */
    const picked = new Set(new URLSearchParams(location.search).getAll('league').filter(Boolean));
    /** league key -> { name, ... } from GET /api/leagues, in its order. */
    const info = new Map();
    /** Keys /api/leagues was asked about: a league it did not name makes it ask once more. */
    const asked = new Set();
    /** league key -> <button> ('' is All). */
    const tabs = new Map();
    /** The last /api/leagues request: resolves true when the server has the endpoint. */
    let endpoint = null;

    function setText(el, text) {
      if (el.textContent !== text) el.textContent = text;
    }

    function name(key) {
      const n = info.get(key)?.name;
      return typeof n === 'string' && n ? n : S.leagueName(key);
    }

    /** /api/leagues's order once it answered, else sport.js's; then by key. */
    function rank(key) {
      const i = [...info.keys()].indexOf(key);
      return i >= 0 ? i : 1000 + S.leagueRank(key);
    }

    function byLeague(a, b) {
      return rank(a) - rank(b) || (a < b ? -1 : a > b ? 1 : 0);
    }

    /** Every league when none is picked, else the picked ones. */
    function shown(key) {
      return picked.size === 0 || picked.has(key);
    }

    /** Puts the sections in league order, moving one only when out of place (a move restarts animations). */
    function order() {
      const want = [...sections.keys()].sort(byLeague).map((k) => sections.get(k).el);
      const have = [...board.children].filter((c) => c.classList.contains('league'));
      if (want.length === have.length && want.every((el, i) => el === have[i])) return;
      for (const el of want) board.append(el);
    }

    /** The section of a league, made on first use. */
    function section(key) {
      let s = sections.get(key);
      if (s) return s;
      const el = document.createElement('section');
      el.className = 'league';
      el.dataset.league = key;
      const title = document.createElement('h2');
      title.className = 'league-title';
      const nameEl = document.createElement('span');
      nameEl.className = 'league-name';
      const when = document.createElement('span');
      when.className = 'league-when';
      title.append(nameEl, when);
      el.append(title);
      s = { el, name: nameEl, when, slots: new Map() };
      sections.set(key, s);
      order();
      return s;
    }

    function drop(key) {
      sections.get(key)?.el.remove();
      sections.delete(key);
    }

    function tab(key) {
      let t = tabs.get(key);
      if (t) return t;
      t = document.createElement('button');
      t.type = 'button';
      t.className = 'league-tab';
      t.dataset.league = key;
      const n = document.createElement('span');
      n.className = 'tab-name';
      const live = document.createElement('span');
      live.className = 'tab-live';
      t.append(n, live);
      tabs.set(key, t);
      return t;
    }

    function drawTab(key, label, live, pressed) {
      const t = tab(key);
      setText(t.querySelector('.tab-name'), label);
      const badge = t.querySelector('.tab-live');
      badge.dataset.live = String(live);
      setText(badge, live > 0 ? `${live} live` : '');
      t.setAttribute('aria-pressed', String(pressed));
      return t;
    }

    /**
     * Titles, shows or hides the sections and draws the buttons for
     * `games` (the board); returns the keys on screen, in order, and how
     * many of their games are live.
     */
    function draw(games) {
      order();
      const keys = [...sections.keys()].sort(byLeague);
      const liveOf = new Map();
      for (const g of games) {
        if (!S.isPlaying(g)) continue;
        const key = S.leagueOf(g);
        liveOf.set(key, (liveOf.get(key) ?? 0) + 1);
      }
      for (const key of keys) {
        const s = sections.get(key);
        const first = games.find((g) => S.leagueOf(g) === key);
        setText(s.name, name(key));
        setText(s.when, first ? weekText(first) : '');
        s.el.hidden = !shown(key);
      }
      const visible = keys.filter(shown);
      // League headings only when more than one league is on screen.
      board.classList.toggle('several-leagues', visible.length > 1);

      // A picked league with no games still gets its button, pressed.
      const buttons = [...new Set([...keys, ...[...picked].sort(byLeague)])];
      bar.hidden = buttons.length < 2;
      if (!bar.hidden) {
        const total = [...liveOf.values()].reduce((a, b) => a + b, 0);
        const row = [drawTab('', 'All', total, picked.size === 0)];
        for (const key of buttons) row.push(drawTab(key, name(key), liveOf.get(key) ?? 0, picked.has(key)));
        for (const [key, t] of tabs) {
          if (!row.includes(t)) {
            t.remove();
            tabs.delete(key);
          }
        }
        row.forEach((t, i) => { if (bar.children[i] !== t) bar.insertBefore(t, bar.children[i] ?? null); });
      }
      return { visible, live: visible.reduce((n, k) => n + (liveOf.get(k) ?? 0), 0) };
    }

    /** `?league=` as picked now; the rest of the URL (a token, `#game/...`) stays. */
    function writeUrl() {
      const url = new URL(location.href);
      url.searchParams.delete('league');
      for (const key of picked) url.searchParams.append('league', key);
      history.replaceState(history.state, '', url);
    }

    bar.addEventListener('click', (e) => {
      const t = e.target instanceof Element ? e.target.closest('.league-tab') : null;
      if (!t) return;
      const key = t.dataset.league;
      if (!key) {
        picked.clear();
      } else if (e.ctrlKey || e.metaKey || e.shiftKey) {
        if (picked.has(key)) picked.delete(key);
        else picked.add(key);
      } else {
        picked.clear();
        picked.add(key);
      }
      writeUrl();
      onChange();
    });

    /** Names and order of the server's leagues; false when it has no such endpoint (yet). */
    async function load() {
      try {
        const res = await fetch(LEAGUES_URL, { headers });
        if (!res.ok) return false;
        const list = await res.json();
        if (!Array.isArray(list)) return false;
        info.clear();
        for (const item of list) {
          if (item && typeof item.league === 'string') {
            info.set(item.league, item);
            asked.add(item.league);
          }
        }
        onChange();
        return true;
      } catch (err) {
        console.warn('livescore: league names failed', err);
        return false;
      }
    }

    /** Asks /api/leagues again, once, when the board shows a league it did not name. */
    function learn() {
      if (!endpoint) {
        endpoint = load();
        return;
      }
      const fresh = [...sections.keys()].filter((k) => !asked.has(k));
      if (fresh.length === 0) return;
      for (const k of fresh) asked.add(k);
      endpoint = endpoint.then((ok) => (ok ? load() : false));
    }

    return {
      draw,
      drop,
      learn,
      name,
      picked: () => [...picked],
      section,
      shown,
    };
  }

  window.livescoreLeagues = Object.freeze({ create });
})();
