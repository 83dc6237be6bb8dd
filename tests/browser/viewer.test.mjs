// End-to-end tests of the map viewer in headless Chromium (Debian's), driven by
// playwright-core, against a live `chizu serve` on 127.0.0.1. Screenshots go to
// tests/artifacts/. Run: node --test tests/browser/*.test.mjs (scripts/test.sh does).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { PNG } from 'pngjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const BIN = process.env.CHIZU_BIN ?? path.join(ROOT, 'target/debug/chizu');
const ART = path.join(ROOT, 'tests/artifacts');
const AXE = path.join(ROOT, 'node_modules/axe-core/axe.min.js');
// A point well inside the 方ノ上谷川 土石流 warning zone (箇所番号 212-Ⅰ-003).
const LANDSLIDE = [138.303654, 34.894408];
// A point in the 葉梨川 flood area (checked against /hazard in the test).
const FLOOD = [138.2806, 34.8775];

let server;
let publicUrl;
let internalUrl;
let staffKey;
let browser;
let tmp;

before(async () => {
  fs.mkdirSync(ART, { recursive: true });
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'chizu-browser-'));
  const keys = path.join(tmp, 'keys.toml');
  staffKey = execFileSync(BIN, ['keys', 'add', 'doro-test', '--role', 'doro-kanri', '--keys', keys], { encoding: 'utf8' }).trim();
  server = spawn(BIN, ['serve', '--root', ROOT, '--public', '127.0.0.1:0', '--internal', '127.0.0.1:0', '--keys', keys, '--audit-log', path.join(tmp, 'audit.log')], { stdio: ['ignore', 'ignore', 'pipe'] });
  const lines = readline.createInterface({ input: server.stderr });
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('chizu serve did not start')), 60000);
    lines.on('line', (l) => {
      const m = l.match(/on (http:\/\/127\.0\.0\.1:\d+)/);
      if (m && l.includes('public view')) publicUrl = m[1];
      if (m && l.includes('internal view')) internalUrl = m[1];
      if (publicUrl && internalUrl) { clearTimeout(timer); resolve(); }
    });
  });
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--use-gl=angle', '--use-angle=swiftshader', '--enable-unsafe-swiftshader'],
  });
});

after(async () => {
  await browser?.close();
  server?.kill();
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

/** A phone-sized page that records console errors and requests to other hosts. */
async function openPage(url, viewport = { width: 360, height: 640 }) {
  const page = await browser.newPage({ viewport, locale: 'ja-JP' });
  const errors = [];
  const foreign = [];
  const host = new URL(url).host;
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('request', (r) => {
    const u = r.url();
    if (!u.startsWith('data:') && !u.startsWith('blob:') && new URL(u).host !== host) foreign.push(u);
  });
  await page.goto(url);
  return { page, errors, foreign };
}

async function mapReady(page) {
  await page.waitForFunction(() => document.body.dataset.ready === 'true', null, { timeout: 60000 });
  await page.waitForFunction(() => window.chizuMap.loaded() && window.chizuMap.areTilesLoaded(), null, { timeout: 60000 });
  await page.waitForTimeout(500);
}

/** Taps the map at a lon/lat. */
async function tap(page, [lon, lat]) {
  const p = await page.evaluate(([x, y]) => window.chizuMap.project([x, y]), [lon, lat]);
  const box = await page.locator('#map').boundingBox();
  await page.mouse.click(box.x + p.x, box.y + p.y);
}

async function axe(page, name) {
  await page.addScriptTag({ path: AXE });
  const r = await page.evaluate(async () => window.axe.run(document, { resultTypes: ['violations'] }));
  const bad = r.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  assert.deepEqual(bad.map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(' ')).join('; ')})`), [], `${name}: axe found serious or critical violations`);
}

test('public page renders the flood layer with no errors and no outside requests', async () => {
  const check = await (await fetch(`${publicUrl}/hazard?lon=${FLOOD[0]}&lat=${FLOOD[1]}`)).json();
  assert.ok(check.hazards.some((h) => h.layer === 'kouzui_shinsui'), 'the test point is in the flood layer');
  const { page, errors, foreign } = await openPage(`${publicUrl}/#15/${FLOOD[1]}/${FLOOD[0]}`);
  await mapReady(page);
  const png = PNG.sync.read(await page.locator('#map').screenshot({ path: path.join(ART, 'public-flood.png') }));
  const colours = new Set();
  for (let i = 0; i < png.data.length; i += 4 * 97) colours.add(`${png.data[i]},${png.data[i + 1]},${png.data[i + 2]}`);
  assert.ok(colours.size > 20, `the map canvas is not blank (${colours.size} colours)`);
  // The pixel at the flood point is the flood colour: warm (pale yellow → pink), not the background.
  const p = await page.evaluate(([x, y]) => window.chizuMap.project([x, y]), FLOOD);
  const i = (Math.round(p.y) * png.width + Math.round(p.x)) * 4;
  const [r, g, b] = [png.data[i], png.data[i + 1], png.data[i + 2]];
  assert.ok(r > 200 && r > b + 25 && `${r},${g},${b}` !== '244,241,234', `flood colour at the point, got rgb(${r},${g},${b})`);
  const rendered = await page.evaluate(([x, y]) => window.chizuMap.queryRenderedFeatures(window.chizuMap.project([x, y]), { layers: ['kouzui-shinsui-fill'] }).length, FLOOD);
  assert.ok(rendered > 0, 'MapLibre reports the flood polygon under the point');
  assert.deepEqual(errors, [], 'no console errors');
  assert.deepEqual(foreign, [], 'no requests to other hosts');
  await page.close();
});

test('tapping a landslide zone shows its report, and the language switch works', async () => {
  const { page, errors, foreign } = await openPage(`${publicUrl}/#16/${LANDSLIDE[1]}/${LANDSLIDE[0]}`);
  await mapReady(page);
  await tap(page, LANDSLIDE);
  const report = page.locator('#report');
  await report.getByText('土砂災害警戒区域').first().waitFor({ timeout: 20000 });
  const text = await report.innerText();
  assert.match(text, /土石流/);
  assert.match(text, /212-Ⅰ-003/);
  assert.match(text, /近くの避難先/);
  assert.equal(await report.getAttribute('aria-live'), 'polite');
  await page.screenshot({ path: path.join(ART, 'public-landslide-report.png'), fullPage: true });

  await page.click('#lang');
  await page.locator('h1').getByText('Yaizu City hazard map').waitFor();
  assert.equal(await page.evaluate(() => document.documentElement.lang), 'en');
  await report.getByText('Landslide warning zone').first().waitFor({ timeout: 20000 });
  assert.match(await page.locator('#search button[type=submit]').innerText(), /Search/);
  await page.screenshot({ path: path.join(ART, 'public-english.png'), fullPage: true });
  await page.click('#lang');
  await page.locator('h1').getByText('焼津市 ハザードマップ').waitFor();
  assert.match(page.url(), /#16(\.\d+)?\/34\.89/, 'the view is kept in the URL hash (permalink)');
  assert.deepEqual(errors, []);
  assert.deepEqual(foreign, []);
  await axe(page, 'public page with a report');
  await page.close();
});

test('searching a town flies there and reports', async () => {
  const { page, errors } = await openPage(`${publicUrl}/#12/34.86/138.30`);
  await mapReady(page);
  await page.fill('#q', '方ノ上');
  await page.press('#q', 'Enter');
  const first = page.locator('#results button').first();
  await first.waitFor();
  assert.match(await first.innerText(), /方ノ上/);
  await first.click();
  await page.locator('#report').getByText('この地点のハザード情報').waitFor({ timeout: 20000 });
  await page.waitForFunction(() => window.chizuMap.getZoom() >= 14 && !window.chizuMap.isMoving(), null, { timeout: 20000 });
  const embed = await page.locator('#embed-code').inputValue();
  assert.match(embed, /<iframe src="http:\/\/127\.0\.0\.1:\d+\/#/);
  assert.deepEqual(errors, []);
  await page.close();
});

test('staff page asks for a key, refuses a wrong one, and shows internal layers with one', async () => {
  const { page, errors, foreign } = await openPage(`${internalUrl}/`, { width: 1280, height: 800 });
  await page.locator('#login').waitFor();
  assert.equal(await page.locator('#staff').isHidden(), true, 'no map before a key');
  await axe(page, 'staff login');
  await page.fill('#key', 'chizu_wrong');
  await page.click('#login button');
  await page.locator('#login-error').getByText('キーが正しくない').waitFor();
  await page.fill('#key', staffKey);
  await page.click('#login button');
  await mapReady(page);
  const tree = await page.locator('#toggles').innerText();
  assert.match(tree, /交差点台帳/);
  assert.match(tree, /区画線台帳/);
  assert.doesNotMatch(tree, /浸水履歴/, 'doro-kanri does not see flood history');
  await page.evaluate(() => window.chizuMap.jumpTo({ center: [138.3181, 34.8659], zoom: 16 }));
  await mapReady(page);
  // Identify a road-ledger intersection: its attributes appear in a popup.
  const hit = await page.evaluate(() => {
    const m = window.chizuMap;
    const c = m.getCanvas();
    for (const f of m.queryRenderedFeatures({ layers: ['kousaten-fill'] })) {
      const ring = f.geometry.type === 'Polygon' ? f.geometry.coordinates[0] : f.geometry.coordinates[0][0];
      const lon = ring.reduce((a, p) => a + p[0], 0) / ring.length;
      const lat = ring.reduce((a, p) => a + p[1], 0) / ring.length;
      const pt = m.project([lon, lat]);
      const inside = pt.x > 20 && pt.y > 20 && pt.x < c.clientWidth - 20 && pt.y < c.clientHeight - 20;
      if (inside && m.queryRenderedFeatures(pt, { layers: ['kousaten-fill'] }).length) return [pt.x, pt.y];
    }
    return null;
  });
  assert.ok(hit, 'an intersection is on screen');
  const box = await page.locator('#map').boundingBox();
  await page.mouse.click(box.x + hit[0], box.y + hit[1]);
  const pop = page.locator('.maplibregl-popup');
  await pop.getByText('交差点台帳').first().waitFor({ timeout: 20000 });
  assert.match(await pop.innerText(), /管理番号/);
  await page.screenshot({ path: path.join(ART, 'staff-map.png') });
  await axe(page, 'staff map');
  assert.deepEqual(errors.filter((e) => !e.includes('401')), [], 'no console errors besides the refused key');
  assert.deepEqual(foreign, []);
  await page.close();
});

test('public style never names internal layers', async () => {
  const style = await (await fetch(`${publicUrl}/styles/public.json`)).json();
  const text = JSON.stringify(style);
  for (const id of ['kousaten', 'kukakusen', 'shinsui_rireki']) assert.ok(!text.includes(id), id);
  assert.match(style.sources.chizu.url, new RegExp(`^${publicUrl}/tiles/`));
  assert.equal((await fetch(`${publicUrl}/styles/internal.json`)).status, 404);
});
