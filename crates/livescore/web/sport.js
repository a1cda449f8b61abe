// livescore - how each sport reads on the page: the status line, the line
// score, baseball's count and bases, shoot-outs, and league names.
//
// Shared by app.js (the board) and game.js (the game view) as
// `window.livescoreSport`; pure formatting and DOM building, no network and
// no state. The server's `Game` (crates/livescore/src/model/game.rs) says
// which sport a game is (`sport`), where it stands (`state`, `period`,
// `period_label`, `clock`) and, when the feed gives them, the line score,
// shoot-out goals and baseball's situation. Each of those may be absent
// (a scorestrip NFL game has none of them, an old server sends no `sport`):
// a game then draws as football did before, and an unknown sport or state
// draws with the labels the server sent.
//
// Feed text only ever goes into the DOM with textContent; no innerHTML.
// Kept ASCII-only (non-ASCII as \u escapes), like app.js.
'use strict';

(() => {
  const DOT = ' \u00b7 ';
  const SVG_NS = 'http://www.w3.org/2000/svg';

  /** Periods in regulation, as the server's model/sport/*.rs count them. */
  const REGULATION = { football: 4, basketball: 4, hockey: 3, baseball: 9, soccer: 2 };
  /** Basketball leagues that play two halves (the rest play quarters). */
  const HALVES = new Set(['mens-college-basketball']);

  /**
   * Names for the league keys the server knows (SPEC "Leagues"), in the
   * order the tabs list them; `/api/leagues` names them when it answers.
   */
  const LEAGUE_NAMES = new Map([
    ['nfl', 'NFL'],
    ['college-football', 'College Football'],
    ['nba', 'NBA'],
    ['wnba', 'WNBA'],
    ['mens-college-basketball', "Men's College Basketball"],
    ['womens-college-basketball', "Women's College Basketball"],
    ['nhl', 'NHL'],
    ['mlb', 'MLB'],
    ['eng.1', 'Premier League'],
    ['esp.1', 'LaLiga'],
    ['ger.1', 'Bundesliga'],
    ['ita.1', 'Serie A'],
    ['fra.1', 'Ligue 1'],
    ['usa.1', 'MLS'],
    ['uefa.champions', 'Champions League'],
    ['uefa.europa', 'Europa League'],
  ]);

  /** Under way, playing or in a break: the card is marked live and counts in its league's tab. */
  const PLAYING_STATES = new Set(['live', 'halftime', 'intermission', 'overtime', 'shootout']);
  const FINAL_STATES = new Set(['final', 'final_overtime', 'final_shootout']);
  /** States with nothing to add after their name. */
  const PLAIN_TEXT = { postponed: 'Postponed', canceled: 'Canceled', abandoned: 'Abandoned' };

  const kickoffFormat = new Intl.DateTimeFormat(undefined, {
    weekday: 'short', hour: 'numeric', minute: '2-digit', timeZoneName: 'short',
  });
  const dayFormat = new Intl.DateTimeFormat(undefined, {
    weekday: 'short', month: 'short', day: 'numeric', year: 'numeric',
  });

  function validDate(iso) {
    const d = new Date(iso);
    return Number.isNaN(d.getTime()) ? null : d;
  }

  /** "patriots" -> "Patriots", "san diego" -> "San Diego". */
  function capitalize(s) {
    return String(s ?? '').replace(/(^|[\s-])(\p{L})/gu, (_, sep, c) => sep + c.toUpperCase());
  }

  /** The sport's key; a game without one (an NFL-only server) is football. */
  function sportOf(g) {
    return typeof g?.sport === 'string' && g.sport ? g.sport : 'football';
  }

  /** The league's key; a game without one is the NFL (the server's own default). */
  function leagueOf(g) {
    return typeof g?.league === 'string' && g.league ? g.league : 'nfl';
  }

  /** A name for a league key: the built-in one, else the key upper-cased. */
  function leagueName(key) {
    return LEAGUE_NAMES.get(key) ?? String(key).toUpperCase();
  }

  /** Rank for ordering leagues: the built-in order, unknown keys after. */
  function leagueRank(key) {
    const keys = [...LEAGUE_NAMES.keys()];
    const i = keys.indexOf(key);
    return i < 0 ? keys.length : i;
  }

  /** Being played or in a break of play; a delayed game is held up, not live. */
  function isPlaying(g) {
    return PLAYING_STATES.has(g?.state);
  }

  function isFinal(g) {
    return FINAL_STATES.has(g?.state);
  }

  /** The scorestrip's quarter as a label (football from a server without `period_label`). */
  function quarterLabel(q) {
    if (q === '5') return 'OT';
    if (/^[1-4]$/.test(q)) return `Q${q}`;
    return '';
  }

  /** What a fan calls the period now: the server's label, else football's quarter. */
  function periodLabel(g) {
    if (typeof g.period_label === 'string' && g.period_label) return g.period_label;
    return sportOf(g) === 'football' ? quarterLabel(String(g.quarter ?? '')) : '';
  }

  /** Label and clock while play runs: `Q3 \u00b7 04:12`, `2nd half \u00b7 67'`, `Top 7th`. */
  function running(g) {
    return [periodLabel(g), typeof g.clock === 'string' ? g.clock : ''].filter(Boolean).join(DOT);
  }

  function kickoffText(g) {
    if (g.kickoff_tbd) return 'TBD';
    const d = validDate(g.kickoff);
    return d ? kickoffFormat.format(d) : `${g.day ?? ''} ${g.time ?? ''}`.trim();
  }

  /** `Final/OT`, `Final/2OT`, baseball's `Final/11`, soccer's `AET`. */
  function finalOvertime(g, sport) {
    if (sport === 'soccer') return 'AET';
    if (sport === 'baseball') return Number(g.period) > 9 ? `Final/${Number(g.period)}` : 'Final/OT';
    const label = periodLabel(g);
    return /OT$/.test(label) ? `Final/${label}` : 'Final/OT';
  }

  /** The card's status line for any sport and state. */
  function statusText(g) {
    const sport = sportOf(g);
    const label = periodLabel(g);
    switch (g.state) {
      case 'pregame': return kickoffText(g);
      case 'live':
      case 'overtime': return running(g) || 'Live';
      case 'halftime': return sport === 'soccer' ? 'HT' : 'Halftime';
      case 'intermission':
        if (!label) return 'Intermission';
        return sport === 'hockey' ? `${label} Intermission` : `End of ${label}`;
      case 'shootout': return sport === 'soccer' ? 'Penalties' : 'Shootout';
      case 'final': return sport === 'soccer' ? 'FT' : 'Final';
      case 'final_overtime': return finalOvertime(g, sport);
      case 'final_shootout': return sport === 'soccer' ? 'FT (Pens)' : 'Final/SO';
      case 'delayed':
      case 'suspended': {
        // Where play will pick up, once it has begun (period, or the scorestrip's quarter).
        const begun = Number(g.period) > 0 || /^[1-5]$/.test(String(g.quarter ?? ''));
        const where = begun ? running(g) : '';
        return [g.state === 'delayed' ? 'Delayed' : 'Suspended', where].filter(Boolean).join(DOT);
      }
      default:
        // A state this page does not know yet: its name, readable (`innings_break` -> `Innings break`).
        return PLAIN_TEXT[g.state] ?? String(g.state ?? '').replace(/_/g, ' ').replace(/^\p{L}/u, (c) => c.toUpperCase());
    }
  }

  /** `Sun, Dec 15, 2024` for a board's `YYYY-MM-DD` date, as the league's local day. */
  function dateText(date) {
    const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(String(date ?? ''));
    if (!m) return '';
    return dayFormat.format(new Date(Number(m[1]), Number(m[2]) - 1, Number(m[3])));
  }

  // ---- line score -------------------------------------------------------------

  /** The column heading of period `i` (0-based): `3`, `OT`, `2OT`, `ET1`, or an inning. */
  function periodHeading(sport, i, regulation) {
    // Innings count on; a sport without known regulation just numbers its periods.
    if (i < regulation || sport === 'baseball' || regulation === 0) return String(i + 1);
    if (sport === 'soccer') return i - regulation < 2 ? `ET${i - regulation + 1}` : 'ET';
    const n = i - regulation + 1;
    return n === 1 ? 'OT' : `${n}OT`;
  }

  function regulationOf(g, sport) {
    // Men's college basketball, or any league whose labels are halves (`2nd half`; halftime's `Half` is not).
    if (sport === 'basketball' && (HALVES.has(leagueOf(g)) || /^(1st|2nd) half$/i.test(periodLabel(g)))) return 2;
    return REGULATION[sport] ?? 0;
  }

  function scores(team) {
    return Array.isArray(team?.linescore) ? team.linescore.filter((v) => Number.isFinite(v)) : null;
  }

  function hasShootout(g) {
    return Number.isFinite(g.home?.shootout) || Number.isFinite(g.away?.shootout);
  }

  /**
   * The line score as rows of text: the heading row, then away and home
   * (abbreviation, one cell per period, shoot-out, total), or null when
   * the feed gave none. Periods not played yet are blank; the bottom of
   * the last inning the winning home side never batted is `X`.
   */
  function lineScoreRows(g) {
    const sport = sportOf(g);
    const away = scores(g.away);
    const home = scores(g.home);
    if (!away?.length && !home?.length) return null;
    const regulation = regulationOf(g, sport);
    const played = Math.max(away?.length ?? 0, home?.length ?? 0);
    const columns = Math.max(played, regulation);
    const shootout = sport === 'hockey' && hasShootout(g);
    const head = [''];
    for (let i = 0; i < columns; i++) head.push(periodHeading(sport, i, regulation));
    if (shootout) head.push('SO');
    head.push(sport === 'baseball' ? 'R' : 'T');
    const row = (team, cells, side) => {
      const out = [String(team?.abbr ?? '')];
      for (let i = 0; i < columns; i++) {
        let cell = cells && i < cells.length ? String(cells[i]) : '';
        if (!cell && sport === 'baseball' && side === 'home' && isFinal(g) && i === played - 1) cell = 'X';
        out.push(cell);
      }
      if (shootout) out.push(Number.isFinite(team?.shootout) ? String(team.shootout) : '');
      out.push(String(team?.score ?? 0));
      return out;
    };
    return [head, row(g.away, away, 'away'), row(g.home, home, 'home')];
  }

  /** A `<table class="linescore">` of lineScoreRows(g), or null. */
  function lineScoreTable(rows) {
    const table = document.createElement('table');
    table.className = 'linescore';
    const caption = document.createElement('caption');
    caption.className = 'visually-hidden';
    caption.textContent = 'Line score';
    const thead = document.createElement('thead');
    const tbody = document.createElement('tbody');
    rows.forEach((cells, r) => {
      const tr = document.createElement('tr');
      if (r > 0) tr.dataset.lsSide = r === 1 ? 'away' : 'home';
      cells.forEach((text, c) => {
        const cell = document.createElement(r === 0 || c === 0 ? 'th' : 'td');
        if (r === 0) cell.scope = 'col';
        else if (c === 0) cell.scope = 'row';
        if (c === cells.length - 1 && c > 0) cell.className = 'ls-total';
        cell.textContent = text;
        tr.append(cell);
      });
      (r === 0 ? thead : tbody).append(tr);
    });
    table.append(caption, thead, tbody);
    return table;
  }

  /** Draws (or clears) the line score in `box`, rebuilding only when it changed. */
  function drawLineScore(box, g) {
    const rows = lineScoreRows(g);
    const key = rows ? JSON.stringify(rows) : '';
    if (box.dataset.key === key) return;
    box.dataset.key = key;
    box.replaceChildren(...(rows ? [lineScoreTable(rows)] : []));
  }

  // ---- shoot-outs -------------------------------------------------------------

  /**
   * Shoot-out goals to show beside a side's score, `(4)`: soccer's
   * penalties always; hockey's only when no line score holds them.
   */
  function shootoutBeside(g, side) {
    const n = g[side]?.shootout;
    if (!Number.isFinite(n)) return '';
    const sport = sportOf(g);
    if (sport === 'hockey' && lineScoreRows(g)) return '';
    return `(${n})`;
  }

  // ---- baseball: count, outs and bases ------------------------------------------

  /** An SVG diamond of three bases (`.base[data-base]`, `.on` when occupied). */
  function diamond() {
    const svg = document.createElementNS(SVG_NS, 'svg');
    svg.setAttribute('class', 'diamond');
    svg.setAttribute('viewBox', '0 0 44 30');
    svg.setAttribute('aria-hidden', 'true');
    for (const [base, x, y] of [['second', 22, 8], ['third', 10, 20], ['first', 34, 20]]) {
      const r = document.createElementNS(SVG_NS, 'rect');
      r.setAttribute('class', 'base');
      r.setAttribute('data-base', base);
      r.setAttribute('x', '-5');
      r.setAttribute('y', '-5');
      r.setAttribute('width', '10');
      r.setAttribute('height', '10');
      r.setAttribute('transform', `translate(${x} ${y}) rotate(45)`);
      svg.append(r);
    }
    return svg;
  }

  /** `runners on first and third`, `bases empty`, `bases loaded`. */
  function runnersText(s) {
    const on = ['first', 'second', 'third'].filter((b) => s[`on_${b}`] === true);
    if (on.length === 0) return 'bases empty';
    if (on.length === 3) return 'bases loaded';
    return `${on.length === 1 ? 'runner' : 'runners'} on ${on.join(' and ')}`;
  }

  /**
   * Baseball's situation in `box` (a `.bso`): the diamond, balls-strikes
   * and outs, shown while an inning is played; hidden otherwise.
   */
  function drawSituation(box, g) {
    const s = g.situation;
    // Between halves (`Mid 4th`, `End 3rd`) nobody bats: no count to show.
    const between = /^(Mid|End)\b/.test(periodLabel(g));
    const show = sportOf(g) === 'baseball' && s && typeof s === 'object' && isPlaying(g) && !between;
    box.hidden = !show;
    if (!show) return;
    if (!box.querySelector('.diamond')) {
      const count = document.createElement('span');
      count.className = 'count';
      count.title = 'Balls-strikes';
      const outs = document.createElement('span');
      outs.className = 'outs';
      const runners = document.createElement('span');
      runners.className = 'runners visually-hidden';
      box.replaceChildren(diamond(), count, outs, runners);
    }
    for (const base of ['first', 'second', 'third']) {
      box.querySelector(`.base[data-base="${base}"]`).classList.toggle('on', s[`on_${base}`] === true);
    }
    const n = (v) => (Number.isFinite(v) ? v : 0);
    box.querySelector('.count').textContent = `${n(s.balls)}-${n(s.strikes)}`;
    box.querySelector('.outs').textContent = `${n(s.outs)} out${n(s.outs) === 1 ? '' : 's'}`;
    box.querySelector('.runners').textContent = runnersText(s);
  }

  window.livescoreSport = Object.freeze({
    capitalize,
    dateText,
    drawLineScore,
    drawSituation,
    isFinal,
    isPlaying,
    leagueName,
    leagueOf,
    leagueRank,
    lineScoreRows,
    periodLabel,
    shootoutBeside,
    sportOf,
    statusText,
    validDate,
  });
})();
