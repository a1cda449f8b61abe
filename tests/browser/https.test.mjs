// The page over HTTPS and HTTP/2, in headless Chromium.
//
// Serves `livescore serve --tls-cert --tls-key` with a self-signed
// certificate made here (openssl), opens the page (certificate errors
// ignored: the certificate is not from a CA the browser knows), checks the
// page came over HTTP/2, then opens 8 EventSource streams at once: more
// than the 6 connections per origin HTTP/1.1 allows, so over HTTP/1.1 the
// last two (and the publish after them) would wait for ever. Publishes an
// event on each stream's topic and waits for every stream to get its own.
//
//   cargo build --release && npm ci && node --test tests/browser/https.test.mjs

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Server, launchBrowser, waitFor as waitOn } from './lib.mjs';

const TOKEN = 'https-browser-test-token-0123456789';
const STREAMS = 8;
// Bounds that only guard against hangs; none is a timing assertion.
const TIMEOUT_MS = 30_000;

let server;
let workDir;
let baseUrl;
let browser;
let page;

function waitFor(what, fn, arg) {
  return waitOn(page, what, fn, arg, TIMEOUT_MS, () => server?.tail() ?? '');
}

before(async () => {
  browser = await launchBrowser();
  workDir = mkdtempSync(path.join(tmpdir(), 'livescore-https-'));
  const cert = path.join(workDir, 'cert.pem');
  const key = path.join(workDir, 'key.pem');
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=127.0.0.1',
    '-addext', 'subjectAltName=IP:127.0.0.1',
  ], { stdio: 'ignore' });
  server = new Server({
    args: [
      'serve', '--addr', '127.0.0.1:0', '--database-url', 'sqlite::memory:',
      '--publish-token', TOKEN, '--tls-cert', cert, '--tls-key', key,
    ],
    cwd: workDir,
  });
  baseUrl = await server.start();
  const context = await browser.newContext({ ignoreHTTPSErrors: true });
  page = await context.newPage();
});

after(async () => {
  await browser?.close().catch(() => {});
  await server?.stop();
  if (workDir) rmSync(workDir, { recursive: true, force: true });
});

test('the page over HTTP/2 keeps 8 event streams open at once and every one updates', async () => {
  assert.match(baseUrl, /^https:\/\//);
  await page.goto(`${baseUrl}/`);
  const protocol = await page.evaluate(() => performance.getEntriesByType('navigation')[0].nextHopProtocol);
  assert.equal(protocol, 'h2', 'the page came over HTTP/2');

  // The streams, each on a topic of its own; what each receives is kept.
  await page.evaluate((n) => {
    window.got = Array.from({ length: n }, () => []);
    window.opened = Array(n).fill(false);
    window.streams = Array.from({ length: n }, (_, i) => {
      const es = new EventSource(`/api/stream?topic=h2test/${i}`);
      es.onopen = () => { window.opened[i] = true; };
      es.addEventListener('flash', (ev) => window.got[i].push({ id: ev.lastEventId, data: JSON.parse(ev.data) }));
      return es;
    });
  }, STREAMS);
  await waitFor(`all ${STREAMS} streams are open`, () => window.opened.every(Boolean));

  // Published from the page, on the same HTTP/2 connection as the streams.
  const ids = await page.evaluate(async ({ n, token }) => {
    const ids = [];
    for (let i = 0; i < n; i++) {
      const res = await fetch('/api/publish', {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
        body: JSON.stringify({ topic: `h2test/${i}`, event: 'flash', data: { stream: i } }),
      });
      if (res.status !== 202) throw new Error(`publish ${i}: ${res.status} ${await res.text()}`);
      ids.push((await res.json()).id);
    }
    return ids;
  }, { n: STREAMS, token: TOKEN });

  await waitFor(`every stream got its event`, (n) => window.got.every((g) => g.length > 0) && window.got.length === n, STREAMS);
  const got = await page.evaluate(() => window.got);
  for (let i = 0; i < STREAMS; i++) {
    assert.deepEqual(got[i], [{ id: ids[i], data: { stream: i } }], `stream ${i}`);
  }
  // The streams' own requests went over HTTP/2 too (the connection the
  // page is on), all still open.
  const states = await page.evaluate(() => window.streams.map((es) => es.readyState));
  assert.deepEqual(states, Array(STREAMS).fill(1));
});
