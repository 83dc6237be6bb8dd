// Live maps in headless Chromium against a live `chizu serve`: an incident that staff put
// on the map through the editing API (OGC API – Features Part 4) appears on the open public
// map without a reload once it is published, and leaves it when unpublished; the staff map
// shows it before publication.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ROOT, BIN, ART, startServer, launchBrowser, openPage, mapReady } from './support.mjs';

let server;
let publicUrl;
let internalUrl;
let key;
let browser;
let tmp;

before(async () => {
  fs.mkdirSync(ART, { recursive: true });
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'chizu-live-'));
  const keys = path.join(tmp, 'keys.toml');
  key = execFileSync(BIN, ['keys', 'add', 'kiki-test', '--role', 'kiki-kanri', '--keys', keys], { encoding: 'utf8' }).trim();
  ({ server, publicUrl, internalUrl } = await startServer(ROOT, ['--keys', keys, '--state', path.join(tmp, 'state')]));
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  server?.kill();
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

const api = (method, p, body, ifMatch) => fetch(`${internalUrl}${p}`, {
  method,
  headers: { Authorization: `Bearer ${key}`, 'Content-Type': 'application/geo+json', ...(ifMatch ? { 'If-Match': ifMatch } : {}) },
  body: body && JSON.stringify(body),
});

/** Notes of the live layer's features drawn on the page's map. */
const drawnNotes = (page) => page.evaluate(() => {
  const map = window.chizuMap;
  const ids = map.getStyle().layers.filter((l) => l['source-layer'] === 'saigai_houkoku').map((l) => l.id);
  return map.queryRenderedFeatures(undefined, { layers: ids }).map((f) => f.properties.note);
});

async function waitFor(page, what, want) {
  const started = Date.now();
  for (;;) {
    const got = await drawnNotes(page);
    if (want(got)) return Date.now() - started;
    assert.ok(Date.now() - started < 10000, `${what}: map shows ${JSON.stringify(got)}`);
    await page.waitForTimeout(50);
  }
}

test('a published incident appears on the open public map without a reload, and leaves when unpublished', async () => {
  const { page, errors } = await openPage(browser, `${publicUrl}/#15/34.866/138.318`, { width: 1280, height: 800 });
  await mapReady(page);
  assert.deepEqual(await drawnNotes(page), []);

  const created = await api('POST', '/collections/saigai_houkoku/items', {
    type: 'Feature', geometry: { type: 'Point', coordinates: [138.318, 34.866] },
    properties: { kind: '冠水', note: '駅南 道路冠水 30cm', staff_memo: '内線 2200' },
  });
  assert.equal(created.status, 201);
  const id = (await created.json()).id;
  // Unpublished: the public map must not show it.
  await page.waitForTimeout(800);
  assert.deepEqual(await drawnNotes(page), []);

  const t0 = Date.now();
  const pub = await api('PATCH', `/collections/saigai_houkoku/items/${id}`, { type: 'Feature', properties: { public: true } }, '"1"');
  assert.equal(pub.status, 200);
  await waitFor(page, 'published', (n) => n.includes('駅南 道路冠水 30cm'));
  const shownMs = Date.now() - t0;
  await page.screenshot({ path: path.join(ART, 'live-public-1280.png') });
  console.log(`published → drawn on the public map: ${shownMs} ms`);

  const unpub = await api('PATCH', `/collections/saigai_houkoku/items/${id}`, { type: 'Feature', properties: { public: false } }, '"2"');
  assert.equal(unpub.status, 200);
  await waitFor(page, 'unpublished', (n) => n.length === 0);
  assert.deepEqual(errors, []);
  await page.close();
});
