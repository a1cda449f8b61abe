// Shared helpers of the browser tests (tests/browser/*.test.mjs): where the
// binary and Chromium are, the official finals of 2015 week 1, starting and
// stopping `livescore demo`, and reading the board from the page.
//
// Environment:
//   LIVESCORE_BIN       server binary (default target/release/livescore)
//   CHROMIUM_PATH       browser (default /usr/bin/chromium; Debian: apt-get install chromium)

import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const BIN = path.resolve(ROOT, process.env.LIVESCORE_BIN || 'target/release/livescore');
export const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
export const OUT = path.join(ROOT, 'test-output');
export const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
  '--disable-component-update', '--disable-quic', '--no-first-run', '--disable-sync',
];

/** The official result of every game: eid -> {home, away, overtime}. */
const week = JSON.parse(readFileSync(path.join(ROOT, 'crates/livescore/data/nfl-2015-week1.json'), 'utf8'));
export const OFFICIAL = new Map(
  week.games.map((g) => [g.eid, { home: g.home.final, away: g.away.final, overtime: g.final_quarter === 'FO' }]),
);

/** Chromium, or an error that says how to get it. */
export async function launchBrowser() {
  try {
    return await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, timeout: 60_000 });
  } catch (err) {
    throw new Error(
      `Chromium could not start from ${CHROMIUM} (install it with \`apt-get install -y chromium\` ` +
        `or set CHROMIUM_PATH): ${err.message}`,
    );
  }
}

/**
 * One run of the real binary (`livescore <args…>`), started by `start()`,
 * which resolves with its URL once it prints its listening line. Keeps the
 * last lines of its output for failure messages (`tail()`), shared across
 * restarts of the same Server object.
 */
export class Server {
  constructor({ args, cwd, listenTimeoutMs = 60_000 }) {
    this.args = args;
    this.cwd = cwd;
    this.listenTimeoutMs = listenTimeoutMs;
    this.proc = null;
    this.log = [];
  }

  remember(line) {
    this.log.push(line);
    if (this.log.length > 200) this.log = this.log.slice(-200);
  }

  tail() {
    return this.log.length ? `\n--- server output (last lines) ---\n${this.log.slice(-40).join('\n')}` : '';
  }

  get running() {
    return !!this.proc && this.proc.exitCode === null && this.proc.signalCode === null;
  }

  /** Starts the binary (with `args` instead of the constructor's, if given). */
  start(args = this.args) {
    if (!existsSync(BIN)) {
      throw new Error(`server binary not found at ${BIN}: run \`cargo build --release\` or set LIVESCORE_BIN`);
    }
    this.remember(`--- start: livescore ${args.join(' ')}`);
    const proc = spawn(BIN, args, {
      cwd: this.cwd,
      env: { ...process.env, NO_COLOR: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.proc = proc;
    // Keep draining both pipes for the whole run, so the server never blocks on a full pipe.
    createInterface({ input: proc.stderr }).on('line', (l) => this.remember(l));
    const stdout = createInterface({ input: proc.stdout });
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`no "listening on http(s)://…" line within ${this.listenTimeoutMs / 1000} s${this.tail()}`)),
        this.listenTimeoutMs,
      );
      stdout.on('line', (line) => {
        this.remember(line);
        const m = /listening on (https?:\/\/\S+)/.exec(line);
        if (m) {
          clearTimeout(timer);
          resolve(m[1]);
        }
      });
      proc.once('error', (err) => {
        clearTimeout(timer);
        reject(new Error(`cannot start ${BIN}: ${err.message}`));
      });
      proc.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`server exited early (code ${code}, signal ${signal})${this.tail()}`));
      });
    });
  }

  /** Sends `signal` and waits for the process to end (SIGKILL after 10 s). */
  async stop(signal = 'SIGTERM') {
    const proc = this.proc;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = new Promise((resolve) => proc.once('exit', resolve));
    proc.kill(signal);
    const timer = setTimeout(() => proc.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  }
}

/** Every card's scores, read from the page: eid -> {state, status, home, away, …}. */
export function readBoard(page) {
  return page.evaluate(() =>
    Object.fromEntries(
      [...document.querySelectorAll('.game')].map((card) => [
        card.dataset.eid,
        {
          state: card.dataset.state,
          status: card.querySelector('.status-text')?.textContent ?? '',
          home: Number(card.querySelector('[data-side="home"] .score')?.textContent),
          away: Number(card.querySelector('[data-side="away"] .score')?.textContent),
          homeLoser: card.querySelector('[data-side="home"]')?.classList.contains('loser') ?? false,
          awayLoser: card.querySelector('[data-side="away"]')?.classList.contains('loser') ?? false,
        },
      ]),
    ),
  );
}

/** Differences between the board and the official finals, as readable lines (empty: all right). */
export function wrongFinals(board) {
  const wrong = [];
  for (const [eid, want] of OFFICIAL) {
    const got = board[eid];
    const wantState = want.overtime ? 'final_overtime' : 'final';
    const wantStatus = want.overtime ? 'Final/OT' : 'Final';
    if (!got || got.home !== want.home || got.away !== want.away || got.state !== wantState || got.status !== wantStatus) {
      wrong.push(`${eid}: page ${JSON.stringify(got)}, official ${want.away}-${want.home} ${wantState}`);
      continue;
    }
    if (got.homeLoser !== want.home < want.away || got.awayLoser !== want.away < want.home) {
      wrong.push(`${eid}: losing team not dimmed as expected: ${JSON.stringify(got)}`);
    }
  }
  return wrong;
}

/** In-page test: every one of the 16 cards is final (or final in overtime). */
export function allFinal() {
  const cards = [...document.querySelectorAll('.game')];
  return cards.length === 16 && cards.every((c) => c.dataset.state === 'final' || c.dataset.state === 'final_overtime');
}

/**
 * page.waitForFunction with a message that says what was awaited, what the
 * page showed and (via `context()`) anything else useful, e.g. server output.
 */
export async function waitFor(page, what, fn, arg, timeout, context = () => '') {
  try {
    await page.waitForFunction(fn, arg, { timeout, polling: 250 });
  } catch (err) {
    const snapshot = await page
      .evaluate(() => ({
        conn: document.getElementById('conn')?.dataset.state,
        notice: document.getElementById('notice')?.textContent,
        cards: document.querySelectorAll('.game').length,
        states: [...document.querySelectorAll('.game')].map((c) => `${c.dataset.eid}:${c.dataset.state}`).join(' '),
      }))
      .catch(() => ({}));
    throw new Error(
      `timed out after ${timeout / 1000} s waiting until ${what}: ${err.message.split('\n')[0]}\n` +
        `page: ${JSON.stringify(snapshot)}${context()}`,
    );
  }
}

/**
 * Reads an SSE stream from `url` (WHATWG line rules, enough for tests):
 * returns its events [{id, event, data}] once `stop(event)` says so or the
 * stream has been silent for `idleMs`.
 */
export async function readSse(url, { headers = {}, stop = () => false, idleMs = 3_000 } = {}) {
  const ctl = new AbortController();
  const res = await fetch(url, { headers: { Accept: 'text/event-stream', ...headers }, signal: ctl.signal });
  if (!res.ok) throw new Error(`GET ${url}: HTTP ${res.status}`);
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  const events = [];
  let buf = '';
  let ev = { id: null, event: 'message', data: [] };
  let lastId = null;
  try {
    for (;;) {
      let timer;
      const idle = new Promise((resolve) => { timer = setTimeout(() => resolve({ idle: true }), idleMs); });
      const chunk = await Promise.race([reader.read(), idle]);
      clearTimeout(timer);
      if (chunk.idle || chunk.done) return events;
      buf += decoder.decode(chunk.value, { stream: true });
      const lines = buf.split(/\r\n|\r|\n/);
      buf = lines.pop();
      for (const line of lines) {
        if (line === '') {
          if (ev.data.length) {
            const done = { id: lastId, event: ev.event, data: ev.data.join('\n') };
            events.push(done);
            if (stop(done)) return events;
          }
          ev = { id: null, event: 'message', data: [] };
          continue;
        }
        if (line.startsWith(':')) continue;
        const i = line.indexOf(':');
        const field = i < 0 ? line : line.slice(0, i);
        const value = i < 0 ? '' : line.slice(i + 1).replace(/^ /, '');
        if (field === 'id') lastId = value;
        else if (field === 'event') ev.event = value;
        else if (field === 'data') ev.data.push(value);
      }
    }
  } finally {
    ctl.abort();
  }
}
